using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Discovery;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// One host as the operations see it: its store, the modules discovery reports (the registry), and a
    /// transport per module. Opened per cmdlet invocation; client keys are decrypted at most once.
    /// </summary>
    public sealed class HsmHost : IDisposable
    {
        // Lazy: modules run in parallel and all ask for the same keys at once; GetOrAdd alone would decrypt a key
        // (bcrypt-pbkdf, tens of ms) once per caller in that race instead of once.
        private readonly ConcurrentDictionary<string, Lazy<SshKeyPair>> _openKeys = new ConcurrentDictionary<string, Lazy<SshKeyPair>>();
        private readonly SecureString? _userPassphrase;

        /// <param name="moduleTimeout">
        /// How long each module may take to connect and to answer each command (the cmdlets' -Timeout, 3 to 120 s; default
        /// 30 s): a module slower than that is a <c>ModuleTimeout</c> error for that module alone.
        /// </param>
        public HsmHost(HostStore store, SecureString? userPassphrase = null, IModuleTransport? sshTransport = null,
            IModuleDiscovery? discovery = null, IHardserver? hardserver = null, TimeSpan? moduleTimeout = null)
        {
            ModuleTimeout = moduleTimeout ?? TimeSpan.FromSeconds(DefaultModuleTimeoutSeconds);
            if (ModuleTimeout < TimeSpan.FromSeconds(MinModuleTimeoutSeconds) || ModuleTimeout > TimeSpan.FromSeconds(MaxModuleTimeoutSeconds))
                throw new HsmException(HsmErrorIds.InvalidTimeout, HsmErrorKind.InvalidArgument,
                    $"A module timeout of {ModuleTimeout.TotalSeconds:0.###} s is outside {MinModuleTimeoutSeconds} to " +
                    $"{MaxModuleTimeoutSeconds} s; nothing was done.", ModuleTimeout.TotalSeconds);
            Store = store;
            _userPassphrase = userPassphrase;
            _ownTransport = sshTransport == null ? new SshModuleTransport(ModuleTimeout, ModuleTimeout) : null;
            SshTransport = sshTransport ?? _ownTransport!;
            Discovery = discovery ?? RegistryDiscovery.Instance;
            _hardserver = hardserver;
        }

        private readonly IHardserver? _hardserver;
        // Made here, so disposed here: it holds SSH.NET's copies of the client keys for this host object's lifetime.
        private readonly SshModuleTransport? _ownTransport;
        private SshKeyPair? _factoryCredential;

        public static HsmHost Open(string? hostPath, SecureString? userPassphrase = null) =>
            new HsmHost(HostStore.Open(hostPath), userPassphrase);

        public HostStore Store { get; }
        public string Path => Store.Root;

        /// <summary>The vendor's --timeout range and default, in seconds (the cmdlets' -Timeout).</summary>
        public const int MinModuleTimeoutSeconds = 3, MaxModuleTimeoutSeconds = 120, DefaultModuleTimeoutSeconds = 30;

        /// <summary>How long each module may take to connect and to answer each command (<see cref="TimedSession"/>).</summary>
        public TimeSpan ModuleTimeout { get; }
        public IModuleTransport SshTransport { get; }
        public IModuleDiscovery Discovery { get; }

        /// <summary>The host's hardserver: the platform's, configured by the store's settings.</summary>
        public IHardserver Hardserver => _hardserver ?? PlatformHardserver.For(Store);

        /// <summary>SSH for real modules; any other registered transport by name (UnknownTransport if none is loaded).</summary>
        public IModuleTransport TransportFor(ModuleAddress module) =>
            new StepReportingTransport(module.IsSsh ? SshTransport : ModuleTransports.Find(module.Transport)
                ?? throw ModuleTransports.Unknown(module.Transport));

        /// <summary>The modules discovery reports now (the store's registry unless another provider was given).</summary>
        public IReadOnlyList<ModuleAddress> Attached() => Discovery.Discover(Store);

        /// <summary>The vendor's factory sshadmin credential (configured in the store), opened once per host object.</summary>
        public SshKeyPair FactoryCredential()
        {
            // Modules are enrolled in parallel: open it once.
            lock (_openKeys) return _factoryCredential ??= Store.OpenFactoryCredential();
        }

        public ModuleAddress? FindAttached(string esn) =>
            NShield.HsmAdmin.Modules.Esn.TryParse(esn, out var parsed) ? Attached().FirstOrDefault(m => m.Esn == parsed) : null;

        public bool HasClientKeys => ModuleServices.All.All(s => Store.GetClientKey(s) != null);

        /// <summary>The host's private client key for a service, decrypted once per host object.</summary>
        public SshKeyPair ClientKey(string service)
        {
            // A job left running after a stop must not decrypt keys into a host object nobody will dispose again.
            if (IsDisposed) throw new ObjectDisposedException(nameof(HsmHost));
            var open = _openKeys.GetOrAdd(service, s => new Lazy<SshKeyPair>(() =>
            {
                if (Store.GetClientKey(s) == null)
                    throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                        $"This host ({Store.Root}) has no {s} client key. Run Invoke-HsmEnroll to create and install keys, " +
                        "or Restore-HsmSshKey if they were lost and you have a backup.", s);
                return OpenWithPassphrases(p => Store.OpenClientKey(s, p), _userPassphrase);
            }, LazyThreadSafetyMode.ExecutionAndPublication));
            try { return open.Value; }
            catch
            {
                // A failure is not kept: the next caller tries again (a roll may have changed the key or the passphrase).
                ((ICollection<KeyValuePair<string, Lazy<SshKeyPair>>>)_openKeys).Remove(new KeyValuePair<string, Lazy<SshKeyPair>>(service, open));
                throw;
            }
        }

        /// <summary>A client key this host object just saved to the store: later <see cref="ClientKey"/> calls use it as it is.</summary>
        internal void RememberClientKey(string service, SshKeyPair key)
        {
            var known = new Lazy<SshKeyPair>(() => key);
            _ = known.Value;
            _openKeys.AddOrUpdate(service, known, (_, old) =>
            {
                if (old.IsValueCreated && !ReferenceEquals(old.Value, key)) old.Value.Dispose();
                return known;
            });
        }

        /// <summary>The passphrase (protection P) of the host's client keys, as given to this host object; null if none.</summary>
        public SecureString? KeyPassphrase => _userPassphrase;

        /// <summary>
        /// The passphrase a roll gives its new keys. Once a roll that changes the passphrase has switched some keys
        /// (in this run or an interrupted one), current keys may be under either: both are tried, the given one first.
        /// </summary>
        public SecureString? NewKeyPassphrase { get; internal set; }

        /// <summary>A staged (pending) client key, opened with the new passphrase first, then the current one.</summary>
        public SshKeyPair PendingClientKey(string service) =>
            OpenWithPassphrases(p => Store.OpenPendingClientKey(service, p), NewKeyPassphrase ?? _userPassphrase);

        private SshKeyPair OpenWithPassphrases(Func<SecureString?, SshKeyPair> open, SecureString? first)
        {
            var other = ReferenceEquals(first, _userPassphrase) ? NewKeyPassphrase : _userPassphrase;
            try { return open(first); }
            catch (HsmException ex) when (other != null && !ReferenceEquals(other, first)
                && (ex.ErrorId == HsmErrorIds.KeyWrongPassphrase || (first == null && ex.ErrorId == HsmErrorIds.KeyPassphraseRequired)))
            {
                return open(other);
            }
        }

        /// <summary>An archived client key (kept for a module excluded from a roll), opened with this host's passphrase if any.</summary>
        /// <remarks>A roll that changes the passphrase re-protects archived keys under the new one at its switch; while
        /// it runs, both are tried.</remarks>
        public SshKeyPair ArchivedClientKey(string service, string fingerprint) =>
            OpenWithPassphrases(p => Store.OpenArchivedClientKey(service, fingerprint, p), _userPassphrase);

        /// <summary>Forgets a decrypted key (after a roll switched the host to a new one).</summary>
        public void ForgetClientKey(string service)
        {
            if (_openKeys.TryRemove(service, out var key) && key.IsValueCreated) key.Value.Dispose();
        }

        /// <summary>
        /// Opens a session through the module's transport and checks the server key it presents against the policy before
        /// anything is sent on it, whatever the transport checked itself: a session that presents another key than the pin
        /// is closed and refused (ServerKeyChanged). At first contact (no pin) the operation checks the presented key
        /// against the module's certificate chain (TrustVerification) before it sends anything but 'who are you'.
        /// </summary>
        public async Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential, ServerKeyPolicy policy,
            CancellationToken ct)
        {
            IModuleSession session;
            // The connect is bounded by the module timeout whatever the transport does; so is every command (TimedSession).
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                connect.CancelAfter(ModuleTimeout);
                try
                {
                    session = await TransportFor(module).OpenAsync(module, service, credential, policy, connect.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (TimedSession.IsTimeout(ex, connect, ct))
                {
                    throw TimedSession.Timeout(module.Esn, service, "connecting", ModuleTimeout, ex);
                }
            }
            if (session != null) session = new TimedSession(session, ModuleTimeout);
            try
            {
                if (session == null)
                    throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                        $"The {module.Transport} transport opened no {service} session for module {module.Esn}.", module.Esn);
                if (session.ServerKey == null)
                    throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                        $"The {module.Transport} transport did not report the {service} server key of module {module.Esn}; " +
                        "nothing was sent.", module.Esn);
                if (policy.Expected != null && !session.ServerKey.Blob.SequenceEqual(policy.Expected.Blob))
                    throw ChannelErrors.ServerKeyChanged(module, service, policy, session.ServerKey);
                return session;
            }
            catch
            {
                session?.Dispose();
                throw;
            }
        }

        /// <summary>First contact (no pin yet): the caller checks the presented key against the module's chain before it changes anything.</summary>
        public Task<IModuleSession> OpenFirstContactAsync(ModuleAddress module, string service, SshKeyPair credential, CancellationToken ct) =>
            OpenAsync(module, service, credential, ServerKeyPolicy.FirstContact(), ct);

        /// <summary>Opens a session that must present the pinned server key and authenticates with the given (or the host's) key.</summary>
        public Task<IModuleSession> OpenPinnedAsync(ModuleAddress module, string service, CancellationToken ct, SshKeyPair? credential = null)
        {
            var pin = Store.GetPin(module.Esn, service);
            if (pin == null)
                throw new HsmException(HsmErrorIds.ServerKeyNotPinned, HsmErrorKind.SecurityError,
                    $"This host has no pinned {service} server key for module {module.Esn}, so it will not connect. " +
                    "Run Invoke-HsmEnroll for the module.", module.Esn);
            return OpenAsync(module, service, credential ?? ClientKey(service), ServerKeyPolicy.Pinned(pin, Store.KnownHostsPath), ct);
        }

        /// <summary>Proves a session end to end: pinned server key, the given (or the host's) client key, the module answers.</summary>
        public async Task PingAsync(ModuleAddress module, string service, CancellationToken ct, SshKeyPair? credential = null)
        {
            using (var session = await OpenPinnedAsync(module, service, ct, credential).ConfigureAwait(false))
                await session.PingAsync(ct).ConfigureAwait(false);
        }

        /// <summary>True once the command that made this host object has ended (its keys are disposed).</summary>
        public bool IsDisposed { get; private set; }

        public void Dispose()
        {
            IsDisposed = true;
            foreach (var key in _openKeys.Values)
                if (key.IsValueCreated) key.Value.Dispose();
            _openKeys.Clear();
            _factoryCredential?.Dispose();
            _ownTransport?.Dispose();
        }
    }
}
