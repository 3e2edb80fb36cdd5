using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Export-HsmTrustReport: attestation of trust. Checks each module's server keys against the pins, their certificates and
    /// the vendor chain, and writes a JSON report signed (SSHSIG) with the host's sshadmin key; ssh-keygen -Y verify checks it.
    /// </summary>
    [Cmdlet(VerbsData.Export, "HsmTrustReport", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(HsmTrustReport))]
    public sealed class ExportHsmTrustReportCommand : HsmFleetCmdlet
    {
        /// <summary>The report file (JSON); the signature is written beside it as &lt;Path&gt;.sig.</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>Overwrite an existing report and signature.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "report on");
            // Every service is opened with the host's own key for it: all six keys' passphrases.
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All)))
            {
                KeyPassphrases.Verify(this, host, ModuleServices.All);
                var request = new TrustReportRequest
                {
                    Path = ResolvePath(Path), Force = Force, ThrottleLimit = ThrottleLimit,
                    Modules = SelectModules(Engine(() => host.Attached()), esns),
                };
                var report = RunOperation((reporter, ct) => new TrustReportOperation(host).ExportAsync(request, reporter, ct));
                if (report != null) WriteObject(report);
            }
        }
    }
}
