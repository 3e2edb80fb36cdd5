using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Where this store's machine-bound input G lives (issue 23, item 2). Each store has its own global nonce in the machine
    /// folder, <c>&lt;machine folder&gt;/stores/&lt;store id&gt;/global.nonce</c>, so a permission change on one store (a grant
    /// that shares G with a group, or its revoke) never changes what another store or the hardserver relies on. The store id
    /// (<c>store-id</c>, 32 random hex digits) is recorded in every G key's record (<see cref="ClientKeyRecord.NonceStore"/>)
    /// and in verbatim backups, so a key opens with the nonce it was made with. Keys from before have no id and keep using the
    /// machine-wide <c>global.nonce</c>, which the product no longer changes. The nonce folder records which store owns it
    /// (<c>store</c>): a copy of a store on the same machine gets an id of its own on its first new G key.
    /// </summary>
    public sealed partial class HostStore
    {
        const string StoreIdFileName = "store-id";
        const string NonceOwnerFileName = "store";
        static readonly Regex StoreIdPattern = new Regex("^[0-9a-f]{32}$", RegexOptions.CultureInvariant);

        public string StoreIdPath => Path.Combine(Root, StoreIdFileName);

        /// <summary>The machine folder of this host (host configuration MachineFolder, else the documented default).</summary>
        public string MachineRoot
        {
            get
            {
                string? configured = null;
                try { configured = GetConfiguration().MachineFolder; }
                catch (HsmException) { } // a damaged configuration is reported by the commands that read it
                return LocalMachineIdentity.ResolveRoot(configured);
            }
        }

        /// <summary>The folder of one store's own global nonce (in <paramref name="root"/>, else this host's machine folder).</summary>
        public string NonceFolder(string storeId, string? root = null) => Path.Combine(root ?? MachineRoot, "stores", storeId);

        /// <summary>This store's id, or null before its first G key (or in a store written before issue 23).</summary>
        public string? ReadStoreId()
        {
            string text;
            try { text = File.ReadAllText(StoreIdPath).Trim(); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            return StoreIdPattern.IsMatch(text) ? text : throw StoreJson.Corrupt(StoreIdPath, "not 32 lowercase hex digits", null);
        }

        internal IMachineIdentity MachineFor(string? nonceStore, string? root = null)
        {
            if (_injectedMachine != null) return _injectedMachine;
            root ??= MachineRoot;
            return new LocalMachineIdentity(nonceStore == null ? root : NonceFolder(nonceStore, root));
        }

        /// <summary>Per key opened (every channel): the configuration is read once for both the check and the identity.</summary>
        ClientKeyProtector ProtectorFor(ClientKeyRecord record)
        {
            if (_injectedMachine != null) return new ClientKeyProtector(_injectedMachine);
            var root = MachineRoot;
            if (record.ProtectionSpec.Contains(ProtectionInput.GlobalNonce)) CheckMachineFolder(root);
            return new ClientKeyProtector(MachineFor(record.NonceStore, root));
        }

        /// <summary>
        /// The machine folder holds the one secret input of a KFG key (K sits beside it, F is public): it and every folder
        /// above it must be owned by root or this account and writable by nobody else, or another account could plant a
        /// nonce it knows (StoreInsecurePermissions). Checked when G is made or used, and when the folder is configured.
        /// </summary>
        static void CheckMachineFolder(string root) => StorePermissions.CheckConfiguredFile(root, "machine folder");

        /// <summary>Who owns a nonce folder (the store root written when it was made); null when unknown.</summary>
        static string? NonceOwner(string nonceFolder)
        {
            try { return File.ReadAllText(Path.Combine(nonceFolder, NonceOwnerFileName)).Trim(); }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
        }

        /// <summary>True when another live store (not this one) owns the nonce folder: this store is a copy of it.</summary>
        bool NonceBelongsToAnotherStore(string storeId, out string owner)
        {
            owner = NonceOwner(NonceFolder(storeId)) ?? "";
            if (owner.Length == 0 || string.Equals(owner, Root, StringComparison.Ordinal)) return false;
            string? theirs = null;
            try { theirs = File.ReadAllText(Path.Combine(owner, StoreIdFileName)).Trim(); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return theirs == storeId;
        }

        /// <summary>
        /// This store's id (made on first use) with its nonce folder ready: the machine folder and its stores/ folder
        /// traversable (0711: nothing in them can be listed; each nonce folder is 0700, or 0710 for a granted group), the
        /// store's own folder 0700 with its owner recorded. A copy of another live store gets a new id.
        /// </summary>
        string PrepareOwnNonce() => Write(() =>
        {
            var id = ReadStoreId();
            if (id == null || NonceBelongsToAnotherStore(id, out _))
            {
                var bytes = new byte[16];
                using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(bytes);
                id = BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
                SecureFiles.WriteAtomic(StoreIdPath, id + "\n", FileAccessScope.Public);
            }
            var root = MachineRoot;
            CheckMachineFolder(root);
            try
            {
                SecureFiles.EnsureDirectory(root, FileAccessScope.Administrators);
                var stores = Path.Combine(root, "stores");
                SecureFiles.EnsureDirectory(stores, FileAccessScope.Administrators);
                if (OnLinux)
                {
                    AddTraverse(root);
                    UnixNative.Chmod(stores, TraverseOnlyFolder);
                }
                var folder = NonceFolder(id, root);
                SecureFiles.EnsureDirectory(folder, FileAccessScope.Administrators);
                if (NonceOwner(folder) != Root)
                    SecureFiles.WriteAtomic(Path.Combine(folder, NonceOwnerFileName), Root + "\n", FileAccessScope.OwnerOnly);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new ProtectionInputUnavailableException(ProtectionInput.GlobalNonce, UnavailableReason.AccessDenied,
                    $"Protection input G (global nonce) cannot be created: the machine folder {root} is accessible to root/Administrators only. " +
                    "Run elevated, choose a protection without G, or give this host its own " +
                    "machine folder (Set-HsmHostConfiguration -MachineFolder).",
                    root, e);
            }
            return id;
        });

        /// <summary>Adds pass-through (x) for group and others to the machine folder, keeping whatever else it has.</summary>
        static void AddTraverse(string folder)
        {
            if (UnixNative.Stat(folder) is { } status && (status.Mode & 0x9) != 0x9)
                UnixNative.Chmod(folder, (status.Mode & 0xFFF) | 0x9);
        }

        static bool IsWindowsHost => RuntimeInformation.IsOSPlatform(OSPlatform.Windows);
    }
}
