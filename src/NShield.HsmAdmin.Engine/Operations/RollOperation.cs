using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `keys roll`, and the second half of `keys restore`. New keys are installed beside the
    /// old ones on every module before the host switches, and the old ones removed only after: no step
    /// leaves a module that accepts neither the host's old keys nor its new ones. Progress is journaled.
    /// </summary>
    internal sealed partial class RollOperation
    {
        private readonly HsmHost _host;
        private readonly object _journalGate = new object();

        /// <param name="host">The host whose keys are rolled.</param>
        /// <param name="algorithm">The new keys' algorithm.</param>
        /// <param name="protection">The new keys' protection (default KFG).</param>
        /// <param name="keepCurrentProtection">Each new key gets the protection of the key it replaces (P included);
        /// <paramref name="protection"/> only where there is none.</param>
        public RollOperation(HsmHost host, SshKeyAlgorithm algorithm = SshKeyAlgorithm.Ed25519, ProtectionSpec? protection = null,
            bool keepCurrentProtection = false)
        {
            _host = host;
            Algorithm = algorithm;
            Protection = protection ?? ProtectionSpec.Default;
            KeepCurrentProtection = keepCurrentProtection;
        }

        public SshKeyAlgorithm Algorithm { get; }
        public ProtectionSpec Protection { get; }
        /// <summary>Each new key gets the protection of the key it replaces (P included); <see cref="Protection"/> only
        /// where there is none.</summary>
        public bool KeepCurrentProtection { get; }

        /// <summary>The protection of the new key for a service: P never goes on ncoreapi implicitly (see ProtectionSpec.ForService).</summary>
        public ProtectionSpec ProtectionFor(string service) =>
            (KeepCurrentProtection ? _host.Store.GetClientKey(service)?.ProtectionSpec : null) ?? Protection.ForService(service);
        /// <summary>The user passphrase (protection P) for the new keys when it changes (the host's, <see cref="HsmHost.NewKeyPassphrase"/>);
        /// null keeps the host's key passphrase (HsmHost.KeyPassphrase).</summary>
        private SecureString? NewKeyPassphrase => _host.NewKeyPassphrase;

        public RollJournal? Interrupted => _host.Store.ReadDocument<RollJournal>(RollJournal.DocumentName);

        /// <summary>
        /// Which modules a new roll covers: every module enrolled on the host's list (modules.json), registered and
        /// reachable or not, except those the administrator explicitly excludes. UnknownModule for an exclusion that is
        /// not an enrolled module; NoModulesToRoll when nothing is left to roll (a roll must not report Completed as if
        /// keys had been rolled on modules).
        /// </summary>
        public (IReadOnlyList<string> Included, IReadOnlyList<string> Excluded) Plan(IEnumerable<string>? exclude)
        {
            var enrolled = _host.Store.GetModules().Where(m => m.Status == ModuleStatus.Enrolled).Select(m => m.Esn).ToList();
            var excluded = (exclude ?? Enumerable.Empty<string>()).Select(e => Esn.Parse(e).Value).Distinct(StringComparer.Ordinal).ToList();
            foreach (var esn in excluded.Where(e => !enrolled.Contains(e, StringComparer.Ordinal)))
                throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                    $"-ExcludeEsn {esn}: no module {esn} is enrolled with this host (enrolled: " +
                    $"{(enrolled.Count == 0 ? "none" : string.Join(", ", enrolled))}). Nothing was changed.", esn);
            var included = enrolled.Where(e => !excluded.Contains(e, StringComparer.Ordinal)).ToList();
            if (included.Count == 0)
                throw new HsmException(HsmErrorIds.NoModulesToRoll, HsmErrorKind.InvalidOperation,
                    enrolled.Count == 0
                        ? $"No module is enrolled with this host ({_host.Path}), so there is no module to roll " +
                            "keys on; nothing was changed. Enroll modules first (Invoke-HsmEnroll)."
                        : $"Every enrolled module ({string.Join(", ", enrolled)}) is excluded, so the " +
                            "roll would change only this host's keys; nothing was changed.",
                    _host.Path);
            return (included, excluded);
        }

        /// <summary>Generates and stages the new keys, and records which modules must get them.</summary>
        public RollJournal Begin(IEnumerable<string> services, IEnumerable<ModuleAddress> modules, string kind) =>
            Begin(services, modules.Select(m => m.Esn.Value), kind, null);

        /// <summary>Generates and stages the new keys, and records which modules must get them and which are excluded.</summary>
        public RollJournal Begin(IEnumerable<string> services, IEnumerable<string> modules, string kind, IEnumerable<string>? excluded)
        {
            if (Interrupted != null)
                throw new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                    "An earlier key roll has not finished; complete it (run Update-HsmSshKey again) or revert it (Update-HsmSshKey -Revert) first.");
            EnrollJournal.EnsureNoOpenEnroll(_host);
            var journal = new RollJournal { Kind = kind, Phase = RollPhase.Installing, Services = services.Distinct().ToList() };
            foreach (var esn in modules) journal.Modules[esn] = ModuleRollState.Pending;
            if (excluded != null) journal.Excluded.AddRange(excluded.Where(e => !journal.Modules.ContainsKey(e)));
            foreach (var service in journal.Services)
            {
                var old = _host.Store.GetClientKey(service);
                if (kind == RollKinds.Roll && old != null) journal.OldFingerprints[service] = old.Fingerprint;
                using (var key = SshKeyPair.Generate(Algorithm, $"nshield-hsmadmin-{service}@{Environment.MachineName}"))
                {
                    var protection = ProtectionFor(service);
                    _host.Store.StageClientKey(service, key, protection, protection.NeedsPassphrase ? NewKeyPassphrase ?? _host.KeyPassphrase : null);
                    journal.NewFingerprints[service] = key.PublicKey.Fingerprint;
                }
            }
            Save(journal);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = $"{kind.ToLowerInvariant()}.begin", Fingerprints = journal.NewFingerprints.Select(f => $"{f.Key}={f.Value}").ToList(),
                Result = "Staged",
                Detail = $"{journal.Modules.Count} module(s)" +
                    (journal.Excluded.Count > 0 ? $"; excluded: {string.Join(", ", journal.Excluded)}" : ""),
            });
            CrashPoints.Reach("roll.staged");
            return journal;
        }

        /// <summary>Installs the staged keys on one module (beside the old ones) and proves each authenticates.</summary>
        public async Task InstallAsync(RollJournal journal, ModuleAddress module, CancellationToken ct)
        {
            if (journal.Modules.TryGetValue(module.Esn, out var state) && state != ModuleRollState.Pending) return;
            // A module excluded from an earlier roll first gets the host's current keys (it still accepts archived ones).
            if (ExcludedModules.IsBehind(_host.Store.GetModule(module.Esn)))
                await new ExcludedModules(_host).CatchUpAsync(module, ct).ConfigureAwait(false);
            var newKeys = journal.Services.ToDictionary(s => s, s => StagedKey(s));
            using (var admin = await OpenAdminAsync(module, ct).ConfigureAwait(false))
            {
                ModuleClock.RequireValidForKeyChange(module.Esn, await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false),
                    "installing the new keys");
                foreach (var service in journal.Services)
                    await admin.AddKeyAsync(service, newKeys[service].PublicKey, ct).ConfigureAwait(false);
            }
            await Task.WhenAll(journal.Services.Select(s => _host.PingAsync(module, s, ct, newKeys[s]))).ConfigureAwait(false);
            Mark(journal, module.Esn, ModuleRollState.Installed, $"{journal.Kind.ToLowerInvariant()}.install");
            CrashPoints.Reach("roll.module-installed");
        }

        /// <summary>Every module accepts the new keys: the host starts using them.</summary>
        public void Switch(RollJournal journal)
        {
            var missing = journal.Modules.Where(m => m.Value == ModuleRollState.Pending).Select(m => m.Key).ToList();
            if (missing.Count > 0)
                throw new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                    $"The new keys are not yet installed on {string.Join(", ", missing)}. The " +
                    "host keeps its old keys, which every module still accepts. " +
                    "Run Update-HsmSshKey again to complete the roll, or Update-HsmSshKey -Revert to abandon it.");
            // Excluded modules keep the old keys: archived (owner-only) before the host lets go of them.
            new ExcludedModules(_host).RecordExcluded(journal);
            // A passphrase change: archived P keys (modules excluded now or earlier) follow it while both passphrases are
            // known, else a module caught up later could only be reached with the old one (idempotent for a rerun).
            if (journal.Kind == RollKinds.Roll && NewKeyPassphrase != null)
                _host.Store.ReprotectArchivedClientKeys(_host.KeyPassphrase, NewKeyPassphrase);
            journal.Phase = RollPhase.Switching;
            Save(journal);
            CrashPoints.Reach("roll.switching");
            foreach (var service in journal.Services)
            {
                // A kill between promotions is fine: the rerun promotes the rest (promotion is idempotent).
                if (_host.Store.GetPendingClientKey(service) != null) _host.Store.PromoteClientKey(service);
                _host.ForgetClientKey(service);
                CrashPoints.Reach("roll.promoted-one");
            }
            // Every module of the roll proved the new keys before the switch (a restore's sshadmin key too): installed
            // everywhere, unless a module was excluded and still holds only the old keys (then the enrollment that brings
            // the last one up to date records the proof).
            if (!_host.Store.GetModules().Any(m => m.Status == ModuleStatus.Enrolled && ExcludedModules.IsBehind(m)))
                _host.Store.MarkClientKeysProven(journal.Kind == RollKinds.Restore ? journal.Services.Concat(new[] { ModuleServices.SshAdmin })
                    : journal.Services,
                DateTimeOffset.UtcNow);
            journal.Phase = RollPhase.Cleaning;
            Save(journal);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = $"{journal.Kind.ToLowerInvariant()}.switch",
                Fingerprints = journal.NewFingerprints.Select(f => $"{f.Key}={f.Value}").ToList(), Result = "Success",
            });
            CrashPoints.Reach("roll.switched");
        }

        /// <summary>Removes the old keys from one module (a restore replaces whatever the module held).</summary>
        public async Task CleanAsync(RollJournal journal, ModuleAddress module, CancellationToken ct)
        {
            if (journal.Modules.TryGetValue(module.Esn, out var state) && state == ModuleRollState.Cleaned) return;
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
            {
                var installed = await admin.ListKeysAsync(ct).ConfigureAwait(false);
                foreach (var service in journal.Services)
                {
                    var keep = _host.ClientKey(service).PublicKey;
                    if (journal.Kind == RollKinds.Restore)
                    {
                        if (installed.TryGetValue(service, out var set) && set.Count == 1 && set.Contains(keep.Fingerprint)) continue;
                        await admin.SetKeysAsync(service, new[] { keep }, ct).ConfigureAwait(false);
                    }
                    else if (journal.OldFingerprints.TryGetValue(service, out var old) && old != keep.Fingerprint
                             && installed.TryGetValue(service, out var set) && set.Contains(old))
                    {
                        await admin.RemoveKeyAsync(service, old, ct).ConfigureAwait(false);
                    }
                }
            }
            Mark(journal, module.Esn, ModuleRollState.Cleaned, $"{journal.Kind.ToLowerInvariant()}.clean");
            CrashPoints.Reach("roll.module-cleaned");
        }

        /// <summary>Ends the roll when every module is clean; otherwise leaves the journal for the rerun.</summary>
        public bool TryFinish(RollJournal journal)
        {
            if (journal.Modules.Values.Any(v => v != ModuleRollState.Cleaned)) return false;
            _host.Store.DeleteDocument(RollJournal.DocumentName);
            _host.Store.AppendAudit(new AuditEntry { Operation = $"{journal.Kind.ToLowerInvariant()}.finish", Result = "Success",
                Detail = journal.Excluded.Count > 0 ? $"excluded (old keys archived): {string.Join(", ", journal.Excluded)}" : null });
            _host.Store.PruneArchivedClientKeys();
            return true;
        }

        /// <summary>Abandons a roll that has not switched yet: new keys removed from the modules, staged keys discarded.</summary>
        public async Task RevertAsync(RollJournal journal, ModuleAddress module, CancellationToken ct)
        {
            if (journal.Phase != RollPhase.Installing)
                throw new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                    "The host already switched to the new keys, so this roll can only be completed: run Update-HsmSshKey without -Revert.");
            using (var admin = await OpenAdminAsync(module, ct).ConfigureAwait(false))
            {
                var installed = await admin.ListKeysAsync(ct).ConfigureAwait(false);
                foreach (var service in journal.Services)
                    if (installed.TryGetValue(service, out var set) && set.Contains(journal.NewFingerprints[service])
                        && _host.ClientKey(service).PublicKey.Fingerprint != journal.NewFingerprints[service])
                        await admin.RemoveKeyAsync(service, journal.NewFingerprints[service], ct).ConfigureAwait(false);
            }
            Mark(journal, module.Esn, ModuleRollState.Pending, "roll.revert");
        }

        public void FinishRevert(RollJournal journal)
        {
            foreach (var service in journal.Services) _host.Store.DiscardPendingClientKey(service);
            _host.Store.DeleteDocument(RollJournal.DocumentName);
            _host.Store.AppendAudit(new AuditEntry { Operation = "roll.revert", Result = "Success" });
        }

        /// <summary>
        /// A restore goes on without modules the journal names that are no longer registered (they keep the restored
        /// sshadmin key; Invoke-HsmEnroll installs the rest). A roll never forgets a module: an enrolled module that cannot
        /// be reached stops the switch unless it is explicitly excluded.
        /// </summary>
        public IReadOnlyList<string> ForgetDetached(RollJournal journal, IEnumerable<ModuleAddress> attached)
        {
            if (journal.Kind == RollKinds.Roll) return Array.Empty<string>();
            var gone = journal.Modules.Keys.Where(e => !attached.Any(a => a.Esn.Value == e)).ToList();
            if (gone.Count == 0) return gone;
            lock (_journalGate)
            {
                foreach (var esn in gone) journal.Modules.Remove(esn);
                Save(journal);
            }
            return gone;
        }

        /// <summary>
        /// Joins, before the switch, modules enrolled on the host's list after the roll began (for example by an older
        /// version that ignored the journal): they must get the new keys too. Returns the ESNs added.
        /// </summary>
        public IReadOnlyList<string> AdoptEnrolled(RollJournal journal)
        {
            if (journal.Kind != RollKinds.Roll || journal.Phase != RollPhase.Installing) return Array.Empty<string>();
            var added = _host.Store.GetModules().Where(m => m.Status == ModuleStatus.Enrolled)
                .Select(m => m.Esn).Where(e => !journal.Modules.ContainsKey(e)
                    && !journal.Excluded.Contains(e, StringComparer.Ordinal)).ToList();
            if (added.Count == 0) return added;
            lock (_journalGate)
            {
                foreach (var esn in added) journal.Modules[esn] = ModuleRollState.Pending;
                Save(journal);
            }
            return added;
        }

        /// <summary>
        /// Excludes modules from an interrupted roll that has not switched yet (Update-HsmSshKey -ExcludeEsn on the rerun).
        /// Only modules that lack the new keys can be excluded; after the switch every module has them already.
        /// </summary>
        public IReadOnlyList<string> Exclude(RollJournal journal, IEnumerable<string> esns)
        {
            var wanted = esns.Select(e => Esn.Parse(e).Value).Distinct(StringComparer.Ordinal).ToList();
            foreach (var esn in wanted.Where(e => !journal.Modules.ContainsKey(e) && !journal.Excluded.Contains(e, StringComparer.Ordinal)))
                throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                    $"-ExcludeEsn {esn}: the interrupted roll does not cover module {esn} (it covers " +
                    $"{string.Join(", ", journal.Modules.Keys)}). Nothing was changed.", esn);
            if (journal.Phase == RollPhase.Cleaning)
            {
                // After the switch every module has the new keys; an excluded one merely keeps an old key nobody holds any more.
                var done = wanted.Where(e => journal.Modules.TryGetValue(e, out var st) && st == ModuleRollState.Installed).ToList();
                if (done.Count == 0) return done;
                lock (_journalGate)
                {
                    foreach (var esn in done) journal.Modules.Remove(esn);
                    Save(journal);
                }
                _host.Store.AppendAudit(new AuditEntry { Operation = "roll.exclude", Result = "NotCleaned", Detail = string.Join(", ", done) });
                return done;
            }
            if (journal.Phase != RollPhase.Installing) return Array.Empty<string>();
            var now = wanted.Where(e => journal.Modules.TryGetValue(e, out var st) && st == ModuleRollState.Pending).ToList();
            if (now.Count == 0) return now;
            if (journal.Modules.Count == now.Count)
                throw new HsmException(HsmErrorIds.NoModulesToRoll, HsmErrorKind.InvalidOperation,
                    $"Excluding {string.Join(", ", now)} would leave the roll without any module; nothing " +
                    "was changed. Revert it instead (Update-HsmSshKey -Revert).", _host.Path);
            lock (_journalGate)
            {
                foreach (var esn in now) { journal.Modules.Remove(esn); journal.Excluded.Add(esn); }
                Save(journal);
            }
            _host.Store.AppendAudit(new AuditEntry { Operation = "roll.exclude", Result = "Excluded", Detail = string.Join(", ", now) });
            return now;
        }

        /// <summary>sshadmin with the host's current key; if a sshadmin roll was cut short after install, the staged key works too.</summary>
        private async Task<IModuleSession> OpenAdminAsync(ModuleAddress module, CancellationToken ct)
        {
            try { return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false); }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed
                && _host.Store.GetPendingClientKey(ModuleServices.SshAdmin) != null)
            {
                return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, StagedKey(ModuleServices.SshAdmin)).ConfigureAwait(false);
            }
        }

        private readonly Dictionary<string, SshKeyPair> _staged = new Dictionary<string, SshKeyPair>();

        private SshKeyPair StagedKey(string service)
        {
            lock (_staged)
            {
                if (!_staged.TryGetValue(service, out var key))
                    _staged[service] = key = _host.PendingClientKey(service);
                return key;
            }
        }

        private void Mark(RollJournal journal, string esn, ModuleRollState state, string operation)
        {
            lock (_journalGate)
            {
                journal.Modules[esn] = state;
                Save(journal);
            }
            _host.Store.AppendAudit(new AuditEntry { Operation = operation, Esn = esn, Result = state.ToString(),
                Fingerprints = journal.NewFingerprints.Select(f => $"{f.Key}={f.Value}").ToList() });
        }

        /// <summary>The stop of the command running this roll (set by RunAsync).</summary>
        private CancellationToken _stop;

        private void Save(RollJournal journal)
        {
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                // A module job the fleet executor left running after a stop must not write: once the command has
                // returned, a rerun may own the journal (or have finished and deleted it). Checked under the store lock.
                if (_stop.IsCancellationRequested || _host.IsDisposed) throw new OperationCanceledException(_stop);
                _host.Store.WriteDocument(RollJournal.DocumentName, journal);
            }
        }
    }
}
