using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;

namespace NShield.HsmAdmin.Store
{
    /// <summary>Metadata of one host client key (client-keys/&lt;service&gt;.json). Public data only.</summary>
    public sealed class ClientKeyRecord
    {
        public string Service { get; set; } = "";
        public SshKeyAlgorithm Algorithm { get; set; }
        /// <summary>"SHA256:" + unpadded base64, as ssh-keygen -l prints it.</summary>
        public string Fingerprint { get; set; } = "";
        /// <summary>authorized_keys line.</summary>
        public string PublicKey { get; set; } = "";
        /// <summary>Canonical protection letters ("KFG") or "none".</summary>
        public string Protection { get; set; } = "none";
        /// <summary>K input, base64; null when K is not used.</summary>
        public string? KeyNonce { get; set; }
        /// <summary>See <see cref="ProtectedKey.MachineCheck"/>.</summary>
        public string? MachineCheck { get; set; }
        /// <summary>
        /// Keys with G: the id of the store whose own global nonce protects the key (machine folder stores/&lt;id&gt;/global.nonce).
        /// Null for keys written before issue 23, which use the machine-wide global.nonce shared by every store.
        /// </summary>
        public string? NonceStore { get; set; }
        /// <summary>When the host staged (created) the key; shown as StagedAt. The name stays for stores written before issue 12.</summary>
        public DateTimeOffset InstalledAt { get; set; }
        /// <summary>When the key was proven on every module (a roll, restore or enrollment verified it everywhere); null until then.</summary>
        public DateTimeOffset? ProvenAt { get; set; }
        /// <summary>True for records written since ProvenAt exists: a null ProvenAt then means "not yet on every module", not "unknown".</summary>
        public bool TracksProof { get; set; }
        /// <summary>When the key was switched in as the host's current key (null in stores written before it was recorded).</summary>
        public DateTimeOffset? ActivatedAt { get; set; }

        /// <summary>
        /// When the key pair was generated (issue 22, the key-age policy). Null when unknown: a key restored from a backup that
        /// does not say when its key was made, or a record written before this was tracked (<see cref="TracksCreation"/> false).
        /// </summary>
        public DateTimeOffset? CreatedAt { get; set; }
        /// <summary>True for records written since CreatedAt exists: a null CreatedAt then means the backup did not say.</summary>
        public bool TracksCreation { get; set; }

        /// <summary><see cref="ActivatedAt"/>, or <see cref="InstalledAt"/> for older records.</summary>
        [JsonIgnore] public DateTimeOffset EffectiveActivatedAt => ActivatedAt ?? InstalledAt;

        /// <summary>Where the private key file is (current or pending), for messages; not serialised.</summary>
        [JsonIgnore] public string PrivateKeyPath { get; set; } = "";
        [JsonIgnore] public bool IsPending { get; set; }
        [JsonIgnore] public ProtectionSpec ProtectionSpec => ProtectionSpec.Parse(Protection);
    }

    public enum ModuleStatus
    {
        Enrolled,
        /// <summary>Handed to another host (Move-HsmModule); kept so the source remembers where it went.</summary>
        Released,
    }

    /// <summary>One entry of modules.json.</summary>
    public sealed class ModuleRecord
    {
        public string Esn { get; set; } = "";
        public ModuleStatus Status { get; set; }
        public DateTimeOffset? EnrolledAt { get; set; }
        /// <summary>Fingerprint of the destination host's sshadmin key the module was released to.</summary>
        public string? ReleasedTo { get; set; }
        public DateTimeOffset? ReleasedAt { get; set; }
        public DateTimeOffset UpdatedAt { get; set; }
        /// <summary>
        /// Host keys this module still accepts in place of the current ones, service → fingerprint of a key kept in
        /// client-keys/archive/: the module was excluded from a roll (Update-HsmSshKey -ExcludeEsn). Null or empty when
        /// the module has the host's current keys. Invoke-HsmEnroll or the next Update-HsmSshKey brings it up to date.
        /// </summary>
        public Dictionary<string, string>? OldKeys { get; set; }
    }

    /// <summary>A vendor root public key the host trusts for module certificate chains (trusted-roots/&lt;name&gt;.pub).</summary>
    public sealed class TrustedRoot
    {
        public TrustedRoot(string name, SshPublicKey publicKey, string path) { Name = name; PublicKey = publicKey; Path = path; }
        public string Name { get; }
        public SshPublicKey PublicKey { get; }
        public string Path { get; }
    }

    /// <summary>One line of audit.log. Has no field that could carry private material.</summary>
    public sealed class AuditEntry
    {
        public DateTimeOffset Time { get; set; }
        public string Operation { get; set; } = "";
        public string? Esn { get; set; }
        public string? Service { get; set; }
        public IReadOnlyList<string>? Fingerprints { get; set; }
        /// <summary>e.g. "Success", "Failed", "NoAction", or an error id.</summary>
        public string Result { get; set; } = "";
        /// <summary>The account that made the change, from the OS (login name on Linux, DOMAIN\user on Windows); set by the store.</summary>
        public string? User { get; set; }
        public string? Detail { get; set; }
        /// <summary>
        /// SHA-256 (lowercase hex) of the previous line's bytes, or <see cref="HostStore.AuditGenesisHash"/> on the first
        /// line; set by the store. Null on lines written before the hash chain (reported as unchained).
        /// </summary>
        public string? Prev { get; set; }
    }

    /// <summary>Result of checking audit.log line by line and along its hash chain (Test-HsmAuditLog).</summary>
    public sealed class HsmAuditLogTestResult
    {
        /// <summary>The audit log checked.</summary>
        public string Path { get; set; } = "";
        /// <summary>True when every complete line is an entry and the chain holds (unchained old lines and a torn last line allowed).</summary>
        public bool Valid { get; set; }
        /// <summary>Complete lines in the log (a torn last line not counted).</summary>
        public int Entries { get; set; }
        /// <summary>Entries whose hash of the line before them was checked (up to the first break).</summary>
        public int ChainedEntries { get; set; }
        /// <summary>Entries written before the hash chain existed (no prev): readable, but not protected by the chain.</summary>
        public int UnchainedEntries { get; set; }
        /// <summary>The last line has no newline: an append that did not finish (a crash). Skipped; the next append records and drops it.</summary>
        public bool TornLastLine { get; set; }
        /// <summary>Line number (1-based) where the check first failed; null when valid.</summary>
        public int? BrokenLine { get; set; }
        /// <summary>Why the log is not valid; null when valid.</summary>
        public string? Reason { get; set; }
        /// <summary>SHA-256 of the last complete line: keep it elsewhere to detect later removal or change of the newest entries.</summary>
        public string? LastHash { get; set; }
    }
}
