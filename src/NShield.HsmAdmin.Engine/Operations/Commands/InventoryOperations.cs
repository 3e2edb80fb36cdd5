using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Get-HsmModule: ESNs or ESN patterns (null: every module the host knows), and whether to ask the modules.</summary>
    public sealed class GetModuleRequest : ModulesRequest
    {
        /// <summary>ESNs and patterns (* ? [ ]) as typed; null for every module.</summary>
        public IReadOnlyList<string>? Patterns { get; set; }
        /// <summary>Answer from the host's records only (mode shows Unknown).</summary>
        public bool Offline { get; set; }
    }

    /// <summary>Get-HsmModule (the vendor's hsmadmin status): each module the host knows, asked live unless offline.</summary>
    public sealed class GetModuleOperation : IHsmOperation<GetModuleRequest>
    {
        public async Task RunAsync(GetModuleRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var patterns = EsnPatterns.Canonical(request.Patterns);
            var store = HostStore.OpenExisting(request.HostPath);
            HostModules.WarnIfNoModules(store, patterns ?? Array.Empty<string>(), "show", reporter);
            var services = request.Offline ? Array.Empty<string>() : new[] { ModuleServices.SshAdmin };
            using (var host = request.OpenHost(store, KeyPassphrases.Resolve(store, request.KeyPassphrase, services, reporter)))
            {
                KeyPassphrases.Verify(host, services);
                var inspection = new ModuleInspection(host);
                var known = inspection.Known();
                if (patterns != null)
                {
                    foreach (var literal in EsnPatterns.Unmatched(patterns, known.Select(k => k.Esn)))
                        reporter.Error(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                            $"Module {literal} is neither registered with the host store {store.Root} nor on its list (another host: -HostPath).",
                            literal));
                    var matches = EsnPatterns.Matcher(patterns);
                    known = known.Where(k => matches(k.Esn)).ToList();
                }
                var results = await inspection.StatusAllAsync(known, !request.Offline, request.ThrottleLimit, reporter, cancellationToken)
                    .ConfigureAwait(false);
                var open = OpenOperations.Warn(store, reporter);
                foreach (var info in results)
                {
                    if (open != null && open.PendingModules.Contains(info.Esn, StringComparer.Ordinal)) info.OpenOperation = open.Summary;
                    reporter.Result(info);
                }
            }
        }
    }

    /// <summary>Get-HsmSshKey: which keys (services, roles, modules), and whether to ask the modules which they hold.</summary>
    public sealed class GetSshKeyRequest : ModulesRequest
    {
        /// <summary>ESNs and patterns as typed; null for every module (and the host's client keys).</summary>
        public IReadOnlyList<string>? Patterns { get; set; }
        /// <summary>Services (empty: all six).</summary>
        public IReadOnlyList<string> Services { get; set; } = Array.Empty<string>();
        /// <summary>Only these roles (null: both).</summary>
        public IReadOnlyList<HsmKeyRole>? Roles { get; set; }
        /// <summary>Ask each module which client keys it holds and compare them with the host's (Current, Stale, Missing).</summary>
        public bool Module { get; set; }
    }

    /// <summary>Get-HsmSshKey (the vendor's hsmadmin keys show): the host's client keys and pinned server keys, or each module's.</summary>
    public sealed class GetSshKeyOperation : IStoreReadOperation<GetSshKeyRequest>
    {
        /// <summary>Without -Module: the host's keys and pins, as the store holds them.</summary>
        public bool OnlyReadsStore(GetSshKeyRequest request) => !request.Module;

        public async Task RunAsync(GetSshKeyRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var patterns = EsnPatterns.Canonical(request.Patterns);
            var store = HostStore.OpenExisting(request.HostPath);
            var services = request.Services.Count == 0 ? ModuleServices.All.ToArray() : request.Services.Select(ModuleServices.Canonical).ToArray();
            if (request.Module)
            {
                if (patterns == null) HostModules.WarnIfNoModules(store, Array.Empty<string>(), "read", reporter);
                await ModuleKeysAsync(store, request, patterns, services, reporter, cancellationToken).ConfigureAwait(false);
                return;
            }
            bool Wanted(HsmKeyRole role) => request.Roles == null || request.Roles.Contains(role);
            var clientKeys = Wanted(HsmKeyRole.Client) && patterns == null ? KeyInventory.ClientKeys(store).ToList() : new List<HsmSshKeyInfo>();
            foreach (var key in clientKeys.Where(k => services.Contains(k.Service)))
                reporter.Result(key);
            if (!Wanted(HsmKeyRole.Server)) return;
            var serverKeys = KeyInventory.ServerKeys(store).ToList();
            if (request.Roles == null && patterns == null && clientKeys.Count == 0 && serverKeys.Count == 0)
                reporter.Warning($"The host store {store.Root} holds no SSH keys yet (no client keys, no pinned server keys), so " +
                    "there is nothing to show. Enroll its modules with Invoke-HsmEnroll (after Register-HsmModule), or check -HostPath.");
            if (patterns != null)
            {
                foreach (var literal in EsnPatterns.Unmatched(patterns, serverKeys.Select(k => k.Esn)))
                    reporter.Error(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"The host store {store.Root} has no keys pinned for module {literal}. Run Invoke-HsmEnroll to enroll it " +
                        "(another host: -HostPath).", literal));
                var matches = EsnPatterns.Matcher(patterns);
                serverKeys = serverKeys.Where(k => matches(k.Esn)).ToList();
            }
            foreach (var key in serverKeys.Where(k => services.Contains(k.Service)))
                reporter.Result(key);
        }

        private static async Task ModuleKeysAsync(HostStore store, GetSshKeyRequest request, IReadOnlyList<string>? patterns, string[] services,
            IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var admin = new[] { ModuleServices.SshAdmin };
            using (var host = request.OpenHost(store, KeyPassphrases.Resolve(store, request.KeyPassphrase, admin, reporter)))
            {
                KeyPassphrases.Verify(host, admin);
                var attached = host.Attached();
                var matches = patterns == null ? null : EsnPatterns.Matcher(patterns);
                var modules = matches == null ? attached : attached.Where(m => matches(m.Esn)).ToList();
                foreach (var literal in EsnPatterns.Unmatched(patterns ?? Array.Empty<string>(), attached.Select(m => m.Esn.Value)))
                    reporter.Error(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"No module {literal} is registered with the host store {store.Root} (Register-HsmModule; another host: -HostPath).",
                        literal));
                var results = await KeyDrift.ReadAllAsync(host, modules, request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
                foreach (var key in results.Where(k => services.Contains(k.Service)))
                    reporter.Result(key);
            }
        }
    }

    /// <summary>ESNs and ESN patterns as typed (-Esn of the Get- commands).</summary>
    internal static class EsnPatterns
    {
        /// <summary>ESNs and patterns as typed, in canonical (uppercase) form, each once; InvalidEsn for anything else.</summary>
        public static IReadOnlyList<string>? Canonical(IReadOnlyList<string>? typed) =>
            typed?.Select(Modules.Esn.ParsePattern).Distinct(StringComparer.Ordinal).ToList();

        /// <summary>Whether an ESN matches any of <paramref name="patterns"/>; each pattern's regex is built once, here.</summary>
        public static Func<string, bool> Matcher(IReadOnlyList<string> patterns)
        {
            var regexes = patterns.Select(Wildcard.ToRegex).ToList();
            return esn => regexes.Any(r => r.IsMatch(esn));
        }

        /// <summary>The literal ESNs (no wildcard) that match none of <paramref name="esns"/>: each is its own error.</summary>
        public static IEnumerable<string> Unmatched(IReadOnlyList<string> patterns, IEnumerable<string> esns)
        {
            var known = esns.ToList();
            return patterns.Where(p => !Wildcard.HasWildcards(p) && !known.Any(k => string.Equals(k, p, StringComparison.Ordinal)));
        }
    }
}
