using System.Management.Automation;
using NShield.HsmAdmin.Simulation;

namespace NShield.HsmAdmin.Simulation.Commands
{
    /// <summary>On Import-Module: the engine learns the simulator's in-process transport (it never references the simulator).</summary>
    public sealed class SimulatorModuleInitializer : IModuleAssemblyInitializer
    {
        public void OnImport() => InProcessModuleTransport.Register();
    }
}
