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
    public sealed class GetHsmModuleCommand : HsmCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [SupportsWildcards]
        public string[]? Esn { get; set; }

        /// <summary>Answer from the host's records only, without asking the modules (mode shows Unknown).</summary>
        [Parameter]
        public SwitchParameter Offline { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void EndProcessing()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
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
                // Results come back in completion order; sort so the table reads the same every time.
                var results = new List<HsmModuleInfo>();
                var fleet = new FleetRunner(this);
                fleet.Run(known, k => k.Esn, async (k, ct) =>
                {
                    HsmModuleInfo info;
                    try { info = await inspection.StatusAsync(k.Esn, k.Address, k.Record, !Offline, ct).ConfigureAwait(false); }
                    catch (HsmException ex)
                    {
                        // The module stays in the list (mode Unknown) beside its error, so a table never hides it.
                        fleet.WriteError(ex);
                        info = await inspection.StatusAsync(k.Esn, k.Address, k.Record, live: false, ct).ConfigureAwait(false);
                    }
                    lock (results) results.Add(info);
                }, ThrottleLimit, "Reading module status", Cancellation);
                foreach (var info in results.OrderBy(r => r.Esn)) WriteObject(info);
            }
        }
    }
}
