using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Archived client keys (issue 16, lockouts): when a roll switches the host while a module was excluded
    /// (<c>Update-HsmSshKey -ExcludeEsn</c>), the keys that module still accepts are kept here, owner-only, as
    /// client-keys/archive/&lt;service&gt;-&lt;fingerprint&gt;.key/.pub/.json (the same files as a current key, copied verbatim,
    /// so they open with the same protection). A module's record (<see cref="ModuleRecord.OldKeys"/>) says which it needs;
    /// an archived key no module record names any more is deleted (<see cref="PruneArchivedClientKeys"/>).
    /// </summary>
    public sealed partial class HostStore
    {
        public string ArchivedClientKeysDirectory => Path.Combine(ClientKeysDirectory, "archive");

        /// <summary>"SHA256:ab+/c" → "sshadmin-SHA256-ab-_c": a file name that names the key.</summary>
        static string ArchiveBaseName(string service, string fingerprint) =>
            service + "-" + fingerprint.Replace(':', '-').Replace('+', '-').Replace('/', '_');

        string ArchivePath(string service, string fingerprint, string ext) =>
            Path.Combine(ArchivedClientKeysDirectory, ArchiveBaseName(service, fingerprint) + ext);

        /// <summary>
        /// Copies the service's current key set into the archive (idempotent). Returns the archived fingerprint, which
        /// must be <paramref name="expectedFingerprint"/> when given: a key already replaced is never archived in its place.
        /// </summary>
        public string ArchiveClientKey(string service, string? expectedFingerprint = null)
        {
            service = ModuleServices.Canonical(service);
            return Write(() =>
            {
                if (expectedFingerprint != null && GetArchivedClientKey(service, expectedFingerprint) != null) return expectedFingerprint;
                var (record, text) = ReadKeySet(service, pending: false);
                if (expectedFingerprint != null && record.Fingerprint != expectedFingerprint)
                    throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                        $"The host's current '{service}' key is {record.Fingerprint}, not {expectedFingerprint}, and that key is not archived.",
                        service);
                SecureFiles.EnsureDirectory(ClientKeysDirectory, FileAccessScope.OwnerOnly);
                SecureFiles.EnsureDirectory(ArchivedClientKeysDirectory, FileAccessScope.OwnerOnly);
                SecureFiles.WriteAtomic(ArchivePath(service, record.Fingerprint, ".key"), text, FileAccessScope.OwnerOnly);
                SecureFiles.WriteAtomic(ArchivePath(service, record.Fingerprint, ".pub"), record.PublicKey + "\n", FileAccessScope.OwnerOnly);
                StoreJson.WriteFile(ArchivePath(service, record.Fingerprint, ".json"), record, FileAccessScope.OwnerOnly);
                AppendAudit(new AuditEntry { Operation = "clientkey.archive", Service = service, Result = "Archived",
                    Fingerprints = new[] { record.Fingerprint } });
                return record.Fingerprint;
            });
        }

        public ClientKeyRecord? GetArchivedClientKey(string service, string fingerprint)
        {
            service = ModuleServices.Canonical(service);
            var path = ArchivePath(service, fingerprint, ".json");
            var json = TryReadText(path);
            if (json == null) return null;
            var record = StoreJson.Parse<ClientKeyRecord>(json, path);
            if (record.Service != service || record.Fingerprint != fingerprint)
                throw StoreJson.Corrupt(path, $"it does not describe the archived '{service}' key {fingerprint}");
            record.PrivateKeyPath = ArchivePath(service, fingerprint, ".key");
            return record;
        }

        /// <summary>Every archived key (public records only).</summary>
        public IReadOnlyList<ClientKeyRecord> GetArchivedClientKeys()
        {
            if (!Directory.Exists(ArchivedClientKeysDirectory)) return Array.Empty<ClientKeyRecord>();
            var list = new List<ClientKeyRecord>();
            foreach (var file in Directory.GetFiles(ArchivedClientKeysDirectory, "*.json").OrderBy(f => f, StringComparer.Ordinal))
            {
                var record = StoreJson.Parse<ClientKeyRecord>(File.ReadAllText(file), file);
                record.PrivateKeyPath = Path.ChangeExtension(file, ".key");
                list.Add(record);
            }
            return list;
        }

        /// <summary>Opens an archived private key (to reach a module that was excluded from a roll).</summary>
        public SshKeyPair OpenArchivedClientKey(string service, string fingerprint, SecureString? passphrase)
        {
            var record = GetArchivedClientKey(service, fingerprint)
                ?? throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                $"The archived '{service}' client key {fingerprint} is not in {ArchivedClientKeysDirectory}.", fingerprint);
            StorePermissions.CheckPrivateKey(this, record.PrivateKeyPath);
            var text = TryReadText(record.PrivateKeyPath) ?? throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                $"The private key file {record.PrivateKeyPath} of the archived '{service}' key is missing.", record.PrivateKeyPath);
            var key = ProtectorFor(record).Open(ToProtectedKey(record, text), passphrase,
                $"The archived '{service}' client key ({record.PrivateKeyPath})");
            if (key.PublicKey.Fingerprint == record.Fingerprint) return key;
            key.Dispose();
            throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                $"The private key file {record.PrivateKeyPath} does not match its metadata (expected {record.Fingerprint}).", record.PrivateKeyPath);
        }

        /// <summary>
        /// A roll that changes the passphrase (protection P) re-protects every archived P key under the new one while both
        /// are known, so a module excluded earlier can still be brought up to date with the host's current passphrase.
        /// Idempotent: a key that already opens under the new passphrase is left alone (a rerun after a crash). Returns the
        /// fingerprints re-protected; keys under neither passphrase are reported in <paramref name="unopened"/> and left alone.
        /// </summary>
        public IReadOnlyList<string> ReprotectArchivedClientKeys(SecureString? oldPassphrase, SecureString newPassphrase,
            ICollection<string>? unopened = null)
        {
            var done = new List<string>();
            foreach (var record in GetArchivedClientKeys().Where(r => r.ProtectionSpec.NeedsPassphrase))
            {
                SshKeyPair key;
                try { key = OpenArchivedClientKey(record.Service, record.Fingerprint, oldPassphrase); }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyWrongPassphrase || ex.ErrorId == HsmErrorIds.KeyPassphraseRequired)
                {
                    try { OpenArchivedClientKey(record.Service, record.Fingerprint, newPassphrase).Dispose(); }
                    catch (HsmException again) when (again.ErrorId == HsmErrorIds.KeyWrongPassphrase)
                    {
                        unopened?.Add($"{record.Service} {record.Fingerprint}");
                    }
                    continue;
                }
                using (key)
                {
                    var text = TryReadText(record.PrivateKeyPath) ?? throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                        $"The private key file {record.PrivateKeyPath} of the archived '{record.Service}' key is missing.", record.PrivateKeyPath);
                    var reprotected = ProtectorFor(record).Reprotect(ToProtectedKey(record, text), key, newPassphrase);
                    Write(() =>
                    {
                        SecureFiles.WriteAtomic(ArchivePath(record.Service, record.Fingerprint, ".key"), reprotected.PrivateKeyText,
                            FileAccessScope.OwnerOnly);
                        AppendAudit(new AuditEntry { Operation = "clientkey.archive-reprotect", Service = record.Service, Result = "Success",
                            Fingerprints = new[] { record.Fingerprint }, Detail = "archived key re-protected under the new passphrase" });
                        return 0;
                    });
                    done.Add(record.Fingerprint);
                }
            }
            return done;
        }

        /// <summary>Deletes every archived key that no module on the host's list still needs (<see cref="ModuleRecord.OldKeys"/>).</summary>
        public IReadOnlyList<string> PruneArchivedClientKeys()
        {
            return Write(() =>
            {
                var deleted = new List<string>();
                if (!Directory.Exists(ArchivedClientKeysDirectory)) return deleted;
                var needed = new HashSet<string>(GetModules().Where(m => m.OldKeys != null)
                    .SelectMany(m => m.OldKeys!.Select(k => ArchiveBaseName(k.Key, k.Value))), StringComparer.Ordinal);
                foreach (var record in GetArchivedClientKeys())
                {
                    var name = ArchiveBaseName(record.Service, record.Fingerprint);
                    if (needed.Contains(name)) continue;
                    // Record first: once it is gone the archived key no longer exists for readers.
                    foreach (var ext in new[] { ".json", ".key", ".pub" })
                        SecureFiles.TryDelete(ArchivePath(record.Service, record.Fingerprint, ext));
                    AppendAudit(new AuditEntry { Operation = "clientkey.archive-delete", Service = record.Service, Result = "Deleted",
                        Fingerprints = new[] { record.Fingerprint } });
                    deleted.Add(record.Fingerprint);
                }
                return deleted;
            });
        }
    }
}
