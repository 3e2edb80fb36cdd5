using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Test-HsmAuditLog: checks every line of the host's audit log and its hash chain (reads only).</summary>
    [Cmdlet(VerbsDiagnostic.Test, "HsmAuditLog")]
    [OutputType(typeof(HsmAuditLogTestResult))]
    public sealed class TestHsmAuditLogCommand : HsmCmdlet
    {
        protected override void ProcessRecord() => Run(new TestAuditLogOperation(), new HostRequest());
    }
}
