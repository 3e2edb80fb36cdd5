using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Modules a roll was told to leave out (Update-HsmSshKey -ExcludeEsn). Before the host switches, the keys such a
    /// module still accepts are archived on the host (owner-only, client-keys/archive/) and named in its record
    /// (<see cref="ModuleRecord.OldKeys"/>). When the module is back, Invoke-HsmEnroll or the next Update-HsmSshKey brings
    /// it up to date: connect with the archived sshadmin key, install the current keys, prove them, remove the old
    /// ones, and delete every archived key no module needs any more. Nothing is ever lost, so no module is locked out.
    /// </summary>
    internal sealed class ExcludedModules
    {
        private readonly HsmHost _host;
        public ExcludedModules(HsmHost host) { _host = host; }

        /// <summary>True when the module accepts archived host keys instead of (some of) the current ones.</summary>
        public static bool IsBehind(ModuleRecord? record) => record?.OldKeys != null && record.OldKeys.Count > 0;

        /// <summary>
        /// Before a roll switches: archive, for every excluded module, the keys of the rolled services it still accepts.
        /// Idempotent (a rerun after a crash archives nothing twice and never archives a key already replaced).
        /// </summary>
        public void RecordExcluded(RollJournal journal)
        {
            if (journal.Kind != RollKinds.Roll || journal.Excluded.Count == 0) return;
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                foreach (var esn in journal.Excluded)
                {
                    var record = _host.Store.GetModule(esn);
                    if (record == null || record.Status != ModuleStatus.Enrolled) continue;
                    record.OldKeys ??= new Dictionary<string, string>(StringComparer.Ordinal);
                    var added = new List<string>();
                    foreach (var service in journal.Services)
                    {
                        if (record.OldKeys.ContainsKey(service)) continue; // already behind: it still accepts the older archived key
                        if (!journal.OldFingerprints.TryGetValue(service, out var old)) continue;
                        _host.Store.ArchiveClientKey(service, old);
                        record.OldKeys[service] = old;
                        added.Add($"{service}={old}");
                    }
                    if (added.Count == 0) continue;
                    _host.Store.UpsertModule(record);
                    _host.Store.AppendAudit(new AuditEntry
                    {
                        Operation = "roll.exclude", Esn = esn, Result = "Archived", Fingerprints = added,
                        Detail = "excluded from the roll: keeps the old keys, archived on the host until it is brought up to date",
                    });
                }
            }
        }

        /// <summary>
        /// Brings a module that was excluded from a roll up to date. Returns the services whose keys were replaced
        /// (empty when the module was not behind).
        /// </summary>
        public async Task<IReadOnlyList<string>> CatchUpAsync(ModuleAddress module, CancellationToken ct)
        {
            var record = _host.Store.GetModule(module.Esn);
            if (!IsBehind(record)) return Array.Empty<string>();
            var old = new Dictionary<string, string>(record!.OldKeys!, StringComparer.Ordinal);

            // 1. Install the current keys beside the old ones, through sshadmin (the archived key if it is behind on sshadmin).
            using (var archived = old.TryGetValue(ModuleServices.SshAdmin, out var adminFingerprint)
                ? _host.ArchivedClientKey(ModuleServices.SshAdmin, adminFingerprint) : null)
            using (var admin = await OpenAdminAsync(module, archived, ct).ConfigureAwait(false))
            {
                var installed = await admin.ListKeysAsync(ct).ConfigureAwait(false);
                foreach (var service in old.Keys)
                {
                    var mine = _host.ClientKey(service).PublicKey;
                    if (installed.TryGetValue(service, out var set) && set.Contains(mine.Fingerprint)) continue;
                    await admin.AddKeyAsync(service, mine, ct).ConfigureAwait(false);
                }
            }
            // 2. Prove every one of them.
            await Task.WhenAll(old.Keys.Select(s => _host.PingAsync(module, s, ct))).ConfigureAwait(false);
            CrashPoints.Reach("catchup.installed");
            // 3. Remove the old keys, through the current sshadmin key.
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
            {
                var installed = await admin.ListKeysAsync(ct).ConfigureAwait(false);
                foreach (var entry in old)
                    if (entry.Value != _host.ClientKey(entry.Key).PublicKey.Fingerprint
                        && installed.TryGetValue(entry.Key, out var set) && set.Contains(entry.Value))
                        await admin.RemoveKeyAsync(entry.Key, entry.Value, ct).ConfigureAwait(false);
            }
            // 4. The module is up to date: forget what it needed, delete archived keys nobody needs.
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                var now = _host.Store.GetModule(module.Esn);
                if (now != null)
                {
                    now.OldKeys = null;
                    _host.Store.UpsertModule(now);
                }
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = "keys.catch-up", Esn = module.Esn, Result = "Success",
                    Fingerprints = old.Select(o => $"{o.Key}={o.Value}").ToList(), Detail = "current keys installed, old keys removed",
                });
                _host.Store.PruneArchivedClientKeys();
            }
            return old.Keys.OrderBy(s => s, StringComparer.Ordinal).ToList();
        }

        /// <summary>sshadmin with the archived key the module still accepts; if an earlier catch-up already swapped it, the current one.</summary>
        private async Task<IModuleSession> OpenAdminAsync(ModuleAddress module, SshKeyPair? archived, CancellationToken ct)
        {
            if (archived == null) return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false);
            try { return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, archived).ConfigureAwait(false); }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed)
            {
                return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false);
            }
        }
    }
}
