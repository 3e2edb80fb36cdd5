using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Update-HsmServerKeyPin: the explicit re-pin of an enrolled module's server keys. Shows old and new fingerprints per
    /// service, asks twice, No by default (the engine's questions; -Confirm:$false answers both), re-pins and audits.
    /// Never implied by Invoke-HsmEnroll, -Force or -AcceptFingerprint.
    /// </summary>
    [Cmdlet(VerbsData.Update, "HsmServerKeyPin", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmServerKeyPinChange))]
    public sealed class UpdateHsmServerKeyPinCommand : HsmModuleCmdlet, IChangesHost
    {
        private readonly List<string> _esns = new List<string>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[]? Esn { get; set; }

        /// <summary>Re-pin only these services (default: every service whose key changed).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>The passphrase of this host's sshadmin client key, if its protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessRecord()
        {
            ValidateBoundEsns();
            if (Esn != null) _esns.AddRange(ParseEsns(Esn));
        }

        protected override void EndProcessing()
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).Distinct().ToList() ?? new List<string>();
            var store = Engine(() => Store.HostStore.OpenExisting(ResolvedHostPath));
            var keys = new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, keys)))
            {
                KeyPassphrases.Verify(this, host, keys);
                var selected = SelectModules(Engine(() => host.Attached()), _esns);
                var operation = new RepinOperation(host);
                RunOperation((reporter, ct) => operation.RepinAllAsync(selected, services, reporter, ct));
            }
        }
    }
}
