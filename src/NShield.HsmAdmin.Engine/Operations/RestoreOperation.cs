using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `keys restore`, first half: the sshadmin key from a backup is proven against the
    /// modules and made the host's; the second half (new keys for every other service, installed through
    /// sshadmin) is a <see cref="RollOperation"/> of kind Restore.
    /// </summary>
    internal sealed partial class RestoreOperation
    {
        private readonly HsmHost _host;
        public RestoreOperation(HsmHost host) { _host = host; }

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyDictionary<string, SshPublicKey>> _pinsToWrite =
            new(StringComparer.Ordinal);

        /// <summary>
        /// After the restore is confirmed: pins the modules that the checks verified at first contact (chain or confirmed
        /// fingerprint) and that accept the backup, and lists them as enrolled. Never replaces a pin the host has.
        /// </summary>
        public void CommitPins(IEnumerable<ModuleAddress> accepting)
        {
            foreach (var module in accepting)
            {
                if (!_pinsToWrite.TryGetValue(module.Esn, out var pins) || _host.Store.GetPin(module.Esn, ModuleServices.SshAdmin) != null) continue;
                _host.Store.SetPins(module.Esn, pins);
                if (_host.Store.GetModule(module.Esn) == null)
                    _host.Store.UpsertModule(new ModuleRecord { Esn = module.Esn, Status = ModuleStatus.Enrolled,
                        EnrolledAt = DateTimeOffset.UtcNow });
            }
        }

        /// <summary>True when the module accepts the key on sshadmin; a module the host lost its pins for is verified
        /// at first contact (chain or confirmed fingerprint) and pinned by <see cref="CommitPins"/>. <paramref name="accepted"/>:
        /// sshadmin server key fingerprints confirmed out of band (-AcceptFingerprint), as for enroll: they pin a module the host
        /// has no pins for when no trusted vendor root is configured, and never replace or override an existing pin.</summary>
        public async Task<bool> AcceptsAsync(ModuleAddress module, SshKeyPair key, IReadOnlyCollection<string> accepted, CancellationToken ct)
        {
            try
            {
                if (_host.Store.GetPin(module.Esn, ModuleServices.SshAdmin) == null)
                    return await PinFromCertificateAsync(module, key, accepted, ct).ConfigureAwait(false);
                using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, key).ConfigureAwait(false))
                    await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                return true;
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed) { return false; }
        }

        /// <summary>Modules met at first contact during the checks: what a person is shown, and the keys pinned on a Yes.</summary>
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FirstContactSeen> _firstContact =
            new System.Collections.Concurrent.ConcurrentDictionary<string, FirstContactSeen>(StringComparer.Ordinal);

        private sealed class FirstContactSeen
        {
            public FirstContactSeen(FirstContactFingerprints shown, IReadOnlyDictionary<string, SshPublicKey> keys) { Shown = shown; Keys = keys; }
            public FirstContactFingerprints Shown { get; }
            public IReadOnlyDictionary<string, SshPublicKey> Keys { get; }
        }

        /// <summary>The error of a module whose server keys nobody confirmed (no pins, no trusted vendor root).</summary>
        internal static HsmException FingerprintNotConfirmed(string esn, string fingerprint, string hostPath) =>
            new HsmException(HsmErrorIds.FingerprintNotConfirmed, HsmErrorKind.SecurityError,
                $"This host has no pins for module {esn} and no trusted vendor root is configured, so its server keys need your confirmation. " +
                $"Its sshadmin server key is {fingerprint}. Compare it with the module's own display, then answer Yes when asked, or run " +
                $"Restore-HsmSshKey -HostPath '{hostPath.Replace("'", "''")}' with the same -Path (or -SharePath) and -AcceptFingerprint " +
                $"'{fingerprint}' (or add the vendor root with Add-HsmTrustedRoot). Nothing was changed.", esn);

        /// <summary>
        /// First contact, as Invoke-HsmEnroll asks it: the modules that accept the backup but whose server keys only a person can
        /// vouch for (no pins, no trusted vendor root, not given with -AcceptFingerprint) are listed with every fingerprint and
        /// asked about through the reporter, No by default. A confirmed module is pinned with exactly the keys shown (once the
        /// restore is confirmed); any other gets FingerprintNotConfirmed and counts as not checked. A session that cannot ask
        /// confirms nothing.
        /// </summary>
        public IReadOnlyCollection<ModuleCheck> ConfirmFirstContact(IReadOnlyCollection<ModuleCheck> checks, IOperationReporter reporter)
        {
            var pending = checks.Where(c => _firstContact.ContainsKey(c.Module.Esn))
                .OrderBy(c => c.Module.Esn.Value, StringComparer.Ordinal).ToList();
            if (pending.Count == 0) return checks;
            var shown = pending.Select(c => _firstContact[c.Module.Esn].Shown).ToList();
            var confirmed = EnrollOperation.ConfirmFirstContact(shown, reporter);
            var kept = checks.Where(c => !_firstContact.ContainsKey(c.Module.Esn)).ToList();
            foreach (var check in pending)
            {
                var seen = _firstContact[check.Module.Esn];
                if (confirmed.ContainsKey(check.Module.Esn))
                {
                    _pinsToWrite[check.Module.Esn] = seen.Keys;
                    kept.Add(check);
                }
                else reporter.Error(FingerprintNotConfirmed(check.Module.Esn, seen.Shown.Fingerprints[ModuleServices.SshAdmin], _host.Path));
            }
            return kept;
        }

        private async Task<bool> PinFromCertificateAsync(ModuleAddress module, SshKeyPair key, IReadOnlyCollection<string> accepted,
            CancellationToken ct)
        {
            using (var admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, key, ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false))
            {
                var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                var shape = TrustVerification.CheckShape(identity, admin.ServerKey);
                if (shape != null)
                    throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                        $"Module {module.Esn}: {shape}. Something is between this host and the module; nothing was changed.", module.Esn);
                // Pins the host still has for other services are never replaced here (ServerKeyChanged stays).
                foreach (var pin in _host.Store.GetPins(module.Esn))
                    if (identity.ServerKeys.TryGetValue(pin.Key, out var presented) && !presented.Blob.SequenceEqual(pin.Value.Blob))
                        throw ChannelErrors.ServerKeyChanged(module, pin.Key,
                            ServerKeyPolicy.Pinned(pin.Value, _host.Store.KnownHostsPath), presented);
                var fingerprint = identity.ServerKeys[ModuleServices.SshAdmin].Fingerprint;
                if (_host.Store.GetTrustedRoots().Count > 0)
                {
                    var reason = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, admin.ServerKey);
                    if (reason != null)
                        throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                            $"This host has no pins for module {module.Esn} and its server keys " +
                            $"cannot be verified ({reason}); nothing was changed. " +
                            "Configure the vendor root (Add-HsmTrustedRoot) or enroll the module.", module.Esn);
                }
                else if (!accepted.Contains(fingerprint))
                {
                    // A person is asked once every module was checked (ConfirmFirstContact); until then nothing is pinned.
                    _firstContact[module.Esn] = new FirstContactSeen(new FirstContactFingerprints
                    {
                        Esn = module.Esn, Address = module.Endpoint(ModuleServices.SshAdmin), Mode = identity.Mode.ToString(),
                        Fingerprints = ModuleServices.All.ToDictionary(s => s, s => identity.ServerKeys[s].Fingerprint),
                    }, identity.ServerKeys);
                    return true;
                }
                // Written only once the restore is confirmed (CommitPins): a declined restore or -WhatIf pins nothing.
                _pinsToWrite[module.Esn] = identity.ServerKeys;
                return true;
            }
        }

        /// <summary>
        /// The host's current sshadmin key, or null when the host has none or its file is unusable (lost, corrupt, tied
        /// to another machine): then no module can be reached with it and nothing is lost by replacing it. A key that
        /// only needs its passphrase is not "unusable": that error goes to the caller.
        /// </summary>
        public SshKeyPair? CurrentSshAdminKey(Action<string>? warn = null)
        {
            if (_host.Store.GetClientKey(ModuleServices.SshAdmin) == null) return null;
            try { return _host.ClientKey(ModuleServices.SshAdmin); }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyFileNotFound || ex.ErrorId == HsmErrorIds.KeyFileCorrupt
                                          || ex.ErrorId == HsmErrorIds.KeyFileTruncated || ex.ErrorId == HsmErrorIds.NotAnOpenSshKey
                                          || ex.ErrorId == HsmErrorIds.KeyTiedToAnotherMachine)
            {
                warn?.Invoke($"The host's current sshadmin key cannot be used ({ex.Message}); it is replaced by the backup.");
                return null;
            }
        }

        /// <summary>What one module accepts: the backup's sshadmin key, and the host's current one (null: not checked or no current key).</summary>
        public sealed class ModuleCheck
        {
            public ModuleCheck(ModuleAddress module, bool acceptsBackup, bool? acceptsCurrent)
            { Module = module; AcceptsBackup = acceptsBackup; AcceptsCurrent = acceptsCurrent; }
            public ModuleAddress Module { get; }
            public bool AcceptsBackup { get; }
            public bool? AcceptsCurrent { get; }
        }

        /// <summary>Checks one module against the backup's key and, if the host has a different current key, against that too.</summary>
        public async Task<ModuleCheck> CheckAsync(ModuleAddress module, SshKeyPair backupKey, SshKeyPair? current,
            IReadOnlyCollection<string> accepted, CancellationToken ct)
        {
            var backup = await AcceptsAsync(module, backupKey, accepted, ct).ConfigureAwait(false);
            if (current == null) return new ModuleCheck(module, backup, null);
            if (current.PublicKey.Fingerprint == backupKey.PublicKey.Fingerprint) return new ModuleCheck(module, backup, backup);
            return new ModuleCheck(module, backup, await AcceptsAsync(module, current, accepted, ct).ConfigureAwait(false));
        }

        /// <summary>
        /// The restore decision (issue 16): the current sshadmin key is replaced only if every module that accepts it
        /// also accepts the backup, and every enrolled module was checked. Throws RestoreKeyNotAccepted when no module
        /// accepts the backup, RestoreWouldLockOut (listing the modules) when replacing the key would lock a module out
        /// or could, for a module that could not be checked. Returns the modules that accept the backup.
        /// </summary>
        public IReadOnlyList<ModuleAddress> Decide(IReadOnlyCollection<ModuleCheck> checks, SshKeyPair? current, SshKeyPair backupKey,
            string backupPath)
        {
            var accepting = checks.Where(c => c.AcceptsBackup).Select(c => c.Module).ToList();
            if (checks.Count == 0)
                throw new HsmException(HsmErrorIds.RestoreKeyNotAccepted, HsmErrorKind.AuthenticationError,
                    $"No registered module could be checked against the backup '{backupPath}' ({backupKey.PublicKey.Fingerprint}): " +
                    "each one's error is above. Nothing was changed; fix those and run Restore-HsmSshKey again.", backupPath);
            if (accepting.Count == 0)
                throw new HsmException(HsmErrorIds.RestoreKeyNotAccepted, HsmErrorKind.AuthenticationError,
                    $"No attached module accepts the sshadmin key in '{backupPath}' ({backupKey.PublicKey.Fingerprint}), so nothing was changed. " +
                    "Check that the backup belongs to this host; a module returned to factory state needs Invoke-HsmEnroll instead.", backupPath);
            if (current == null || current.PublicKey.Fingerprint == backupKey.PublicKey.Fingerprint) return accepting;

            var lockedOut = checks.Where(c => c.AcceptsCurrent == true && !c.AcceptsBackup).Select(c => c.Module.Esn.Value)
                .OrderBy(e => e, StringComparer.Ordinal).ToList();
            var checkedEsns = new HashSet<string>(checks.Select(c => c.Module.Esn.Value), StringComparer.Ordinal);
            var notChecked =
                _host.Store.GetModules().Where(m => m.Status == ModuleStatus.Enrolled
                    && !checkedEsns.Contains(m.Esn)).Select(m => m.Esn).OrderBy(e => e).ToList();
            if (lockedOut.Count == 0 && notChecked.Count == 0) return accepting;
            var parts = new List<string>();
            if (lockedOut.Count > 0) parts.Add($"{string.Join(", ", lockedOut)} " +
                $"accept{(lockedOut.Count == 1 ? "s" : "")} the current key but not the backup");
            if (notChecked.Count > 0) parts.Add($"{string.Join(", ", notChecked)} could not be checked (unregistered or unreachable)");
            throw new HsmException(HsmErrorIds.RestoreWouldLockOut, HsmErrorKind.InvalidOperation,
                $"Restoring '{backupPath}' ({backupKey.PublicKey.Fingerprint}) would replace the " +
                $"host's current sshadmin key ({current.PublicKey.Fingerprint}), " +
                $"and {string.Join("; ", parts)}: they would be locked out. Nothing was changed; the host keeps its current key. " +
                "The current key still works: use Update-HsmSshKey to change keys, or bring " +
                "the listed modules back and check which backup they accept.",
                string.Join(",", lockedOut.Concat(notChecked)));
        }

        /// <summary>Makes the backup's key the host's sshadmin key (unless it already is).</summary>
        public void InstallSshAdminKey(KeyBackup.Opened backup)
        {
            var current = _host.Store.GetClientKey(ModuleServices.SshAdmin);
            if (current != null && current.Fingerprint == backup.Key.PublicKey.Fingerprint) return;
            // A verbatim backup keeps its protection, P included (under the host's key passphrase); a portable one gets the default.
            var protection = backup.Protection ?? ProtectionSpec.Default;
            if (protection.NeedsPassphrase && _host.KeyPassphrase == null)
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    "The backed-up sshadmin key is protected with a passphrase (P): give it with -KeyPassphrase.", ModuleServices.SshAdmin);
            // The key's age runs from when it was generated, if the backup says (a portable OpenSSH file does not: unknown).
            _host.Store.SaveClientKey(ModuleServices.SshAdmin, backup.Key, protection, protection.NeedsPassphrase ? _host.KeyPassphrase : null,
                backup.CreatedAt);
            _host.ForgetClientKey(ModuleServices.SshAdmin);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = "keys.restore", Service = ModuleServices.SshAdmin, Result = "Success",
                Fingerprints = new[] { backup.Key.PublicKey.Fingerprint }, Detail = backup.Portable ? "portable backup" : "verbatim backup",
            });
        }
    }
}
