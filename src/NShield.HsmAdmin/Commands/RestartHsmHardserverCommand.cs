using System.Management.Automation;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restart-HsmHardserver: restarts the hardserver so it loads the current ncoreapi client key.</summary>
    [Cmdlet(VerbsLifecycle.Restart, "HsmHardserver", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmHardserverInfo))]
    public sealed class RestartHsmHardserverCommand : HsmCmdlet, IChangesHost
    {
        protected override void EndProcessing()
        {
            using (var host = Engine(() => HsmHost.Open(ResolvedHostPath)))
            {
                if (!ShouldProcess(host.Hardserver.Description, "Restart the hardserver")) return;
                WriteObject(Engine(() => HardserverStatus.Restart(host)));
            }
        }
    }
}
