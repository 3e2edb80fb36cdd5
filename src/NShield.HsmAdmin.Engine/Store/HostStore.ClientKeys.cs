using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Client keys: client-keys/&lt;service&gt;.key (openssh-key-v1, 0600/owner-only), .pub (authorized_keys line),
    /// .json (<see cref="ClientKeyRecord"/>). A roll stages a new set under client-keys/pending/ and promotes it.
    /// Promotion is atomic through a marker file written first (the commit point): while the marker exists readers see
    /// each pending file in place of the current one, and the next lock holder finishes an interrupted promotion.
    /// </summary>
    public sealed partial class HostStore
    {
        static readonly string[] KeyFileExtensions = { ".key", ".pub", ".json" };

        string KeyFilePath(string service, string ext, bool pending) =>
            Path.Combine(pending ? PendingClientKeysDirectory : ClientKeysDirectory, service + ext);

        string PromoteMarkerPath(string service) => Path.Combine(PendingClientKeysDirectory, service + ".promote");

        // ---- current keys ----

        public ClientKeyRecord? GetClientKey(string service) => ReadRecord(ModuleServices.Canonical(service), pending: false);

        public IReadOnlyList<ClientKeyRecord> GetClientKeys() =>
            ModuleServices.All.Select(s => ReadRecord(s, pending: false)).Where(r => r != null).Select(r => r!).ToList();

        /// <summary>Saves (or replaces, atomically) the service's client key under <paramref name="protection"/>.</summary>
        public ClientKeyRecord SaveClientKey(string service, SshKeyPair key, ProtectionSpec protection, SecureString? passphrase) =>
            SaveClientKey(service, key, protection, passphrase, DateTimeOffset.UtcNow);

        /// <summary>
        /// As above for a key that was not generated just now (a restored backup): <paramref name="createdAt"/> is when the key
        /// pair was made, null when the backup does not say (the key's age is then shown as unknown).
        /// </summary>
        public ClientKeyRecord SaveClientKey(string service, SshKeyPair key, ProtectionSpec protection, SecureString? passphrase,
            DateTimeOffset? createdAt)
        {
            service = ModuleServices.Canonical(service);
            var (record, protectedKey) = ProtectOutsideLock(service, key, protection, passphrase);
            record.CreatedAt = createdAt;
            return Write(() =>
            {
                var previous = TryCurrentFingerprint(service);
                WritePending(service, record, protectedKey);
                PromoteClientKey(service, audit: false);
                AuditClientKeyChange("clientkey.save", service, previous, record.Fingerprint, null);
                return ReadRecord(service, pending: false)!;
            });
        }

        /// <summary>
        /// Records that the services' current keys were proven on every module at <paramref name="at"/> (the first time
        /// only: a later check does not move it).
        /// </summary>
        public void MarkClientKeysProven(IEnumerable<string> services, DateTimeOffset at)
        {
            Write(() =>
            {
                foreach (var service in services.Select(ModuleServices.Canonical).Distinct())
                {
                    var record = ReadRecord(service, pending: false);
                    if (record == null || record.ProvenAt != null) continue;
                    record.ProvenAt = at;
                    record.TracksProof = true;
                    StoreJson.WriteFile(KeyFilePath(service, ".json", false), record, FileAccessScope.Public);
                }
                return true;
            });
        }

        public SshKeyPair OpenClientKey(string service, SecureString? passphrase) => OpenKey(ModuleServices.Canonical(service), passphrase,
            pending: false);

        /// <summary>The stored private key text and protection, verbatim (for a backup that keeps its protection).</summary>
        public ProtectedKey GetProtectedClientKey(string service)
        {
            service = ModuleServices.Canonical(service);
            var (record, text) = ReadKeySet(service, pending: false);
            return ToProtectedKey(record, text);
        }

        public bool DeleteClientKey(string service)
        {
            service = ModuleServices.Canonical(service);
            return Write(() =>
            {
                var previous = TryCurrentFingerprint(service);
                // Metadata first: once it is gone the key no longer exists for readers.
                bool existed = false;
                foreach (var ext in new[] { ".json", ".key", ".pub" })
                {
                    var path = KeyFilePath(service, ext, pending: false);
                    if (File.Exists(path)) { File.Delete(path); existed = true; }
                }
                if (existed) AppendAudit(new AuditEntry { Operation = "clientkey.delete", Service = service, Result = "Deleted",
                    Fingerprints = previous == null ? null : new[] { previous } });
                return existed;
            });
        }

        // ---- pending keys (roll) ----

        public ClientKeyRecord StageClientKey(string service, SshKeyPair key, ProtectionSpec protection, SecureString? passphrase)
        {
            service = ModuleServices.Canonical(service);
            var (record, protectedKey) = ProtectOutsideLock(service, key, protection, passphrase);
            return Write(() => WritePending(service, record, protectedKey));
        }

        /// <summary>bcrypt-pbkdf is the slow part and touches no store file: done before taking the lock.</summary>
        (ClientKeyRecord, ProtectedKey) ProtectOutsideLock(string service, SshKeyPair key, ProtectionSpec protection, SecureString? passphrase)
        {
            // G: this store's own global nonce (issue 23), so another store's permission changes never touch it.
            var nonceStore = protection.Contains(ProtectionInput.GlobalNonce) && _injectedMachine == null ? PrepareOwnNonce() : null;
            var protectedKey = new ClientKeyProtector(MachineFor(nonceStore)).Protect(key, protection, passphrase);
            var record = new ClientKeyRecord
            {
                Service = service,
                Algorithm = key.Algorithm,
                Fingerprint = key.PublicKey.Fingerprint,
                PublicKey = key.PublicKey.ToAuthorizedKeysLine(),
                Protection = protection.ToString(),
                KeyNonce = protectedKey.KeyNonce == null ? null : Convert.ToBase64String(protectedKey.KeyNonce),
                MachineCheck = protectedKey.MachineCheck,
                NonceStore = nonceStore,
                InstalledAt = DateTimeOffset.UtcNow,
                TracksProof = true,
                // Generated now unless the caller (a restore) says otherwise.
                CreatedAt = DateTimeOffset.UtcNow,
                TracksCreation = true,
            };
            return (record, protectedKey);
        }

        ClientKeyRecord WritePending(string service, ClientKeyRecord record, ProtectedKey protectedKey)
        {
            SecureFiles.EnsureDirectory(ClientKeysDirectory, FileAccessScope.OwnerOnly);
            SecureFiles.EnsureDirectory(PendingClientKeysDirectory, FileAccessScope.OwnerOnly);
            if (File.Exists(PromoteMarkerPath(service))) FinishPromotionAudited(service, "finished an interrupted promotion");
            SecureFiles.WriteAtomic(KeyFilePath(service, ".key", true), protectedKey.PrivateKeyText, FileAccessScope.OwnerOnly);
            SecureFiles.WriteAtomic(KeyFilePath(service, ".pub", true), record.PublicKey + "\n", FileAccessScope.Public);
            StoreJson.WriteFile(KeyFilePath(service, ".json", true), record, FileAccessScope.Public);
            record.PrivateKeyPath = KeyFilePath(service, ".key", true);
            record.IsPending = true;
            return record;
        }

        public ClientKeyRecord? GetPendingClientKey(string service)
        {
            service = ModuleServices.Canonical(service);
            return File.Exists(PromoteMarkerPath(service)) ? null : ReadRecord(service, pending: true);
        }

        public IReadOnlyList<ClientKeyRecord> GetPendingClientKeys() =>
            ModuleServices.All.Select(GetPendingClientKey).Where(r => r != null).Select(r => r!).ToList();

        public SshKeyPair OpenPendingClientKey(string service, SecureString? passphrase) => OpenKey(ModuleServices.Canonical(service),
            passphrase, pending: true);

        /// <summary>Makes the staged key the current one, atomically. NoClientKeys if nothing complete is staged.</summary>
        public void PromoteClientKey(string service) => PromoteClientKey(service, audit: true);

        void PromoteClientKey(string service, bool audit)
        {
            service = ModuleServices.Canonical(service);
            Write(() =>
            {
                if (File.Exists(PromoteMarkerPath(service))) { FinishPromotionAudited(service, "finished an interrupted promotion"); return; }
                foreach (var ext in KeyFileExtensions)
                    if (!File.Exists(KeyFilePath(service, ext, true)))
                        throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                            $"No complete pending client key for '{service}' to promote ({KeyFilePath(service, ext, true)} is missing).", service);
                var previous = TryCurrentFingerprint(service);
                // The moment the key is switched in: what the hardserver's start time is compared with.
                var staged = ReadRecord(service, pending: true)!;
                staged.ActivatedAt = DateTimeOffset.UtcNow;
                StoreJson.WriteFile(KeyFilePath(service, ".json", true), staged, FileAccessScope.Public);
                SecureFiles.WriteAtomic(PromoteMarkerPath(service), staged.Fingerprint + "\n", FileAccessScope.OwnerOnly);
                FinishPromotion(service);
                if (audit) AuditClientKeyChange("clientkey.promote", service, previous, staged.Fingerprint, null);
            });
        }

        /// <summary>Finishes a promotion whose marker (commit point) an earlier call or process left, and audits it.</summary>
        void FinishPromotionAudited(string service, string detail)
        {
            string? staged = null;
            try { staged = File.ReadAllText(PromoteMarkerPath(service)).Trim(); } catch (IOException) { }
            FinishPromotion(service);
            AuditClientKeyChange("clientkey.promote", service, null, string.IsNullOrEmpty(staged) ? TryCurrentFingerprint(service) : staged, detail);
        }

        /// <summary>The current key's fingerprint, or null if none (or unreadable: the audit must not fail the change).</summary>
        string? TryCurrentFingerprint(string service)
        {
            try { return ReadRecord(service, pending: false)?.Fingerprint; }
            catch (HsmException) { return null; }
        }

        /// <summary>A change of the host's client key is audited here, whoever the caller (enroll, roll, restore).</summary>
        void AuditClientKeyChange(string operation, string service, string? previous, string? current, string? detail)
        {
            var what = previous == null ? "Installed" : previous == current ? "Rewritten" : "Replaced";
            var text = previous == null ? detail : $"previous: {previous}" + (detail == null ? "" : "; " + detail);
            AppendAudit(new AuditEntry
            {
                Operation = operation, Service = service, Result = what,
                Fingerprints = current == null ? null : new[] { current }, Detail = text,
            });
        }

        public bool DiscardPendingClientKey(string service)
        {
            service = ModuleServices.Canonical(service);
            return Write(() =>
            {
                if (File.Exists(PromoteMarkerPath(service)))
                {
                    FinishPromotionAudited(service, "finished an interrupted promotion");
                    return false; // committed already
                }
                bool existed = false;
                foreach (var ext in new[] { ".json", ".key", ".pub" })
                {
                    var path = KeyFilePath(service, ext, true);
                    if (File.Exists(path)) { File.Delete(path); existed = true; }
                }
                return existed;
            });
        }

        /// <summary>Idempotent: moves whatever pending files remain, then drops the marker.</summary>
        void FinishPromotion(string service)
        {
            foreach (var ext in KeyFileExtensions) // .key first, .json (what GetClientKey reads) last
            {
                var from = KeyFilePath(service, ext, true);
                if (File.Exists(from)) SecureFiles.ReplaceAtomic(from, KeyFilePath(service, ext, false));
            }
            ReapplyKeyGrant(service); // a group granted this service's key keeps it across rolls
            File.Delete(PromoteMarkerPath(service));
        }

        void CompleteInterruptedPromotions()
        {
            if (!Directory.Exists(PendingClientKeysDirectory)) return;
            foreach (var marker in Directory.GetFiles(PendingClientKeysDirectory, "*.promote"))
            {
                var service = Path.GetFileNameWithoutExtension(marker);
                if (ModuleServices.IsKnown(service))
                    lock (_lock.FileGate) FinishPromotionAudited(service, "finished a promotion interrupted by a crash");
            }
        }

        // ---- reading ----

        /// <summary>Reads one file of a key set; during a promotion (marker present) the pending file wins if still there.</summary>
        string? ReadKeyFile(string service, string ext, bool pending)
        {
            if (!pending && File.Exists(PromoteMarkerPath(service)))
            {
                var staged = TryReadStoreFile(KeyFilePath(service, ext, true));
                if (staged != null) return staged;
            }
            return TryReadStoreFile(KeyFilePath(service, ext, pending));
        }

        /// <summary>A private key file is read only if the store's permissions still hold (StoreInsecurePermissions).</summary>
        string? TryReadStoreFile(string path)
        {
            if (path.EndsWith(".key", StringComparison.Ordinal)) StorePermissions.CheckPrivateKey(this, path);
            return TryReadText(path);
        }

        string? TryReadText(string path)
        {
            try { return File.ReadAllText(path); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            // Staged and archived keys belong to a change in progress, which only root makes: invisible to other accounts.
            catch (UnauthorizedAccessException) when (!path.EndsWith(".key", StringComparison.Ordinal)
                && (path.StartsWith(PendingClientKeysDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal)
                    || path.StartsWith(ArchivedClientKeysDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))) { return null; }
            catch (UnauthorizedAccessException e)
            {
                throw new HsmException(HsmErrorIds.PrivilegeRequired, HsmErrorKind.PermissionDenied, path.EndsWith(".key", StringComparison.Ordinal)
                    ? $"This account may not read the client key file {path}: keys are readable by root only, or by a group an administrator " +
                      "granted that key (Set-HsmSshKeyPermission). Run as root, or ask for the grant. Nothing was changed."
                    : $"This account may not read the host store file {path} (root only until an administrator grants a group a key with " +
                      "Set-HsmSshKeyPermission). Run as root, or ask for the grant. Nothing was changed.", path, e);
            }
        }

        ClientKeyRecord? ReadRecord(string service, bool pending)
        {
            var json = ReadKeyFile(service, ".json", pending);
            if (json == null) return null;
            var path = KeyFilePath(service, ".json", pending);
            var record = StoreJson.Parse<ClientKeyRecord>(json, path);
            if (record.Service != service || string.IsNullOrEmpty(record.Fingerprint) || !ProtectionSpec.TryParse(record.Protection, out _))
                throw StoreJson.Corrupt(path, $"it does not describe a '{service}' client key");
            record.PrivateKeyPath = KeyFilePath(service, ".key", pending);
            record.IsPending = pending;
            return record;
        }

        (ClientKeyRecord Record, string PrivateKeyText) ReadKeySet(string service, bool pending)
        {
            var record = ReadRecord(service, pending) ?? throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                $"The host has no {(pending ? "pending " : "")}client key for '{service}' in {Root}.", service);
            var text = ReadKeyFile(service, ".key", pending) ?? throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                $"The private key file {record.PrivateKeyPath} of the '{service}' client key is missing.", record.PrivateKeyPath);
            return (record, text);
        }

        static ProtectedKey ToProtectedKey(ClientKeyRecord record, string text)
        {
            byte[]? nonce = null;
            if (record.KeyNonce != null)
            {
                try { nonce = Convert.FromBase64String(record.KeyNonce); }
                catch (FormatException e)
                {
                    throw StoreJson.Corrupt(Path.ChangeExtension(record.PrivateKeyPath, ".json"), "keyNonce is not base64", e);
                }
            }
            return new ProtectedKey(text, record.ProtectionSpec, nonce, record.MachineCheck);
        }

        SshKeyPair OpenKey(string service, SecureString? passphrase, bool pending)
        {
            // A promotion may land between reading the metadata and the key: retry once if they disagree.
            for (int attempt = 0; ; attempt++)
            {
                var (record, text) = ReadKeySet(service, pending);
                var key = ProtectorFor(record).Open(ToProtectedKey(record, text), passphrase,
                    $"The '{service}' client key ({record.PrivateKeyPath})");
                if (key.PublicKey.Fingerprint == record.Fingerprint) return key;
                key.Dispose();
                if (attempt >= 1)
                    throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                        $"The private key file {record.PrivateKeyPath} does not match its metadata (expected {record.Fingerprint}).",
                        record.PrivateKeyPath);
            }
        }
    }
}
