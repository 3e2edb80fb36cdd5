using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmModule: the vendor's `hsmadmin status`.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmModule")]
    [OutputType(typeof(HsmModuleInfo))]
    public sealed class GetHsmModuleCommand : HsmParallelCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [SupportsWildcards]
        [EsnParameter(Wildcards = true)]
        public string[]? Esn { get; set; }

        /// <summary>Answer from the host's records only, without asking the modules (mode shows Unknown).</summary>
        [Parameter]
        public SwitchParameter Offline { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessRecord() => ValidateBoundEsns();

        protected override void EndProcessing()
        {
            var store = Engine(() => HostStore.OpenExisting(ResolvedHostPath));
            WarnIfNoModules(store, Esn, "show");
            var services = Offline ? new string[0] : new[] { ModuleServices.SshAdmin };
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var inspection = new ModuleInspection(host);
                var known = Engine(() => inspection.Known());
                if (Esn != null)
                {
                    var patterns = Esn.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray();
                    foreach (var literal in Esn.Where(e => !WildcardPattern.ContainsWildcardCharacters(e) && !known.Any(k => string.Equals(k.Esn, e, StringComparison.OrdinalIgnoreCase))))
                        Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                            $"Module {literal} is neither registered with this host nor on its list.", literal));
                    known = known.Where(k => patterns.Any(p => p.IsMatch(k.Esn))).ToList();
                }
                var live = !Offline;
                foreach (var info in RunOperation((reporter, ct) => inspection.StatusAllAsync(known, live, ThrottleLimit, reporter, ct)))
                    WriteObject(info);
            }
        }
    }
}
