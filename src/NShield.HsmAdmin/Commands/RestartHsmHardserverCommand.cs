using System.Management.Automation;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restart-HsmHardserver: restarts the hardserver so it loads the current ncoreapi client key.</summary>
    [Cmdlet(VerbsLifecycle.Restart, "HsmHardserver", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmHardserverInfo))]
    public sealed class RestartHsmHardserverCommand : HsmCmdlet, IChangesHost
    {
        protected override void EndProcessing() => Run(new RestartHardserverOperation(), new HostRequest());
    }
}
