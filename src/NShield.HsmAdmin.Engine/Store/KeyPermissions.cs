using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using NShield.HsmAdmin.Protection;

using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>A group allowed to read one service's client key (the vendor's nfast group for ncoreapi).</summary>
    public sealed class KeyGrant
    {
        public string Group { get; set; } = "";
        /// <summary>Linux: the group's gid when granted (what the file checks compare); null on Windows.</summary>
        public uint? Gid { get; set; }
        public DateTimeOffset GrantedAt { get; set; }
    }

    /// <summary>
    /// Group read access to a service's client key (Set-HsmSshKeyPermission), recorded in key-permissions.json.
    /// Linux: the key file gets the group and mode 0640; the client-keys folder becomes 0710 owned by that group (its
    /// members may pass through, not list; others may not enter; 0711 only when several groups hold grants) and, for keys
    /// protected with G, the global nonce file gets the group too and its folder the same pass-through mode. The
    /// StrictModes checks accept group read on exactly the granted key file with the recorded group and
    /// mode 0640; any other group or other access still fails. A roll or restore re-applies the grant to the new key.
    /// Windows (untested here): a read ACE for the group on the key file.
    /// </summary>
    public sealed partial class HostStore
    {
        public string KeyPermissionsPath => Path.Combine(Root, "key-permissions.json");

        const int GrantedKeyMode = 0x1A0;    // 0640
        const int OwnerOnlyKeyMode = 0x180;  // 0600
        const int TraverseOnlyFolder = 0x1C9; // 0711
        const int GroupTraverseFolder = 0x1C8; // 0710
        const int OwnerOnlyFolder = 0x1C0;   // 0700

        static bool OnLinux => RuntimeInformation.IsOSPlatform(OSPlatform.Linux);

        public IReadOnlyDictionary<string, KeyGrant> GetKeyGrants() =>
            StoreJson.ReadFile<Dictionary<string, KeyGrant>>(KeyPermissionsPath) ?? new Dictionary<string, KeyGrant>();

        public KeyGrant? GetKeyGrant(string service) =>
            GetKeyGrants().TryGetValue(ModuleServices.Canonical(service), out var grant) ? grant : null;

        /// <summary>Grants <paramref name="group"/> read access to the service's current (and future) client key; audited.</summary>
        public KeyGrant GrantKeyAccess(string service, string group)
        {
            service = ModuleServices.Canonical(service);
            if (string.IsNullOrWhiteSpace(group))
                throw new HsmException(HsmErrorIds.InvalidKeyPermission, HsmErrorKind.InvalidArgument, "The group name is empty.", group);
            uint? gid = null;
            if (OnLinux)
            {
                gid = UnixNative.GroupId(group)
                    ?? throw new HsmException(HsmErrorIds.InvalidKeyPermission, HsmErrorKind.ObjectNotFound,
                        $"There is no group '{group}' on this machine (getent group {group}). Nothing was changed.", group);
                group = UnixNative.GroupName(gid.Value);
            }
            return Write(() =>
            {
                var record = GetClientKey(service)
                    ?? throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                        $"This host has no {service} client key to grant access to. Run Invoke-HsmEnroll first.", service);
                var grants = GetKeyGrants().ToDictionary(g => g.Key, g => g.Value, StringComparer.Ordinal);
                if (OnLinux && record.ProtectionSpec.Contains(ProtectionInput.GlobalNonce))
                {
                    CheckOwnNonce(service, record, group);
                    var other = grants.Where(g => g.Key != service && g.Value.Gid != gid
                        && KeyUsesGlobalNonce(g.Key)).Select(g => $"{g.Key} ({g.Value.Group})").ToList();
                    if (other.Count > 0)
                        throw new HsmException(HsmErrorIds.InvalidKeyPermission, HsmErrorKind.InvalidOperation,
                            $"The {service} key is protected with G, so the group needs to read " +
                            "this store's global nonce, which is already shared with " +
                            $"another group for {string.Join(", ", other)}. One group at a time can share it: use the " +
                            "same group, or revoke the other grant first. Nothing was changed.", group);
                }
                var previous = grants.TryGetValue(service, out var old) ? old.Group : null;
                var grant = new KeyGrant { Group = group, Gid = gid, GrantedAt = DateTimeOffset.UtcNow };
                // Fail closed (issue 23, item 3): narrow first, record, then widen for the new group, audit last. Killed at any
                // step, nothing is readable by a group the record does not name, and a rerun redoes every step.
                NarrowForChange(service, record);
                StoreSteps.Reach("keys.permission.grant.narrowed");
                grants[service] = grant;
                StoreJson.WriteFile(KeyPermissionsPath, grants, FileAccessScope.Public);
                StoreSteps.Reach("keys.permission.grant.recorded");
                ApplyKeyGrants(grants);
                StoreSteps.Reach("keys.permission.grant.applied");
                AppendAudit(new AuditEntry
                {
                    Operation = "keys.permission", Service = service, Result = "Granted", Fingerprints = new[] { record.Fingerprint },
                    Detail = $"group {group} may read the key" + (gid == null ? "" : $" (gid {gid})") +
                        (previous == null ? "" : $"; previous group: {previous}"),
                });
                return grant;
            });
        }

        /// <summary>
        /// Makes the service's key owner-only again; returns false when it had no grant. Audited. Narrows the files first and
        /// records last, so a kill at any step leaves files no wider than the record and a rerun completes it; with no grant
        /// recorded it still narrows the key and this store's nonce (repairing what an interrupted change left) and audits that.
        /// </summary>
        public bool RevokeKeyAccess(string service)
        {
            service = ModuleServices.Canonical(service);
            return Write(() =>
            {
                var grants = GetKeyGrants().ToDictionary(g => g.Key, g => g.Value, StringComparer.Ordinal);
                bool had = grants.TryGetValue(service, out var old);
                grants.Remove(service);
                var wider = WiderThanOwnerOnly(service);
                RestrictKeyFile(service);
                StoreSteps.Reach("keys.permission.revoke.keynarrowed");
                ApplyKeyGrants(grants);
                StoreSteps.Reach("keys.permission.revoke.narrowed");
                if (!had && wider.Count == 0) return false;
                AppendAudit(new AuditEntry
                {
                    Operation = "keys.permission", Service = service, Result = had ? "Revoked" : "Repaired",
                    Fingerprints = GetClientKey(service) is { } r ? new[] { r.Fingerprint } : null,
                    Detail = had ? $"group {old!.Group} may no longer read the key; owner-only again"
                        : $"no grant was recorded; made owner-only again: {string.Join(", ", wider)}",
                });
                StoreSteps.Reach("keys.permission.revoke.audited");
                if (had) StoreJson.WriteFile(KeyPermissionsPath, grants, FileAccessScope.Public);
                return had;
            });
        }

        /// <summary>The service's key file and this store's nonce, where more than their owner may read them (for the audit).</summary>
        List<string> WiderThanOwnerOnly(string service)
        {
            var wider = new List<string>();
            if (!OnLinux) return wider;
            foreach (var path in new[] { KeyFilePath(service, ".key", false), OwnNoncePath })
                if (path != null && UnixNative.Stat(path) is { } st && (st.Permissions & 0x3F) != 0)
                    wider.Add($"{path} (was {StorePermissions.Octal(st.Permissions)})");
            return wider;
        }

        /// <summary>This store's own global nonce file, or null (no id yet, an injected machine identity).</summary>
        internal string? OwnNoncePath =>
            _injectedMachine == null && ReadStoreId() is { } id ? Path.Combine(NonceFolder(id), LocalMachineIdentity.GlobalNonceFileName) : null;

        /// <summary>
        /// A grant on a G key shares the nonce the key was made with: refused for a key made before issue 23 (the machine-wide
        /// nonce, which every store shares) and for a key of a copied store (the nonce of the store it was copied from).
        /// </summary>
        void CheckOwnNonce(string service, ClientKeyRecord record, string group)
        {
            if (_injectedMachine != null) return;
            if (record.NonceStore == null || record.NonceStore != ReadStoreId())
                throw new HsmException(HsmErrorIds.InvalidKeyPermission, HsmErrorKind.InvalidOperation,
                    $"The {service} key is protected with G " +
                    $"{(record.NonceStore == null
                        ? "by the machine-wide global nonce that every store on this machine shares (a key made before this version)"
                        : "by the global nonce of another store")}, " +
                    $"so sharing it with group {group} would change what other stores rely on. " +
                    $"Roll the key first (Update-HsmSshKey -Service {service}) so it " +
                    "is protected by this store's own nonce, then grant again. Nothing was changed.", group);
            if (NonceBelongsToAnotherStore(record.NonceStore, out var owner))
                throw new HsmException(HsmErrorIds.InvalidKeyPermission, HsmErrorKind.InvalidOperation,
                    $"The {service} key's global nonce belongs to the store {owner} (this store " +
                    "is a copy of it), so sharing it would change what that store " +
                    $"relies on. Roll the key first (Update-HsmSshKey -Service {service}) so this " +
                    "store gets a nonce of its own. Nothing was changed.", group);
        }

        /// <summary>Before a grant is recorded: the key file and this store's nonce owner-only (mode only; groups follow).</summary>
        void NarrowForChange(string service, ClientKeyRecord record)
        {
            if (!OnLinux) return;
            var file = KeyFilePath(service, ".key", false);
            if (File.Exists(file)) UnixNative.Chmod(file, OwnerOnlyKeyMode);
            if (record.ProtectionSpec.Contains(ProtectionInput.GlobalNonce) && OwnNoncePath is { } nonce && File.Exists(nonce))
                UnixNative.Chmod(nonce, OwnerOnlyKeyMode);
        }

        /// <summary>The group a grant shares this store's nonce with: a granted G key protected by that nonce.</summary>
        uint? NonceGroup(IReadOnlyDictionary<string, KeyGrant> grants, string storeId) => grants
            .Where(g => g.Value.Gid != null && GetClientKey(g.Key) is { } r && r.ProtectionSpec.Contains(ProtectionInput.GlobalNonce)
                && r.NonceStore == storeId)
            .Select(g => g.Value.Gid).FirstOrDefault();

        /// <summary>The gid allowed to read this store's own nonce, per the recorded grants (StrictModes check).</summary>
        internal uint? GrantedNonceGroup()
        {
            var id = ReadStoreId();
            if (id == null) return null;
            try { return NonceGroup(GetKeyGrants(), id); }
            catch (HsmException) { return null; }
        }

        bool KeyUsesGlobalNonce(string service) => GetClientKey(service)?.ProtectionSpec.Contains(ProtectionInput.GlobalNonce) == true;

        /// <summary>After a key file was replaced (roll, restore, enroll): the service's grant, if any, applies to the new file.</summary>
        void ReapplyKeyGrant(string service)
        {
            var grants = GetKeyGrants();
            if (grants.ContainsKey(service)) ApplyKeyGrants(grants);
        }

        /// <summary>The grants on disk: key files, the client-keys folder, and the global nonce for G keys.</summary>
        void ApplyKeyGrants(IReadOnlyDictionary<string, KeyGrant> grants)
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                foreach (var g in grants) GrantOnWindows(KeyFilePath(g.Key, ".key", false), g.Value.Group);
                return;
            }
            if (!OnLinux) return;
            foreach (var g in grants)
            {
                var file = KeyFilePath(g.Key, ".key", false);
                if (!File.Exists(file) || g.Value.Gid == null) continue;
                UnixNative.ChangeGroup(file, g.Value.Gid.Value);
                UnixNative.Chmod(file, GrantedKeyMode);
            }
            var gids = grants.Where(g => g.Value.Gid != null).Select(g => g.Value.Gid!.Value).Distinct().ToList();
            PassThroughFor(ClientKeysDirectory, gids);
            // Only this store's own nonce (issue 23): the machine-wide one and other stores' are never changed here.
            var id = _injectedMachine == null ? ReadStoreId() : null;
            if (id == null) return;
            var nonceGroup = NonceGroup(grants, id);
            var nonce = Path.Combine(NonceFolder(id), LocalMachineIdentity.GlobalNonceFileName);
            if (File.Exists(nonce))
            {
                // Narrow first, widen last: the file is never readable by a group it is not meant for, even briefly.
                UnixNative.Chmod(nonce, OwnerOnlyKeyMode);
                UnixNative.ChangeGroup(nonce, nonceGroup ?? 0);
                if (nonceGroup != null) UnixNative.Chmod(nonce, GrantedKeyMode);
                PassThroughFor(NonceFolder(id), nonceGroup == null ? new List<uint>() : new List<uint> { nonceGroup.Value });
            }
        }

        /// <summary>
        /// A folder the granted groups must pass through (never list): 0700 without grants; 0710 owned by the one granted
        /// group, so other accounts cannot even reach the records by name; 0711 only when several groups hold grants.
        /// </summary>
        static void PassThroughFor(string folder, IReadOnlyList<uint> gids)
        {
            UnixNative.Chmod(folder, OwnerOnlyFolder);
            if (gids.Count == 0)
            {
                UnixNative.ChangeGroup(folder, 0);
                return;
            }
            if (gids.Count == 1)
            {
                UnixNative.ChangeGroup(folder, gids[0]);
                UnixNative.Chmod(folder, GroupTraverseFolder);
                return;
            }
            UnixNative.Chmod(folder, TraverseOnlyFolder);
        }

        void RestrictKeyFile(string service)
        {
            var file = KeyFilePath(service, ".key", false);
            if (!File.Exists(file)) return;
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                new FileInfo(file).SetAccessControl(StoreAcl.FileSecurity(StoreAcl.Scope.OwnerOnly));
                return;
            }
            if (!OnLinux) return;
            // Mode first: the file is owner-only before its group changes, never readable by root's group meanwhile.
            UnixNative.Chmod(file, OwnerOnlyKeyMode);
            UnixNative.ChangeGroup(file, 0);
        }

        static void GrantOnWindows(string file, string group)
        {
            if (!File.Exists(file)) return;
            var info = new FileInfo(file);
            var security = info.GetAccessControl();
            security.AddAccessRule(new System.Security.AccessControl.FileSystemAccessRule(new System.Security.Principal.NTAccount(group),
                System.Security.AccessControl.FileSystemRights.Read, System.Security.AccessControl.AccessControlType.Allow));
            info.SetAccessControl(security);
        }

        /// <summary>The gid allowed to read the key file at <paramref name="keyPath"/> (a current key with a grant), else null.</summary>
        internal uint? GrantedGroupFor(string keyPath)
        {
            if (!string.Equals(Path.GetDirectoryName(Path.GetFullPath(keyPath)), Path.GetFullPath(ClientKeysDirectory),
                StringComparison.Ordinal)) return null;
            var service = Path.GetFileNameWithoutExtension(keyPath);
            if (!ModuleServices.IsKnown(service) || !keyPath.EndsWith(".key", StringComparison.Ordinal)) return null;
            try { return GetKeyGrants().TryGetValue(service, out var g) ? g.Gid : null; }
            catch (HsmException) { return null; }
        }
    }
}
