using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>Trusted vendor roots: trusted-roots/&lt;name&gt;.pub, one authorized_keys line each.</summary>
    public sealed partial class HostStore
    {
        static readonly Regex RootName = new Regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", RegexOptions.CultureInvariant);

        string TrustedRootPath(string name)
        {
            if (name == null || !RootName.IsMatch(name) || name.Contains(".."))
                throw new HsmException(HsmErrorIds.InvalidName, HsmErrorKind.InvalidArgument,
                    $"'{name}' is not a valid trusted root name (letters, digits, '.', '_', '-'; at most 64).", name);
            return Path.Combine(TrustedRootsDirectory, name + ".pub");
        }

        public IReadOnlyList<TrustedRoot> GetTrustedRoots()
        {
            if (!Directory.Exists(TrustedRootsDirectory)) return Array.Empty<TrustedRoot>();
            var roots = new List<TrustedRoot>();
            foreach (var path in Directory.GetFiles(TrustedRootsDirectory, "*.pub").OrderBy(p => p, StringComparer.Ordinal))
            {
                var line = File.ReadAllLines(path).FirstOrDefault(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith("#"));
                SshPublicKey key;
                try { key = SshPublicKey.Parse(line ?? ""); }
                catch (HsmException e) { throw StoreJson.Corrupt(path, "it holds no valid public key line", e); }
                roots.Add(new TrustedRoot(Path.GetFileNameWithoutExtension(path), key, path));
            }
            return roots;
        }

        /// <summary>Adds a root. The same key under the same name is a no-op; a different key needs
        /// <paramref name="overwrite"/> (else FileExists).</summary>
        public TrustedRoot AddTrustedRoot(string name, SshPublicKey key, bool overwrite = false)
        {
            var path = TrustedRootPath(name);
            return Write(() =>
            {
                var existing = GetTrustedRoots().FirstOrDefault(r => r.Name == name);
                if (existing != null && existing.PublicKey.Fingerprint != key.Fingerprint && !overwrite)
                    throw new HsmException(HsmErrorIds.FileExists, HsmErrorKind.ResourceExists,
                        $"A different trusted root named '{name}' exists ({existing.PublicKey.Fingerprint}); " +
                        "remove it first or overwrite explicitly.", path);
                SecureFiles.EnsureDirectory(TrustedRootsDirectory, FileAccessScope.Public);
                SecureFiles.WriteAtomic(path, key.ToAuthorizedKeysLine() + "\n", FileAccessScope.Public);
                if (existing == null || existing.PublicKey.Fingerprint != key.Fingerprint)
                    AppendAudit(new AuditEntry
                    {
                        Operation = "trustedroot.add", Result = existing == null ? "Added" : "Replaced", Fingerprints = new[] { key.Fingerprint },
                        Detail = $"'{name}'" + (existing == null ? "" : $" (was {existing.PublicKey.Fingerprint})"),
                    });
                return new TrustedRoot(name, key, path);
            });
        }

        public bool RemoveTrustedRoot(string name)
        {
            var path = TrustedRootPath(name);
            return Write(() =>
            {
                if (!File.Exists(path)) return false;
                string fingerprint;
                try
                {
                    fingerprint = SshPublicKey.Parse(
                        File.ReadAllLines(path).FirstOrDefault(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith("#")) ?? "").Fingerprint;
                }
                catch (HsmException) { fingerprint = "(unreadable)"; }
                File.Delete(path);
                AppendAudit(new AuditEntry { Operation = "trustedroot.remove", Result = "Removed", Fingerprints = new[] { fingerprint },
                    Detail = $"'{name}'" });
                return true;
            });
        }
    }
}
