using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// The host store's OpenSSH-style "StrictModes" on Linux: a store folder or file another account can write to, a
    /// private key file anyone but its owner can read, or a folder or file owned by another non-root account is refused
    /// with StoreInsecurePermissions (SecurityError) naming the path. Checked when a store is opened and again before a
    /// private key is read. Only mode bits and owners are checked (no POSIX ACLs, no parent folders of the store).
    /// The one exception: a current client key file granted to a group (Set-HsmSshKeyPermission, key-permissions.json) may
    /// be read by exactly that group, mode 0640.
    /// </summary>
    public static class StorePermissions
    {
        internal enum ItemKind
        {
            /// <summary>A store folder: no write for group or other.</summary>
            Folder,
            /// <summary>A store file with public content (pins, roots, records, audit log): no write for group or other.</summary>
            File,
            /// <summary>A private key file: no access at all for group or other.</summary>
            PrivateKey,
        }

        const int GroupOrOtherWrite = 0x12; // 0022
        const int GroupOrOtherAny = 0x3F;   // 0077

        static bool IsLinux => RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
        static volatile bool _statAvailable = true;

        /// <summary>The rule itself, on plain numbers: null when acceptable, else what is wrong (for the message).</summary>
        internal static string? Problem(ItemKind kind, int permissions, uint owner, uint effectiveUser, uint group = 0, uint? grantedGroup = null)
        {
            if (owner != effectiveUser && owner != 0)
                return $"owned by another account (uid {owner}; this process runs as uid {effectiveUser})";
            if ((permissions & GroupOrOtherWrite) != 0)
                return $"writable by {Who(permissions, 0x10, 0x02)} (mode {Octal(permissions)})";
            // A deliberate grant: that group may read, nobody else anything.
            if (kind == ItemKind.PrivateKey && grantedGroup != null && group == grantedGroup && (permissions & GroupOrOtherAny) == 0x20) return null;
            if (kind == ItemKind.PrivateKey && (permissions & GroupOrOtherAny) != 0)
                return $"readable by {Who(permissions, 0x38, 0x07)} (mode {Octal(permissions)}; it must be 0600)";
            return null;
        }

        static string Who(int permissions, int groupBits, int otherBits)
        {
            bool g = (permissions & groupBits) != 0, o = (permissions & otherBits) != 0;
            return g && o ? "its group and other accounts" : g ? "its group" : "other accounts";
        }

        internal static string Octal(int permissions) => "0" + Convert.ToString(permissions & 0xFFF, 8).PadLeft(3, '0');

        static string Fix(ItemKind kind, string path, string problem) =>
            problem.StartsWith("owned", StringComparison.Ordinal)
                ? $"make it owned by this account or root (chown) or use a store of your own (-HostPath)"
                : kind == ItemKind.PrivateKey ? $"chmod 600 '{path}'" : $"chmod go-w '{path}'";

        /// <summary>Throws StoreInsecurePermissions if <paramref name="path"/> exists and breaks the rule. No-op off Linux.</summary>
        internal static void Check(string path, ItemKind kind, uint? grantedGroup = null, string? rerun = null, bool tolerateGroupRead = false)
        {
            if (!IsLinux || !_statAvailable) return;
            UnixNative.FileStatus? status;
            try { status = UnixNative.Stat(path); }
            catch (PlatformNotSupportedException) { _statAvailable = false; return; } // glibc before 2.28: documented as unchecked
            // Behind a folder this account may not enter: it cannot read it either, and reading says so (PrivilegeRequired).
            catch (UnauthorizedAccessException) { return; }
            if (status is not { } s) return;
            var problem = Problem(kind, s.Permissions, s.Owner, UnixNative.EffectiveUserId(), s.Group, grantedGroup);
            if (problem == null) return;
            // Set-HsmSshKeyPermission repairs what the product itself makes (a key or nonce its group may read): it may open the store.
            if (tolerateGroupRead && kind == ItemKind.PrivateKey && !problem.StartsWith("owned", StringComparison.Ordinal)
                && (s.Permissions & 0x1F) == 0) return;
            var what = kind == ItemKind.Folder ? "folder" : kind == ItemKind.PrivateKey ? "private key file" : "file";
            throw new HsmException(HsmErrorIds.StoreInsecurePermissions, HsmErrorKind.SecurityError,
                $"The host store {what} {path} is {problem}, so another account could change what this host trusts or read its keys. " +
                $"Nothing was read or changed. Fix it ({Fix(kind, path, problem)}{(rerun == null ? "" : ", or run " + rerun)}) " +
                "and check that nobody else changed the store.", path);
        }

        // Lock files hold no data (a stranger writing one can only delay us): not checked, so a umask that makes them
        // group-writable does not lock everybody out.
        static bool IsLockFile(string name) =>
            name.EndsWith(".lock", StringComparison.Ordinal) || name.EndsWith(".lock.owner", StringComparison.Ordinal);

        /// <summary>The whole store: folders, then every file in them (private keys under the stricter rule).</summary>
        internal static void CheckStore(HostStore store)
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows) && Directory.Exists(store.Root))
            {
                CheckStoreOnWindows(store);
                return;
            }
            if (!IsLinux || !Directory.Exists(store.Root)) return;
            Check(store.Root, ItemKind.Folder);
            foreach (var folder in new[] { store.ClientKeysDirectory, store.PendingClientKeysDirectory, store.ArchivedClientKeysDirectory,
                store.TrustedRootsDirectory })
                Check(folder, ItemKind.Folder);
            foreach (var folder in new[] { store.Root, store.ClientKeysDirectory, store.PendingClientKeysDirectory, store.ArchivedClientKeysDirectory,
                store.TrustedRootsDirectory })
                foreach (var file in FilesIn(folder))
                {
                    var name = Path.GetFileName(file);
                    if (IsLockFile(name)) continue;
                    bool current = folder == store.ClientKeysDirectory && name.EndsWith(".key", StringComparison.Ordinal)
                        && ModuleServices.IsKnown(Path.GetFileNameWithoutExtension(name));
                    Check(file, name.EndsWith(".key", StringComparison.Ordinal) ? ItemKind.PrivateKey : ItemKind.File, store.GrantedGroupFor(file),
                        current ? RepairCommand(store, Path.GetFileNameWithoutExtension(name)) : null, current && store.RepairingPermissions);
                }
            // This store's own global nonce (G) is as secret as a key: readable by exactly the group a grant names, or by nobody.
            if (store.OwnNoncePath is { } nonce)
            {
                Check(Path.GetDirectoryName(nonce)!, ItemKind.Folder);
                Check(nonce, ItemKind.PrivateKey, store.GrantedNonceGroup(), RepairCommand(store, "<service>"), store.RepairingPermissions);
            }
        }

        /// <summary>
        /// Windows (untested here, see docs/store-security.md): the store folder and its key and trusted-root folders, by
        /// owner and ACL (<see cref="StoreAcl.Problem"/>). Files are not checked one by one.
        /// </summary>
        static void CheckStoreOnWindows(HostStore store)
        {
            foreach (var folder in new[] { store.Root, store.ClientKeysDirectory, store.PendingClientKeysDirectory, store.ArchivedClientKeysDirectory,
                store.TrustedRootsDirectory })
            {
                if (!Directory.Exists(folder)) continue;
                var problem = StoreAcl.ProblemOnWindows(folder);
                if (problem == null) continue;
                throw new HsmException(HsmErrorIds.StoreInsecurePermissions, HsmErrorKind.SecurityError,
                    $"The host store folder {folder} is {problem}, so another account could change what this host trusts or read its keys. " +
                    "Nothing was read or changed. Give it a protected ACL (owner, Administrators, SYSTEM; inheritance from the parent off), " +
                    "or let the product create a new store, and check that nobody else changed the store.", folder);
            }
        }

        /// <summary>Before a private key is read: the folders on the way from the store root and the key file itself.</summary>
        internal static void CheckPrivateKey(HostStore store, string keyPath)
        {
            if (!IsLinux) return;
            Check(store.Root, ItemKind.Folder);
            var folder = Path.GetDirectoryName(Path.GetFullPath(keyPath))!;
            for (var f = folder; f != null && f.Length > store.Root.Length
                && f.StartsWith(store.Root, StringComparison.Ordinal); f = Path.GetDirectoryName(f))
                Check(f, ItemKind.Folder);
            Check(keyPath, ItemKind.PrivateKey, store.GrantedGroupFor(keyPath));
        }

        const int Sticky = 0x200; // 01000

        /// <summary>
        /// A file the host configuration names outside the store (the hardserver restart program, its pid file, the factory
        /// credential): it and every folder above it must be owned by this account or root, and neither the file nor a folder
        /// may be writable by group or others, unless the folder has the sticky bit (as /tmp does: nobody can replace what
        /// another account owns there). Otherwise whoever can change the file runs code as the administrator, or decides
        /// what the host believes. No-op off Linux.
        /// </summary>
        public static void CheckConfiguredFile(string path, string what)
        {
            if (!IsLinux || !_statAvailable) return;
            var full = Path.GetFullPath(path);
            var me = UnixNative.EffectiveUserId();
            for (var item = full; !string.IsNullOrEmpty(item); item = Path.GetDirectoryName(item))
            {
                UnixNative.FileStatus? status;
                try { status = UnixNative.Stat(item); }
                catch (PlatformNotSupportedException) { _statAvailable = false; return; }
                if (status is not { } st) continue;
                string? problem = null;
                if (st.Owner != me && st.Owner != 0) problem = $"owned by another account (uid {st.Owner})";
                else if ((st.Permissions & GroupOrOtherWrite) != 0 && !(item != full && (st.Permissions & Sticky) != 0))
                    problem = $"writable by {Who(st.Permissions, 0x10, 0x02)} (mode {Octal(st.Permissions)})";
                if (problem == null) continue;
                var which = item == full ? "" : $" (its folder {item})";
                throw new HsmException(HsmErrorIds.StoreInsecurePermissions, HsmErrorKind.SecurityError,
                    $"The configured {what} {full}{which} is {problem}, so another account could change it and run code as this " +
                    $"administrator or change what the host believes. Nothing was run or changed. Fix the permissions, or configure " +
                    "a file only root or this account can change (Set-HsmHostConfiguration).", full);
            }
        }

        static string RepairCommand(HostStore store, string service) =>
            $"'Set-HsmSshKeyPermission -HostPath {store.Root} -Service {service} -OwnerOnly' (as " +
            "root), which makes the key and this store's global nonce owner-only again";

        static IEnumerable<string> FilesIn(string folder)
        {
            try { return Directory.GetFiles(folder); }
            catch (DirectoryNotFoundException) { return Array.Empty<string>(); }
            // A group granted one key may pass through client-keys (0711) but not list it: the key it opens is checked by name.
            catch (UnauthorizedAccessException) { return Array.Empty<string>(); }
        }
    }
}
