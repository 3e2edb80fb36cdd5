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

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        private readonly List<(string? HostPath, List<string>? Esns)> _byHost = new List<(string?, List<string>?)>();

        /// <summary>Groups the input by host (piped modules bring their own HostPath); no -Esn for a host means all of its modules.</summary>
        protected override void ProcessRecord()
        {
            ValidateBoundEsns();
            var hostPath = ResolvedHostPath;
            var index = _byHost.FindIndex(h => string.Equals(h.HostPath, hostPath, StringComparison.Ordinal));
            if (index < 0)
            {
                _byHost.Add((hostPath, new List<string>()));
                index = _byHost.Count - 1;
            }
            if (Esn == null) _byHost[index] = (hostPath, null);
            else _byHost[index].Esns?.AddRange(Esn);
        }

        protected override void EndProcessing()
        {
            if (_byHost.Count == 0) _byHost.Add((ResolvedHostPath, null));
            foreach (var (hostPath, esns) in _byHost)
            {
                CurrentHostPath = hostPath;
                ProcessHost(hostPath, esns?.Distinct(StringComparer.OrdinalIgnoreCase).ToArray());
            }
        }

        private void ProcessHost(string? hostPath, string[]? esns)
        {
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "show");
            var services = Offline ? new string[0] : new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var inspection = new ModuleInspection(host);
                var known = Engine(() => inspection.Known());
                if (esns != null)
                {
                    var patterns = esns.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray();
                    foreach (var literal in esns.Where(e => !WildcardPattern.ContainsWildcardCharacters(e)
                        && !known.Any(k => string.Equals(k.Esn, e, StringComparison.OrdinalIgnoreCase))))
                        Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                            $"Module {literal} is neither registered with the host store {store.Root} nor on its list (another host: -HostPath).",
                            literal));
                    known = known.Where(k => patterns.Any(p => p.IsMatch(k.Esn))).ToList();
                }
                var live = !Offline;
                var results = RunOperation((reporter, ct) => inspection.StatusAllAsync(known, live, ThrottleLimit, reporter, ct));
                var open = OpenOperations.Show(this, store, results.Select(r => r.Esn));
                foreach (var info in results)
                {
                    if (open != null && open.PendingModules.Contains(info.Esn, StringComparer.OrdinalIgnoreCase)) info.OpenOperation = open.Summary;
                    WriteObject(info);
                }
            }
        }
    }
}
