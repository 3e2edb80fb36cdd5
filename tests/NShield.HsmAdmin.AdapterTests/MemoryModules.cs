using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.AdapterTests
{
    /// <summary>
    /// A module kept in memory: its mode, a server key per service, the client keys each service accepts, and a log of
    /// what it was asked. Everything a module protocol adapter would reach over its wire, without one.
    /// </summary>
    public sealed class MemoryModule
    {
        private readonly object _gate = new object();

        public MemoryModule(string esn, SshPublicKey factoryCredential)
        {
            Esn = esn;
            FactoryCredential = factoryCredential;
            NewServerKeys();
        }

        public string Esn { get; }
        public SshPublicKey FactoryCredential { get; }
        public ModuleMode Mode { get; private set; } = ModuleMode.FactoryState;
        public Dictionary<string, SshKeyPair> ServerKeys { get; } = new Dictionary<string, SshKeyPair>();
        private readonly Dictionary<string, List<SshPublicKey>> _clientKeys = new Dictionary<string, List<SshPublicKey>>();
        /// <summary>Firmware (issue 22 item 3): the primary image's version and VSN, and the lowest VSN accepted.</summary>
        public string FirmwareVersion { get; set; } = "1.0-memory";
        public int FirmwareVsn { get; set; } = 4;
        public int MinimumVsn { get; set; } = 3;
        /// <summary>Every action the module was asked to run, in order ("service action").</summary>
        public ConcurrentQueue<string> Served { get; } = new ConcurrentQueue<string>();

        /// <summary>The fingerprints a service accepts now, sorted.</summary>
        public string[] Accepted(string service)
        {
            lock (_gate)
                return _clientKeys.TryGetValue(service, out var keys)
                    ? keys.Select(k => k.Fingerprint).OrderBy(f => f, StringComparer.Ordinal).ToArray()
                    : Array.Empty<string>();
        }

        public bool Authorizes(string service, SshPublicKey credential)
        {
            lock (_gate)
            {
                if (Mode == ModuleMode.FactoryState && service == ModuleServices.SshAdmin)
                    return credential.Fingerprint == FactoryCredential.Fingerprint;
                return _clientKeys.TryGetValue(service, out var keys) && keys.Any(k => k.Fingerprint == credential.Fingerprint);
            }
        }

        private void NewServerKeys()
        {
            foreach (var key in ServerKeys.Values) key.Dispose();
            ServerKeys.Clear();
            foreach (var service in ModuleServices.All) ServerKeys[service] = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
        }

        internal void Run(string service, string action, Action change)
        {
            Served.Enqueue(service + " " + action);
            lock (_gate) change();
        }

        internal ModuleIdentity Identity()
        {
            lock (_gate)
            {
                var identity = new ModuleIdentity
                {
                    Esn = Esn, Mode = Mode, Enrolled = Mode != ModuleMode.FactoryState, FirmwareVersion = "memory-1",
                    Clock = DateTimeOffset.UtcNow + ClockOffset, ClockValid = true,
                };
                foreach (var kv in ServerKeys) identity.ServerKeys[kv.Key] = kv.Value.PublicKey;
                return identity;
            }
        }

        internal IReadOnlyDictionary<string, IReadOnlyCollection<string>> Keys()
        {
            lock (_gate)
                return ModuleServices.All.ToDictionary(s => s,
                    s => (IReadOnlyCollection<string>)(_clientKeys.TryGetValue(s, out var k) ? k.Select(x => x.Fingerprint).ToList() : new List<string>()));
        }

        internal void Add(string service, SshPublicKey key)
        {
            var keys = KeysOf(service);
            if (!keys.Any(k => k.Fingerprint == key.Fingerprint)) keys.Add(key);
        }

        internal void Remove(string esn, string service, string fingerprint)
        {
            var keys = KeysOf(service);
            if (service == ModuleServices.SshAdmin && keys.Count == 1 && keys[0].Fingerprint == fingerprint)
                throw new ModuleErrorException(esn, service, "remove key", HsmErrorKind.InvalidOperation, "LAST_KEY",
                    "the last sshadmin key cannot be removed");
            keys.RemoveAll(k => k.Fingerprint == fingerprint);
        }

        internal void Set(string service, IEnumerable<SshPublicKey> keys) => _clientKeys[service] = keys.ToList();

        internal void Enroll(IReadOnlyDictionary<string, SshPublicKey> keys)
        {
            if (Mode != ModuleMode.FactoryState && Mode != ModuleMode.Recovery)
                throw new ModuleErrorException(Esn, ModuleServices.SshAdmin, "enroll", HsmErrorKind.InvalidOperation, "MODE",
                    "the module is enrolled already");
            foreach (var kv in keys) _clientKeys[kv.Key] = new List<SshPublicKey> { kv.Value };
            Mode = ModuleMode.Operational;
        }

        internal void FactoryReset()
        {
            _clientKeys.Clear();
            NewServerKeys();
            Mode = ModuleMode.FactoryState;
        }

        /// <summary>The module's clock minus real UTC (issue 22: settime); a memory module's clock is always valid.</summary>
        public TimeSpan ClockOffset { get; set; }

        internal ModuleClockChange SetTime(DateTimeOffset utcNow, bool adjust)
        {
            var before = DateTimeOffset.UtcNow + ClockOffset;
            // No slewing in memory: an adjustment takes effect at once, like a step.
            ClockOffset = utcNow - DateTimeOffset.UtcNow;
            return new ModuleClockChange
            {
                ClockBefore = before, ClockValidBefore = true, ClockAfter = DateTimeOffset.UtcNow + ClockOffset, Adjusted = adjust, Mode = Mode,
            };
        }

        /// <summary>A module whose recovery button is not held: a reboot asked into Recovery mode is a normal one.</summary>
        public bool IgnoresRecovery { get; set; }

        /// <summary>A reboot: a memory module comes back at once in the mode it had (recovery: factory state, new server keys).</summary>
        internal ModuleMode Reboot(bool recovery)
        {
            var before = Mode;
            if (recovery && !IgnoresRecovery)
            {
                FactoryReset();
                Mode = ModuleMode.Recovery;
            }
            return before;
        }

        private List<SshPublicKey> KeysOf(string service)
        {
            if (!_clientKeys.TryGetValue(service, out var keys)) _clientKeys[service] = keys = new List<SshPublicKey>();
            return keys;
        }
    }

    /// <summary>
    /// The adapter: a transport named "memory" whose addresses are names of <see cref="MemoryModule"/>s, opening
    /// <see cref="MemorySession"/>s. Like every transport it checks the server key against the policy before it
    /// authenticates, unless <see cref="SkipServerKeyCheck"/> makes it a buggy one (the engine must still refuse).
    /// </summary>
    public sealed class MemoryTransport : IModuleTransport
    {
        public const string Name = "memory";
        public static readonly MemoryTransport Instance = new MemoryTransport();
        private static int _registered;

        public static void Register()
        {
            if (Interlocked.Exchange(ref _registered, 1) == 0) ModuleTransports.Register(Name, Instance);
        }

        public ConcurrentDictionary<string, MemoryModule> Modules { get; } = new ConcurrentDictionary<string, MemoryModule>();
        /// <summary>Addresses whose transport forgets to check the server key (a transport bug).</summary>
        public ConcurrentDictionary<string, bool> SkipServerKeyCheck { get; } = new ConcurrentDictionary<string, bool>();
        /// <summary>Addresses where someone in the middle presents its own server keys.</summary>
        public ConcurrentDictionary<string, SshKeyPair> Impostor { get; } = new ConcurrentDictionary<string, SshKeyPair>();

        public string? CheckAddress(string address) => Modules.ContainsKey(address) ? null : "no in-memory module has that name";

        public Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential, ServerKeyPolicy policy,
            CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!Modules.TryGetValue(module.Host, out var target))
                throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError, $"No in-memory module '{module.Host}'.", module.Esn);
            var presented = Impostor.TryGetValue(module.Host, out var impostor) ? impostor.PublicKey : target.ServerKeys[service].PublicKey;
            if (!SkipServerKeyCheck.ContainsKey(module.Host) && policy.Expected != null && !policy.Expected.Blob.SequenceEqual(presented.Blob))
                throw new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                    $"Module {module.Esn} presented another {service} server key than the pin.", module.Esn);
            if (!target.Authorizes(service, credential.PublicKey))
                throw new HsmException(HsmErrorIds.AuthenticationFailed, HsmErrorKind.AuthenticationError,
                    $"Module {module.Esn} refused the {service} client key.", module.Esn);
            return Task.FromResult<IModuleSession>(new MemorySession(module.Esn, service, presented, target));
        }
    }

    /// <summary>One service of one <see cref="MemoryModule"/>: each module action is a method call, no wire format at all.</summary>
    public sealed class MemorySession : IModuleSession
    {
        private readonly MemoryModule _module;

        public MemorySession(string esn, string service, SshPublicKey serverKey, MemoryModule module)
        {
            Esn = esn; Service = service; ServerKey = serverKey; _module = module;
        }

        public string Esn { get; }
        public string Service { get; }
        public SshPublicKey ServerKey { get; }

        private Task Admin(string action, Action change)
        {
            if (Service != ModuleServices.SshAdmin)
                throw new ModuleErrorException(Esn, Service, action, HsmErrorKind.InvalidArgument, "WRONG_SERVICE", "sshadmin only");
            _module.Run(Service, action, change);
            return Task.CompletedTask;
        }

        public Task<ModuleIdentity> GetIdentityAsync(CancellationToken cancellationToken)
        {
            _module.Run(Service, "identity", () => { });
            return Task.FromResult(_module.Identity());
        }

        public Task PingAsync(CancellationToken cancellationToken)
        {
            _module.Run(Service, "ping", () => { });
            return Task.CompletedTask;
        }

        public async Task<IReadOnlyDictionary<string, IReadOnlyCollection<string>>> ListKeysAsync(CancellationToken cancellationToken)
        {
            IReadOnlyDictionary<string, IReadOnlyCollection<string>>? keys = null;
            await Admin("list keys", () => keys = _module.Keys()).ConfigureAwait(false);
            return keys!;
        }

        public Task AddKeyAsync(string service, SshPublicKey key, CancellationToken cancellationToken) =>
            Admin("add key", () => _module.Add(service, key));

        public Task RemoveKeyAsync(string service, string fingerprint, CancellationToken cancellationToken) =>
            Admin("remove key", () => _module.Remove(Esn, service, fingerprint));

        public Task SetKeysAsync(string service, IReadOnlyList<SshPublicKey> keys, CancellationToken cancellationToken) =>
            Admin("set keys", () => _module.Set(service, keys));

        public Task EnrollAsync(IReadOnlyDictionary<string, SshPublicKey> clientKeys, CancellationToken cancellationToken) =>
            Admin("enroll", () => _module.Enroll(clientKeys));

        public Task ReturnToFactoryStateAsync(int timeoutSeconds, CancellationToken cancellationToken) =>
            Admin("factory state", () => _module.FactoryReset());

        public Task<IReadOnlyList<ModuleLogRecord>> GetLogsAsync(DateTimeOffset? since, int? tail, CancellationToken cancellationToken)
        {
            _module.Run(Service, "logs", () => { });
            return Task.FromResult<IReadOnlyList<ModuleLogRecord>>(Array.Empty<ModuleLogRecord>());
        }

        public async Task<ModuleClockChange> SetTimeAsync(DateTimeOffset utcNow, bool adjust, CancellationToken cancellationToken)
        {
            ModuleClockChange? change = null;
            await Admin("set time", () => change = _module.SetTime(utcNow, adjust)).ConfigureAwait(false);
            return change!;
        }

        public async Task<ModuleMode> RebootAsync(bool recovery, CancellationToken cancellationToken)
        {
            var before = ModuleMode.Operational;
            await Admin("reboot", () => before = _module.Reboot(recovery)).ConfigureAwait(false);
            return before;
        }

        // Firmware over the updater service (issue 22 item 3). A memory module has no vendor root: it checks the package's
        // form and VSN only.
        private void Updater(string action)
        {
            if (Service != ModuleServices.Updater)
                throw new ModuleErrorException(Esn, Service, action, HsmErrorKind.InvalidArgument, "WRONG_SERVICE", "updater only");
        }

        public async Task<FirmwareInstallOutcome> UpdateFirmwareAsync(System.IO.Stream package, long length, CancellationToken cancellationToken)
        {
            Updater("upgrade");
            var buffer = new System.IO.MemoryStream();
            await package.CopyToAsync(buffer).ConfigureAwait(false);
            FirmwarePackage parsed;
            try { parsed = FirmwarePackage.Parse(buffer.ToArray()); }
            catch (FormatException ex) { throw ModuleRefusals.PackageInvalid(Esn, ex.Message); }
            if (parsed.Vsn < _module.MinimumVsn) throw ModuleRefusals.VsnTooLow(Esn, $"VSN {parsed.Vsn}, minimum {_module.MinimumVsn}");
            var outcome = new FirmwareInstallOutcome
            {
                Image = parsed.Image, PreviousVersion = _module.FirmwareVersion, Version = parsed.Version, Vsn = parsed.Vsn, Rebooting = true,
                ModeAfter = _module.Mode,
            };
            _module.Run(Service, "upgrade", () => { _module.FirmwareVersion = parsed.Version; _module.FirmwareVsn = parsed.Vsn; });
            return outcome;
        }

        public Task<ModuleLogClearOutcome> ClearLogsAsync(long fromSequence, long throughSequence, CancellationToken cancellationToken)
        {
            if (Service != ModuleServices.Monitor)
                throw new ModuleErrorException(Esn, Service, "clear logs", HsmErrorKind.InvalidArgument, "WRONG_SERVICE", "monitor only");
            _module.Run(Service, "clear logs", () => { });
            return Task.FromResult(new ModuleLogClearOutcome()); // a memory module keeps no log
        }

        public Task<int> SetMinimumVsnAsync(int vsn, CancellationToken cancellationToken)
        {
            Updater("setminvsn");
            if (vsn < _module.MinimumVsn || vsn > _module.FirmwareVsn)
                throw ModuleRefusals.MinimumVsnInvalid(Esn, $"{vsn} is outside {_module.MinimumVsn}..{_module.FirmwareVsn}");
            _module.Run(Service, "setminvsn", () => _module.MinimumVsn = vsn);
            return Task.FromResult(vsn);
        }

        public void Dispose() { }
    }
}
