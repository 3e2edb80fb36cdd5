using System;
using System.IO;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// One host's state in one folder: client keys, pinned module server keys, module list, trusted vendor roots,
    /// audit log and named JSON documents. Every write is atomic (temp file, flush to disk, rename over) and takes the
    /// store lock (reentrant for a caller that already holds it via <see cref="AcquireLock"/>); reads take no lock.
    /// </summary>
    public sealed partial class HostStore
    {
        static readonly Regex DocumentName = new Regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$", RegexOptions.CultureInvariant);

        readonly StoreLock _lock;
        /// <summary>A machine identity given by the caller (tests, a second simulated machine): used for every key.</summary>
        readonly IMachineIdentity? _injectedMachine;

        public HostStore(string root, IMachineIdentity? machine = null) : this(root, machine, repairingPermissions: false) { }

        HostStore(string root, IMachineIdentity? machine, bool repairingPermissions)
        {
            Root = Path.GetFullPath(root);
            _lock = StoreLock.For(Root);
            _injectedMachine = machine;
            RepairingPermissions = repairingPermissions;
            StorePermissions.CheckStore(this); // StoreInsecurePermissions: refuse a store others can change (Linux)
        }

        /// <summary>
        /// Opened by Set-HsmSshKeyPermission: a current client key or this store's global nonce that its group may read (what
        /// an interrupted grant or revoke of an earlier version left) does not stop the open, so the command can repair it.
        /// Everything else is checked as always.
        /// </summary>
        internal bool RepairingPermissions { get; }

        /// <summary>The store for Set-HsmSshKeyPermission (see <see cref="RepairingPermissions"/>).</summary>
        public static HostStore OpenForKeyPermissions(string? hostPath = null) =>
            new HostStore(HostStoreLocation.Resolve(hostPath), null, repairingPermissions: true);

        /// <summary>
        /// The store of a command that needs one to exist (issue 23, item 9): StoreNotFound naming the folder when it does
        /// not, and nothing is created (a mistyped -HostPath is said, not made into a new empty store).
        /// </summary>
        public static HostStore OpenExisting(string? hostPath = null, IMachineIdentity? machine = null)
        {
            var root = HostStoreLocation.Resolve(hostPath);
            if (!Directory.Exists(root))
                throw new HsmException(HsmErrorIds.StoreNotFound, HsmErrorKind.ObjectNotFound,
                    $"There is no host store at '{root}' (the folder does not exist); nothing was read or created. Check -HostPath " +
                    $"(or {HostStoreLocation.HomeVariable}); a new host's store is made by Register-HsmModule.", root);
            return new HostStore(root, machine);
        }

        /// <summary>Opens the store at -HostPath, else NSHIELD_HSMADMIN_HOME, else the system default.</summary>
        public static HostStore Open(string? hostPath = null, IMachineIdentity? machine = null) =>
            new HostStore(HostStoreLocation.Resolve(hostPath), machine);

        public string Root { get; }
        /// <summary>The machine identity of this store's own keys (its own global nonce); see HostStore.Machine.cs.</summary>
        public IMachineIdentity Machine => MachineFor(ReadStoreId());
        public string LockPath => _lock.LockPath;
        public string KnownHostsPath => Path.Combine(Root, "known_hosts");
        public string ModulesPath => Path.Combine(Root, "modules.json");
        public string AuditLogPath => Path.Combine(Root, "audit.log");
        public string ClientKeysDirectory => Path.Combine(Root, "client-keys");
        public string PendingClientKeysDirectory => Path.Combine(ClientKeysDirectory, "pending");
        public string TrustedRootsDirectory => Path.Combine(Root, "trusted-roots");

        /// <summary>Timeout of the lock a write takes when the caller holds none.</summary>
        public TimeSpan DefaultLockTimeout { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>
        /// Takes the store lock for a multi-step operation (enroll, roll...). Throws StoreLockTimeout. Reentrant within the
        /// caller's async flow; on taking it, finishes any client key promotion an earlier process was killed in the middle of.
        /// </summary>
        public IDisposable AcquireLock(TimeSpan timeout)
        {
            bool fresh = !_lock.IsHeldByCurrentFlow;
            IDisposable handle;
            try
            {
                EnsureRoot();
                handle = _lock.Acquire(timeout);
            }
            catch (UnauthorizedAccessException e) { throw AccessDenied(e); }
            if (fresh)
            {
                try { CompleteInterruptedPromotions(); }
                catch { handle.Dispose(); throw; }
            }
            return handle;
        }

        /// <summary>Store lock (reentrant) plus the in-process gate, around one read-modify-write.</summary>
        T Write<T>(Func<T> change)
        {
            using (AcquireLock(DefaultLockTimeout))
            lock (_lock.FileGate)
            {
                try { return change(); }
                catch (UnauthorizedAccessException e) { throw AccessDenied(e); }
            }
        }

        HsmException AccessDenied(Exception e) => new HsmException(HsmErrorIds.StoreAccessDenied, HsmErrorKind.PermissionDenied,
            $"Cannot write the host store {Root}: {e.Message.TrimEnd('.')}. Run elevated, or use " +
            $"a store of your own (-HostPath or {HostStoreLocation.HomeVariable}).",
            Root, e);

        void Write(Action change) => Write<object?>(() => { change(); return null; });

        void EnsureRoot() => SecureFiles.EnsureStoreRoot(Root);

        // ---- generic documents (roll journal, hardserver state, ...) ----

        public string DocumentPath(string name)
        {
            if (name == null || !DocumentName.IsMatch(name) || name.Contains(".."))
                throw new HsmException(HsmErrorIds.InvalidName, HsmErrorKind.InvalidArgument,
                    $"'{name}' is not a valid store document name (letters, digits, '.', '_', '-').", name);
            return Path.Combine(Root, name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? name : name + ".json");
        }

        /// <summary>The document, or null if it does not exist. StoreCorrupt if it is not valid JSON for T.</summary>
        public T? ReadDocument<T>(string name) where T : class => StoreJson.ReadFile<T>(DocumentPath(name));

        public void WriteDocument<T>(string name, T value) where T : class
        {
            var path = DocumentPath(name);
            Write(() => StoreJson.WriteFile(path, value, FileAccessScope.Public));
        }

        public bool DeleteDocument(string name)
        {
            var path = DocumentPath(name);
            return Write(() =>
            {
                if (!File.Exists(path)) return false;
                File.Delete(path);
                return true;
            });
        }
    }
}
