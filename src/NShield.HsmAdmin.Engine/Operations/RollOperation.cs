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

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `keys roll`, and the second half of `keys restore`. New keys are installed beside the
    /// old ones on every module before the host switches, and the old ones removed only after: no step
    /// leaves a module that accepts neither the host's old keys nor its new ones. Progress is journaled.
    /// </summary>
    public sealed class RollOperation
    {
        private readonly HsmHost _host;
        private readonly object _journalGate = new object();

        public RollOperation(HsmHost host) { _host = host; }

        public SshKeyAlgorithm Algorithm { get; set; } = SshKeyAlgorithm.Ed25519;
        public ProtectionSpec Protection { get; set; } = ProtectionSpec.Default;
        /// <summary>The user passphrase (protection P) for the new keys, if P is chosen.</summary>
        public SecureString? NewKeyPassphrase { get; set; }

        public RollJournal? Interrupted => _host.Store.ReadDocument<RollJournal>(RollJournal.DocumentName);

        /// <summary>Generates and stages the new keys, and records which modules must get them.</summary>
        public RollJournal Begin(IEnumerable<string> services, IEnumerable<ModuleAddress> modules, string kind)
        {
            if (Interrupted != null)
                throw new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                    "An earlier key roll has not finished; complete it (run Update-HsmSshKey again) or revert it (Update-HsmSshKey -Revert) first.");
            var journal = new RollJournal { Kind = kind, Phase = RollPhase.Installing, Services = services.Distinct().ToList() };
            foreach (var module in modules) journal.Modules[module.Esn] = ModuleRollState.Pending;
            foreach (var service in journal.Services)
            {
                var old = _host.Store.GetClientKey(service);
                if (kind == RollKinds.Roll && old != null) journal.OldFingerprints[service] = old.Fingerprint;
                using (var key = SshKeyPair.Generate(Algorithm, $"nshield-hsmadmin-{service}@{Environment.MachineName}"))
                {
                    _host.Store.StageClientKey(service, key, Protection, NewKeyPassphrase);
                    journal.NewFingerprints[service] = key.PublicKey.Fingerprint;
                }
            }
            Save(journal);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = $"{kind.ToLowerInvariant()}.begin", Fingerprints = journal.NewFingerprints.Select(f => $"{f.Key}={f.Value}").ToList(),
                Result = "Staged", Detail = $"{journal.Modules.Count} module(s)",
            });
            CrashPoints.Reach("roll.staged");
            return journal;
        }

        /// <summary>Installs the staged keys on one module (beside the old ones) and proves each authenticates.</summary>
        public async Task InstallAsync(RollJournal journal, ModuleAddress module, CancellationToken ct)
        {
            if (journal.Modules.TryGetValue(module.Esn, out var state) && state != ModuleRollState.Pending) return;
            var newKeys = journal.Services.ToDictionary(s => s, s => StagedKey(s));
            using (var admin = await OpenAdminAsync(module, ct).ConfigureAwait(false))
            {
                ModuleClock.RequireValidForKeyChange(module.Esn, await ModuleIdentity.ReadAsync(admin, ct).ConfigureAwait(false), "installing the new keys");
                foreach (var service in journal.Services)
                    await admin.InvokeAsync("keys.add", FirmwareBodies.AddKey(service, newKeys[service].PublicKey.ToAuthorizedKeysLine()), ct).ConfigureAwait(false);
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
                    $"The new keys are not yet installed on {string.Join(", ", missing)}. The host keeps its old keys, which every module still accepts. " +
                    "Run Update-HsmSshKey again to complete the roll, or Update-HsmSshKey -Revert to abandon it.");
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
            journal.Phase = RollPhase.Cleaning;
            Save(journal);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = $"{journal.Kind.ToLowerInvariant()}.switch", Fingerprints = journal.NewFingerprints.Select(f => $"{f.Key}={f.Value}").ToList(), Result = "Success",
            });
            CrashPoints.Reach("roll.switched");
        }

        /// <summary>Removes the old keys from one module (a restore replaces whatever the module held).</summary>
        public async Task CleanAsync(RollJournal journal, ModuleAddress module, CancellationToken ct)
        {
            if (journal.Modules.TryGetValue(module.Esn, out var state) && state == ModuleRollState.Cleaned) return;
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
            {
                var installed = FirmwareBodies.ParseKeyList((await admin.InvokeAsync("keys.list", null, ct).ConfigureAwait(false)).Result, admin.Esn);
                foreach (var service in journal.Services)
                {
                    var keep = _host.ClientKey(service).PublicKey;
                    if (journal.Kind == RollKinds.Restore)
                    {
                        if (installed.TryGetValue(service, out var set) && set.Count == 1 && set.Contains(keep.Fingerprint)) continue;
                        await admin.InvokeAsync("keys.set", FirmwareBodies.SetKeys(service, new[] { keep.ToAuthorizedKeysLine() }), ct).ConfigureAwait(false);
                    }
                    else if (journal.OldFingerprints.TryGetValue(service, out var old) && old != keep.Fingerprint
                             && installed.TryGetValue(service, out var set) && set.Contains(old))
                    {
                        await admin.InvokeAsync("keys.remove", FirmwareBodies.RemoveKey(service, old), ct).ConfigureAwait(false);
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
            _host.Store.AppendAudit(new AuditEntry { Operation = $"{journal.Kind.ToLowerInvariant()}.finish", Result = "Success" });
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
                var installed = FirmwareBodies.ParseKeyList((await admin.InvokeAsync("keys.list", null, ct).ConfigureAwait(false)).Result, admin.Esn);
                foreach (var service in journal.Services)
                    if (installed.TryGetValue(service, out var set) && set.Contains(journal.NewFingerprints[service])
                        && _host.ClientKey(service).PublicKey.Fingerprint != journal.NewFingerprints[service])
                        await admin.InvokeAsync("keys.remove", FirmwareBodies.RemoveKey(service, journal.NewFingerprints[service]), ct).ConfigureAwait(false);
            }
            Mark(journal, module.Esn, ModuleRollState.Pending, "roll.revert");
        }

        public void FinishRevert(RollJournal journal)
        {
            foreach (var service in journal.Services) _host.Store.DiscardPendingClientKey(service);
            _host.Store.DeleteDocument(RollJournal.DocumentName);
            _host.Store.AppendAudit(new AuditEntry { Operation = "roll.revert", Result = "Success" });
        }

        /// <summary>Modules the journal names that are no longer attached cannot be reached; the roll goes on without them.</summary>
        public IReadOnlyList<string> ForgetDetached(RollJournal journal, IEnumerable<ModuleAddress> attached)
        {
            var gone = journal.Modules.Keys.Where(e => !attached.Any(a => string.Equals(a.Esn, e, StringComparison.OrdinalIgnoreCase))).ToList();
            if (gone.Count == 0) return gone;
            lock (_journalGate)
            {
                foreach (var esn in gone) journal.Modules.Remove(esn);
                Save(journal);
            }
            return gone;
        }

        /// <summary>sshadmin with the host's current key; if a sshadmin roll was cut short after install, the staged key works too.</summary>
        private async Task<IModuleChannel> OpenAdminAsync(ModuleAddress module, CancellationToken ct)
        {
            try { return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false); }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed && _host.Store.GetPendingClientKey(ModuleServices.SshAdmin) != null)
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
                    _staged[service] = key = _host.Store.OpenPendingClientKey(service, NewKeyPassphrase);
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

        private void Save(RollJournal journal) => _host.Store.WriteDocument(RollJournal.DocumentName, journal);
    }
}
