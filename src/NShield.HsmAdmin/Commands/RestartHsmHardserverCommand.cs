using System.Management.Automation;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restart-HsmHardserver: restarts the hardserver so it loads the current ncoreapi client key.</summary>
    [Cmdlet(VerbsLifecycle.Restart, "HsmHardserver", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmHardserverInfo))]
    public sealed class RestartHsmHardserverCommand : HsmCmdlet
    {
        protected override void EndProcessing()
        {
            using (var host = Engine(() => HsmHost.Open(ResolvedHostPath)))
            {
                var hardserver = Hardserver.For(host);
                if (!ShouldProcess(hardserver.Description, "Restart the hardserver")) return;
                Engine(() => hardserver.Restart(host.Store));
                host.Store.AppendAudit(new Store.AuditEntry { Operation = "hardserver.restart", Result = "Success", Detail = hardserver.Description });
                WriteObject(new HsmHardserverInfo
                {
                    Description = hardserver.Description, LoadedNcoreapiFingerprint = hardserver.LoadedNcoreapiFingerprint ?? "",
                    KeyCurrent = hardserver.IsKeyCurrent(host.Store), HostPath = host.Path,
                });
            }
        }
    }
}
