using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>How a client key a module holds (or should hold) compares with the host's current key for that service.</summary>
    public enum HsmKeyState
    {
        /// <summary>The module holds the host's current key.</summary>
        Current,
        /// <summary>The module holds a key that is not the host's current key for the service (unknown to the host, or an old one).</summary>
        Stale,
        /// <summary>The host has a current key for the service and the module does not hold it.</summary>
        Missing,
    }

    /// <summary>One client key as a module reports it (keys.list over sshadmin), compared with the host (Get-HsmSshKey -Module).</summary>
    public sealed class HsmModuleKeyInfo
    {
        public string Esn { get; set; } = "";
        public string Service { get; set; } = "";
        public string Fingerprint { get; set; } = "";
        public HsmKeyState State { get; set; }
        /// <summary>For a Stale key the host still knows: "staged" (a roll in progress) or "archived" (kept for an
        /// excluded module); else empty.</summary>
        public string KnownAs { get; set; } = "";
        public string HostPath { get; set; } = "";
    }

    /// <summary>
    /// The vendor's "keys show" per connected HSM: which client keys each module holds, per service, against the host's
    /// current keys. Read-only: one keys.list over the pinned sshadmin channel.
    /// </summary>
    public static class KeyDrift
    {
        /// <summary>Asks one module over a pinned sshadmin channel opened with the host's key.</summary>
        public static async Task<IReadOnlyList<HsmModuleKeyInfo>> ReadAsync(HsmHost host, ModuleAddress module, CancellationToken ct)
        {
            using (var archived = ArchivedSshAdminKey(host, module.Esn))
            using (var admin = await host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, archived).ConfigureAwait(false))
                return await ReadAsync(host, admin, ct).ConfigureAwait(false);
        }

        /// <summary>Get-HsmSshKey -Module: every selected module in parallel, sorted by ESN, service (vendor's order) and state.</summary>
        public static async Task<IReadOnlyList<HsmModuleKeyInfo>> ReadAllAsync(HsmHost host, IReadOnlyList<ModuleAddress> modules,
            int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var results = await FleetExecutor.CollectAsync(modules, m => m.Esn,
                async (m, c) => (IEnumerable<HsmModuleKeyInfo>)await ReadAsync(host, m, c).ConfigureAwait(false),
                throttleLimit, "Reading the client keys each module holds", reporter, ct).ConfigureAwait(false);
            var order = ModuleServices.All.ToList();
            return results.OrderBy(k => k.Esn, StringComparer.OrdinalIgnoreCase).ThenBy(k => order.IndexOf(k.Service)).ThenBy(k => k.State).ToList();
        }

        /// <summary>
        /// The archived sshadmin key a module excluded from a roll still accepts (it does not accept the current one yet);
        /// null when the module is not behind on sshadmin. The caller disposes it.
        /// </summary>
        public static Keys.SshKeyPair? ArchivedSshAdminKey(HsmHost host, string esn)
        {
            var record = host.Store.GetModule(esn);
            return record?.OldKeys != null && record.OldKeys.TryGetValue(ModuleServices.SshAdmin, out var fingerprint)
                ? host.ArchivedClientKey(ModuleServices.SshAdmin, fingerprint) : null;
        }

        /// <summary>As above, on a channel already open (Get-HsmModule reuses the one it read the identity on).</summary>
        public static async Task<IReadOnlyList<HsmModuleKeyInfo>> ReadAsync(HsmHost host, IModuleSession admin, CancellationToken ct)
        {
            var held = await admin.ListKeysAsync(ct).ConfigureAwait(false);
            return Compare(host, admin.Esn, held);
        }

        /// <summary>Current / Stale / Missing per service, services in the vendor's order, fingerprints sorted.</summary>
        public static IReadOnlyList<HsmModuleKeyInfo> Compare(HsmHost host, string esn, IReadOnlyDictionary<string, IReadOnlyCollection<string>> held)
        {
            var store = host.Store;
            var staged = new HashSet<string>(store.GetPendingClientKeys().Select(k => k.Fingerprint), StringComparer.Ordinal);
            var archived = new HashSet<string>(ArchivedFingerprints(store), StringComparer.Ordinal);
            var result = new List<HsmModuleKeyInfo>();
            foreach (var service in ModuleServices.All)
            {
                var current = store.GetClientKey(service)?.Fingerprint;
                var keys = held.TryGetValue(service, out var set) ? set : (IReadOnlyCollection<string>)Array.Empty<string>();
                if (current != null)
                    result.Add(new HsmModuleKeyInfo
                    {
                        Esn = esn, Service = service, Fingerprint = current, HostPath = host.Path,
                        State = keys.Contains(current) ? HsmKeyState.Current : HsmKeyState.Missing,
                    });
                foreach (var fp in keys.Where(k => k != current).OrderBy(k => k, StringComparer.Ordinal))
                    result.Add(new HsmModuleKeyInfo
                    {
                        Esn = esn, Service = service, Fingerprint = fp, State = HsmKeyState.Stale, HostPath = host.Path,
                        KnownAs = staged.Contains(fp) ? "staged" : archived.Contains(fp) ? "archived" : "",
                    });
            }
            return result;
        }

        /// <summary>The drift in one line for Get-HsmModule: "None", or e.g. "ncoreapi: 1 stale; setup: missing".</summary>
        public static string Summarize(IReadOnlyList<HsmModuleKeyInfo> keys)
        {
            var parts = keys.Where(k => k.State != HsmKeyState.Current).GroupBy(k => k.Service)
                .OrderBy(g => ModuleServices.All.ToList().IndexOf(g.Key))
                .Select(g =>
                {
                    var bits = new List<string>();
                    var stale = g.Count(k => k.State == HsmKeyState.Stale);
                    if (g.Any(k => k.State == HsmKeyState.Missing)) bits.Add("missing");
                    if (stale > 0) bits.Add($"{stale} stale");
                    return $"{g.Key}: {string.Join(", ", bits)}";
                }).ToList();
            return parts.Count == 0 ? "None" : string.Join("; ", parts);
        }

        private static IEnumerable<string> ArchivedFingerprints(Store.HostStore store)
        {
            try { return store.GetArchivedClientKeys().Select(k => k.Fingerprint).ToList(); }
            catch (HsmException) { return Enumerable.Empty<string>(); }
        }
    }
}
