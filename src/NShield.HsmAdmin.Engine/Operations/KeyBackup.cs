using System;
using System.IO;
using System.Security;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Backups of the host's sshadmin client key (the vendor's `keys backup`), and reading them back.
    /// Two forms: verbatim (the stored key with its protection, so tied to this machine when that
    /// protection is) and portable (plain openssh-key-v1 under the user's passphrase, readable by ssh-keygen).
    /// </summary>
    public static class KeyBackup
    {
        public const string VerbatimFormat = "nshield-hsmadmin-key-backup-v1";
        private const int MaxBackupBytes = 64 * 1024;

        /// <summary>What a backup held, opened.</summary>
        public sealed class Opened : IDisposable
        {
            public Opened(SshKeyPair key, bool portable, ProtectionSpec? protection) { Key = key; Portable = portable; Protection = protection; }
            public SshKeyPair Key { get; }
            public bool Portable { get; }
            /// <summary>Verbatim backups: the protection the key had on its host.</summary>
            public ProtectionSpec? Protection { get; }
            /// <summary>When the key pair was generated, if the backup says (verbatim backups and share sets do); null: unknown.</summary>
            public DateTimeOffset? CreatedAt { get; set; }
            public void Dispose() => Key.Dispose();
        }

        /// <summary>What a backup written is: Portable or HostTied, and whether it opens only on this OS install.</summary>
        public sealed class Written
        {
            public Written(string kind, string protection, bool tied, string note, string path = "")
            {
                Kind = kind; Protection = protection; TiedToThisInstall = tied; Note = note; Path = path;
            }
            /// <summary>The backup file written (a full path).</summary>
            public string Path { get; }
            public string Kind { get; }
            public string Protection { get; }
            public bool TiedToThisInstall { get; }
            public string Note { get; }
        }

        /// <summary>The refusals that need no passphrase (a folder or a path into the store, existing file without
        /// force, no sshadmin key, missing folder), before any prompt.</summary>
        public static void CheckTarget(HostStore store, string path, bool force)
        {
            // First: a folder, the store, the machine folder or a managed file is refused even with -Force.
            ManagedPaths.CheckWritableTarget(store, path, "Backup-HsmSshKey");
            if (File.Exists(path) && !force)
                throw new HsmException(HsmErrorIds.FileExists, HsmErrorKind.ResourceExists,
                    $"'{path}' already exists. Choose another path, or use -Force to overwrite it.", path);
            if (store.GetClientKey(ModuleServices.SshAdmin) == null)
                throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                    $"This host ({store.Root}) has no sshadmin client key to back up. Run Invoke-HsmEnroll first.", store.Root);
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!Directory.Exists(directory))
                throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound, $"The folder '{directory}' does not exist.", path);
        }

        /// <summary>Writes a portable backup under <paramref name="passphrase"/>, or a verbatim (host-tied) copy when it is null.</summary>
        public static Written Write(HostStore store, string path, SecureString? passphrase, bool force, SecureString? currentKeyPassphrase = null)
        {
            CheckTarget(store, path, force);
            string text;
            var protection = store.GetClientKey(ModuleServices.SshAdmin)!.ProtectionSpec;
            if (passphrase != null)
            {
                if (passphrase.Length == 0)
                    throw new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                        "The backup passphrase must not be empty.", path);
                // Every new backup passphrase meets the policy, whichever way it came (parameter, prompt, a script).
                PassphrasePolicy.Require(passphrase, "The backup passphrase", path);
                var bytes = PassphraseBytes.FromSecureString(passphrase);
                try
                {
                    using (var key = store.OpenClientKey(ModuleServices.SshAdmin, currentKeyPassphrase))
                        text = OpenSshPrivateKey.Encode(key, bytes, OpenSshPrivateKey.DefaultRounds);
                }
                finally { PassphraseBytes.Zero(bytes); }
            }
            else
            {
                var stored = store.GetProtectedClientKey(ModuleServices.SshAdmin);
                var record = store.GetClientKey(ModuleServices.SshAdmin)!;
                text = JsonSerializer.Serialize(new VerbatimBackup
                {
                    Format = VerbatimFormat, Service = ModuleServices.SshAdmin, PublicKey = record.PublicKey, Fingerprint = record.Fingerprint,
                    Protection = stored.Protection.ToString(), KeyNonce = stored.KeyNonce == null ? null : Convert.ToBase64String(stored.KeyNonce),
                    MachineCheck = stored.MachineCheck, NonceStore = record.NonceStore, PrivateKey = stored.PrivateKeyText,
                    CreatedAt = DateTimeOffset.UtcNow, KeyCreatedAt = record.CreatedAt,
                }, new JsonSerializerOptions { WriteIndented = true });
            }
            SecureFiles.WriteAtomic(path, text, FileAccessScope.OwnerOnly);
            store.AppendAudit(new AuditEntry
            {
                Operation = "keys.backup", Service = ModuleServices.SshAdmin, Result = "Success",
                Fingerprints = new[] { store.GetClientKey(ModuleServices.SshAdmin)!.Fingerprint },
                Detail = passphrase != null ? "portable" : "verbatim",
            });
            if (passphrase != null)
                return new Written("Portable", "passphrase", false,
                    "Portable: restorable on any host with its passphrase (Restore-HsmSshKey -Passphrase, Move-HsmModule).", path);
            return protection.IsMachineBound
                ? new Written("HostTied", protection.ToString(), true,
                    $"Host-tied: the key keeps its protection ({protection}), so this backup " +
                    "can be restored only on this OS install of this machine, " +
                    "not on another machine or after the OS is reinstalled. For those, make a portable backup (Backup-HsmSshKey without -HostTied).",
                    path)
                : new Written("HostTied", protection.ToString(), false,
                    $"Verbatim: the key keeps its protection ({protection}), which does not tie it to this machine.", path);
        }

        /// <summary>
        /// The protection recorded in a verbatim backup (to know before opening it whether it needs the key's passphrase);
        /// null for a portable backup or a file that is not a readable verbatim backup (Read reports those).
        /// </summary>
        public static ProtectionSpec? VerbatimProtection(string path)
        {
            try
            {
                if (!File.Exists(path) || new FileInfo(path).Length > MaxBackupBytes) return null;
                var text = File.ReadAllText(path, Encoding.UTF8);
                if (!text.TrimStart().StartsWith("{", StringComparison.Ordinal)) return null;
                var backup = JsonSerializer.Deserialize<VerbatimBackup>(text);
                return backup?.Format == VerbatimFormat && ProtectionSpec.TryParse(backup.Protection, out var spec) ? spec : null;
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is JsonException) { return null; }
        }

        /// <summary>Opens a backup of either form; every kind of bad input gets its own typed error.</summary>
        public static Opened Read(HostStore store, string path, SecureString? passphrase) =>
            Read(store, path, passphrase, System.Threading.CancellationToken.None);

        /// <summary>As above; a portable backup's key derivation (bcrypt, at most OpenSshPrivateKey.MaxRounds rounds) stops when cancelled.</summary>
        public static Opened Read(HostStore store, string path, SecureString? passphrase, System.Threading.CancellationToken cancellationToken) =>
            Read(store, path, passphrase, null, cancellationToken);

        /// <summary>
        /// As above; <paramref name="keyPassphrase"/> opens a verbatim backup of a key whose protection includes P (the key's
        /// own passphrase, -KeyPassphrase), <paramref name="passphrase"/> a portable backup (-Passphrase).
        /// </summary>
        public static Opened Read(HostStore store, string path, SecureString? passphrase, SecureString? keyPassphrase,
            System.Threading.CancellationToken cancellationToken)
        {
            if (!File.Exists(path))
                throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound, $"The backup file '{path}' does not exist.", path);
            var info = new FileInfo(path);
            if (info.Length > MaxBackupBytes)
                throw new HsmException(HsmErrorIds.NotAnOpenSshKey, HsmErrorKind.InvalidData,
                    $"'{path}' is {info.Length} bytes: too large to be a key backup.", path);
            var text = File.ReadAllText(path, Encoding.UTF8);
            if (text.TrimStart().StartsWith("{", StringComparison.Ordinal))
                return ReadVerbatim(store, path, text, keyPassphrase, cancellationToken);

            byte[]? bytes = null;
            try
            {
                bool encrypted = OpenSshPrivateKey.IsEncrypted(text);
                if (encrypted && passphrase == null)
                    throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                        $"'{path}' is a passphrase-protected backup: give its passphrase with -Passphrase.", path);
                bytes = passphrase == null ? null : PassphraseBytes.FromSecureString(passphrase);
                return new Opened(OpenSshPrivateKey.Decode(text, encrypted ? bytes : null, cancellationToken), portable: true, protection: null);
            }
            catch (HsmException ex) when (!(ex.Target is string t && t == path))
            {
                throw new HsmException(ex.ErrorId, ex.Kind, $"Backup '{path}': {ex.Message}", path, ex);
            }
            finally { PassphraseBytes.Zero(bytes); }
        }

        private static Opened ReadVerbatim(HostStore store, string path, string text, SecureString? keyPassphrase,
            System.Threading.CancellationToken cancellationToken)
        {
            VerbatimBackup? backup;
            try { backup = JsonSerializer.Deserialize<VerbatimBackup>(text); }
            catch (JsonException ex)
            {
                throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                    $"'{path}' looks like a verbatim key backup but is damaged (not valid JSON).", path, ex);
            }
            if (backup == null || backup.Format != VerbatimFormat || string.IsNullOrEmpty(backup.PrivateKey)
                || string.IsNullOrEmpty(backup.Protection))
                throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                    $"'{path}' is not an NShield.HsmAdmin key backup (format '{backup?.Format}').", path);
            var protection = ProtectionSpec.Parse(backup.Protection);
            byte[]? nonce;
            try { nonce = backup.KeyNonce == null ? null : Convert.FromBase64String(backup.KeyNonce); }
            catch (FormatException ex)
            {
                throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData, $"'{path}' is damaged (key nonce).", path, ex);
            }
            var stored = new ProtectedKey(backup.PrivateKey!, protection, nonce, backup.MachineCheck);
            try
            {
                var key = new ClientKeyProtector(store.MachineFor(backup.NonceStore)).Open(stored, protection.NeedsPassphrase ? keyPassphrase : null,
                    $"the backup '{path}'", cancellationToken);
                if (!string.IsNullOrEmpty(backup.Fingerprint) && key.PublicKey.Fingerprint != backup.Fingerprint)
                {
                    key.Dispose();
                    throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                        $"'{path}' is damaged: its key does not match its recorded fingerprint.", path);
                }
                return new Opened(key, portable: false, protection: protection) { CreatedAt = backup.KeyCreatedAt };
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyTiedToAnotherMachine)
            {
                throw new HsmException(HsmErrorIds.BackupFromAnotherMachine, HsmErrorKind.SecurityError,
                    $"'{path}' is a verbatim backup whose protection ({protection}) ties it " +
                    "to the machine that made it, and this is another machine. " +
                    "Make a portable backup on that host with Backup-HsmSshKey -Passphrase, and restore that here.", path, ex);
            }
            catch (HsmException ex) when (protection.NeedsPassphrase
                && (ex.ErrorId == HsmErrorIds.KeyPassphraseRequired || ex.ErrorId == HsmErrorIds.KeyWrongPassphrase))
            {
                throw new HsmException(ex.ErrorId, ex.Kind, ex.ErrorId == HsmErrorIds.KeyPassphraseRequired
                    ? $"'{path}' is a verbatim backup of a key protected with a passphrase (protection " +
                        $"{protection}): give the key's passphrase with -KeyPassphrase."
                    : $"'{path}' is a verbatim backup of a key protected with a passphrase (protection " +
                        $"{protection}), and the -KeyPassphrase given does not open it.", path, ex);
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyPassphraseRequired || ex.ErrorId == HsmErrorIds.KeyWrongPassphrase)
            {
                throw new HsmException(ex.ErrorId, ex.Kind,
                    $"'{path}' cannot be opened here ({ex.Message}). If it was made on another machine, " +
                    "use a backup made with Backup-HsmSshKey -Passphrase.", path, ex);
            }
        }

        private sealed class VerbatimBackup
        {
            public string? Format { get; set; }
            public string? Service { get; set; }
            public string? PublicKey { get; set; }
            public string? Fingerprint { get; set; }
            public string? Protection { get; set; }
            public string? KeyNonce { get; set; }
            public string? MachineCheck { get; set; }
            /// <summary>The store whose own global nonce protects the key (G); null: the machine-wide nonce.</summary>
            public string? NonceStore { get; set; }
            public string? PrivateKey { get; set; }
            /// <summary>When the backup was written.</summary>
            public DateTimeOffset CreatedAt { get; set; }
            /// <summary>When the key pair was generated (issue 22; null: unknown, or a backup written before it was kept).</summary>
            public DateTimeOffset? KeyCreatedAt { get; set; }
        }
    }
}
