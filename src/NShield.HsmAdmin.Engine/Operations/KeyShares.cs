using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Split custody of the sshadmin backup (issue 22, item 9): the portable backup (openssh-key-v1) split into N share files
    /// with Shamir's scheme over GF(256), any K of which give it back (Backup-HsmSshKey -Shares N -Threshold K;
    /// Restore-HsmSshKey / Move-HsmModule -SharePath). Each share file carries the backup id, the key's fingerprint, K and N,
    /// its own index, and a checksum over all of it, so a damaged share, shares of two different backups, or too few shares
    /// are each told apart before anything is combined; the combined backup is then checked against the SHA-256 and the
    /// fingerprint every share recorded.
    /// The shares replace the backup passphrase: K custodians together (dual control) open it, no one alone. With
    /// -Passphrase the backup inside is also encrypted under it (K shares and the passphrase).
    /// </summary>
    public static class KeyShares
    {
        public const string Format = "nshield-hsmadmin-key-share-v1";
        public const string FileSuffix = ".share";
        private const int MaxShareBytes = 64 * 1024;

        /// <summary>The share files a split writes: &lt;path&gt;.&lt;i&gt;-of-&lt;n&gt;.share.</summary>
        public static IReadOnlyList<string> SharePaths(string path, int count) =>
            Enumerable.Range(1, count).Select(i => $"{path}.{i}-of-{count}{FileSuffix}").ToList();

        /// <summary>
        /// The refusals that need no key and no passphrase: share counts (2 ≤ K ≤ N ≤ 255), folders and managed paths, existing
        /// files without -Force, a missing folder, a host without an sshadmin key. Nothing is written.
        /// </summary>
        public static void CheckTarget(HostStore store, string path, int count, int threshold, bool force)
        {
            if (threshold < 2 || count < threshold || count > 255)
                throw new HsmException(HsmErrorIds.InvalidShareSplit, HsmErrorKind.InvalidArgument,
                    $"-Shares {count} -Threshold {threshold}: a split needs 2 <= Threshold <= Shares <= 255 (a threshold of 1 would make every " +
                    "share a whole backup). Nothing was written.", path);
            foreach (var share in SharePaths(path, count))
                KeyBackup.CheckTarget(store, share, force);
        }

        /// <summary>What a split wrote: one entry per share file.</summary>
        public sealed class WrittenShare
        {
            public WrittenShare(string path, int index, int count, int threshold, string backupId, string fingerprint)
            { Path = path; Index = index; Count = count; Threshold = threshold; BackupId = backupId; Fingerprint = fingerprint; }
            public string Path { get; }
            public int Index { get; }
            public int Count { get; }
            public int Threshold { get; }
            public string BackupId { get; }
            public string Fingerprint { get; }
        }

        /// <summary>
        /// Writes the N share files (owner-only) of a portable backup of the host's sshadmin key, encrypted under
        /// <paramref name="passphrase"/> when one is given. All or nothing: a failure removes the shares already written.
        /// </summary>
        public static IReadOnlyList<WrittenShare> Write(HostStore store, string path, int count, int threshold, SecureString? passphrase, bool force,
            SecureString? currentKeyPassphrase = null)
        {
            CheckTarget(store, path, count, threshold, force);
            if (passphrase != null && passphrase.Length == 0)
                throw new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument, "The backup passphrase must not be empty.", path);
            // A new passphrase (issue 21's policy), as for a portable backup file.
            if (passphrase != null) PassphrasePolicy.Require(passphrase, "The backup passphrase", path);
            var record = store.GetClientKey(ModuleServices.SshAdmin)!;
            byte[] secret;
            var bytes = passphrase == null ? null : PassphraseBytes.FromSecureString(passphrase);
            try
            {
                using (var key = store.OpenClientKey(ModuleServices.SshAdmin, currentKeyPassphrase))
                    secret = Encoding.UTF8.GetBytes(OpenSshPrivateKey.Encode(key, bytes, OpenSshPrivateKey.DefaultRounds));
            }
            finally { PassphraseBytes.Zero(bytes); }

            var backupId = Guid.NewGuid().ToString("N");
            var paths = SharePaths(path, count);
            var written = new List<WrittenShare>();
            try
            {
                var values = Shamir.Split(secret, count, threshold);
                var secretHash = Hex(Sha256(secret));
                for (int i = 0; i < count; i++)
                {
                    var share = new ShareFile
                    {
                        Format = Format, BackupId = backupId, Service = ModuleServices.SshAdmin, Fingerprint = record.Fingerprint,
                        KeyCreatedAt = record.CreatedAt, Threshold = threshold, Shares = count, Index = i + 1,
                        Passphrase = passphrase != null, SecretLength = secret.Length, SecretSha256 = secretHash,
                        Value = Convert.ToBase64String(values[i]),
                    };
                    share.Checksum = Checksum(share);
                    Array.Clear(values[i], 0, values[i].Length);
                    SecureFiles.WriteAtomic(paths[i], JsonSerializer.Serialize(share, JsonOptions) + "\n", FileAccessScope.OwnerOnly);
                    written.Add(new WrittenShare(paths[i], i + 1, count, threshold, backupId, record.Fingerprint));
                }
            }
            catch
            {
                foreach (var w in written) SecureFiles.TryDelete(w.Path);
                throw;
            }
            finally { Array.Clear(secret, 0, secret.Length); }
            store.AppendAudit(new AuditEntry
            {
                Operation = "keys.backup", Service = ModuleServices.SshAdmin, Result = "Success", Fingerprints = new[] { record.Fingerprint },
                Detail = $"shares: {threshold} of {count}, backup id {backupId}{(passphrase != null ? ", under a passphrase" : "")}",
            });
            return written;
        }

        /// <summary>
        /// Opens the portable backup held by <paramref name="paths"/>: every file is read and checked first (ShareCorrupt,
        /// ShareSetMixed), then at least K distinct shares are needed (ShareThresholdNotMet), then the combined backup must
        /// match what the shares recorded (hash and fingerprint) before it is decoded (under <paramref name="passphrase"/>
        /// when the set was made with one).
        /// </summary>
        public static KeyBackup.Opened Read(IReadOnlyList<string> paths, SecureString? passphrase, CancellationToken cancellationToken)
        {
            if (paths == null || paths.Count == 0)
                throw new HsmException(HsmErrorIds.ShareThresholdNotMet, HsmErrorKind.InvalidArgument,
                    "No share files were given. Nothing was changed.");
            var shares = paths.Select(ReadOne).ToList();
            var first = shares[0];
            foreach (var s in shares.Skip(1))
            {
                if (s.File.BackupId != first.File.BackupId || s.File.Fingerprint != first.File.Fingerprint || s.File.Threshold != first.File.Threshold
                    || s.File.Shares != first.File.Shares || s.File.SecretSha256 != first.File.SecretSha256)
                    throw new HsmException(HsmErrorIds.ShareSetMixed, HsmErrorKind.InvalidData,
                        $"'{s.Path}' belongs to another backup (backup id {s.File.BackupId}, key {s.File.Fingerprint}) than '{first.Path}' " +
                        $"(backup id {first.File.BackupId}, key {first.File.Fingerprint}). Give shares of one backup only. Nothing was changed.",
                        s.Path);
            }
            var distinct = new Dictionary<int, Loaded>();
            foreach (var s in shares)
            {
                if (distinct.TryGetValue(s.File.Index, out var same))
                {
                    if (same.File.Value != s.File.Value)
                        throw new HsmException(HsmErrorIds.ShareCorrupt, HsmErrorKind.InvalidData,
                            $"'{same.Path}' and '{s.Path}' are both share {s.File.Index} of backup {s.File.BackupId} but differ. " +
                            "Nothing was changed.", s.Path);
                    continue;
                }
                distinct[s.File.Index] = s;
            }
            var threshold = first.File.Threshold;
            if (distinct.Count < threshold)
                throw new HsmException(HsmErrorIds.ShareThresholdNotMet, HsmErrorKind.InvalidArgument,
                    $"Backup {first.File.BackupId} (key {first.File.Fingerprint}) needs {threshold} of its {first.File.Shares} shares; " +
                    $"{distinct.Count} different share(s) were given ({string.Join(", ", distinct.Keys.OrderBy(k => k))}). Nothing was changed.",
                    first.File.BackupId);
            var chosen = distinct.Values.OrderBy(s => s.File.Index).Take(threshold).ToList();
            var secret = Shamir.Combine(chosen.Select(s => ((byte)s.File.Index, s.Values)).ToList());
            try
            {
                if (Hex(Sha256(secret)) != first.File.SecretSha256)
                    throw new HsmException(HsmErrorIds.ShareCorrupt, HsmErrorKind.InvalidData,
                        $"The shares {string.Join(", ", chosen.Select(s => $"'{s.Path}'"))} do not combine into the backup they describe " +
                        "(its SHA-256 differs): one of them was altered. Nothing was changed.", first.File.BackupId);
                var text = Encoding.UTF8.GetString(secret);
                bool encrypted = OpenSshPrivateKey.IsEncrypted(text);
                if (encrypted && passphrase == null)
                    throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                        $"The shares of backup {first.File.BackupId} hold a backup that is also protected by a passphrase: give it with -Passphrase.",
                        first.File.BackupId);
                var bytes = encrypted ? PassphraseBytes.FromSecureString(passphrase!) : null;
                SshKeyPair key;
                try { key = OpenSshPrivateKey.Decode(text, bytes, cancellationToken); }
                finally { PassphraseBytes.Zero(bytes); }
                if (key.PublicKey.Fingerprint != first.File.Fingerprint)
                {
                    key.Dispose();
                    throw new HsmException(HsmErrorIds.ShareCorrupt, HsmErrorKind.InvalidData,
                        $"The key the shares hold ({key.PublicKey.Fingerprint}) is not the one they name ({first.File.Fingerprint}). " +
                        "Nothing was changed.",
                        first.File.BackupId);
                }
                return new KeyBackup.Opened(key, portable: true, protection: null) { CreatedAt = first.File.KeyCreatedAt };
            }
            finally { Array.Clear(secret, 0, secret.Length); }
        }

        /// <summary>How a share set is named in messages.</summary>
        public static string Describe(IReadOnlyList<string> paths) => "the key shares " + string.Join(", ", paths.Select(p => $"'{p}'"));

        private sealed class Loaded
        {
            public Loaded(string path, ShareFile file, byte[] values) { Path = path; File = file; Values = values; }
            public string Path { get; }
            public ShareFile File { get; }
            public byte[] Values { get; }
        }

        private static Loaded ReadOne(string path)
        {
            if (!File.Exists(path))
                throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound,
                    $"The share file '{path}' does not exist. Nothing was changed.", path);
            if (new FileInfo(path).Length > MaxShareBytes)
                throw Corrupt(path, "too large to be a key share");
            ShareFile? file;
            try { file = JsonSerializer.Deserialize<ShareFile>(File.ReadAllText(path, Encoding.UTF8), JsonOptions); }
            catch (Exception ex) when (ex is JsonException || ex is DecoderFallbackException) { throw Corrupt(path, "not valid JSON"); }
            if (file == null || file.Format != Format) throw Corrupt(path, $"not an NShield.HsmAdmin key share (format '{file?.Format}')");
            if (file.Checksum != Checksum(file)) throw Corrupt(path, "its checksum does not match its content (the file was damaged or edited)");
            if (file.Threshold < 2 || file.Shares < file.Threshold || file.Shares > 255 || file.Index < 1 || file.Index > file.Shares)
                throw Corrupt(path, "its share numbers are out of range");
            byte[] values;
            try { values = Convert.FromBase64String(file.Value ?? ""); }
            catch (FormatException) { throw Corrupt(path, "its share value is not base64"); }
            if (values.Length != file.SecretLength || values.Length == 0) throw Corrupt(path, "its share value has the wrong length");
            return new Loaded(path, file, values);
        }

        private static HsmException Corrupt(string path, string why) =>
            new HsmException(HsmErrorIds.ShareCorrupt, HsmErrorKind.InvalidData,
                $"The share file '{path}' is damaged: {why}. Nothing was changed.", path);

        /// <summary>SHA-256 over every field but the checksum, in a fixed order (lowercase hex).</summary>
        private static string Checksum(ShareFile f) =>
            Hex(Sha256(Encoding.UTF8.GetBytes(string.Join("\n", new[]
            {
                f.Format, f.BackupId, f.Service, f.Fingerprint, f.KeyCreatedAt?.ToUniversalTime().ToString("o") ?? "",
                f.Threshold.ToString(), f.Shares.ToString(), f.Index.ToString(), f.Passphrase ? "1" : "0",
                f.SecretLength.ToString(), f.SecretSha256, f.Value,
            }.Select(v => v ?? "")))));

        private static byte[] Sha256(byte[] data)
        {
            using (var sha = SHA256.Create()) return sha.ComputeHash(data);
        }

        private static string Hex(byte[] b) => string.Concat(b.Select(x => x.ToString("x2")));

        private static readonly JsonSerializerOptions JsonOptions = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        };

        private sealed class ShareFile
        {
            public string? Format { get; set; }
            /// <summary>Random id shared by the N shares of one split: shares of two splits never mix, even of the same key.</summary>
            public string? BackupId { get; set; }
            public string? Service { get; set; }
            /// <summary>The sshadmin public key's fingerprint (public): which key the set restores.</summary>
            public string? Fingerprint { get; set; }
            public DateTimeOffset? KeyCreatedAt { get; set; }
            public int Threshold { get; set; }
            public int Shares { get; set; }
            /// <summary>This share's x coordinate (1..Shares).</summary>
            public int Index { get; set; }
            /// <summary>The backup inside is also encrypted under a passphrase.</summary>
            public bool Passphrase { get; set; }
            public int SecretLength { get; set; }
            /// <summary>SHA-256 of the whole backup, to prove the combination (not of any share).</summary>
            public string? SecretSha256 { get; set; }
            /// <summary>The share's bytes (the polynomials' values at Index), base64.</summary>
            public string? Value { get; set; }
            public string? Checksum { get; set; }
        }
    }
}
