using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Simulation
{
    public enum SimulatorTransport { Ssh, InProcess }

    /// <summary>Kinds of injected step faults (see docs/firmware-protocol.md, "Fault injection").</summary>
    public enum FaultKind
    {
        /// <summary>Reply E_FAULT before any change.</summary>
        FailAt,
        /// <summary>Drop the connection without replying, before the change is committed.</summary>
        DropBefore,
        /// <summary>Drop the connection without replying, after the change is committed.</summary>
        DropAfter,
    }

    /// <summary>One service endpoint of a simulated module.</summary>
    public sealed class SimulatedEndpoint
    {
        public string Service { get; internal set; } = "";
        /// <summary>Loopback TCP port (0 for the InProcess transport).</summary>
        public int Port { get; internal set; }
        public string ServerPublicKey { get; internal set; } = "";
        public string ServerKeyFingerprint { get; internal set; } = "";
        public bool Running { get; internal set; }
        public int Pid { get; internal set; }
        public override string ToString() => $"{Service}:{Port} {ServerKeyFingerprint}";
    }

    /// <summary>Snapshot of a simulated module.</summary>
    public sealed class SimulatedModule
    {
        public string Esn { get; internal set; } = "";
        public ModuleMode Mode { get; internal set; }
        public bool Enrolled { get; internal set; }
        public string HostPath { get; internal set; } = "";
        public string ModuleDir { get; internal set; } = "";
        public SimulatorTransport Transport { get; internal set; }
        public IReadOnlyList<SimulatedEndpoint> Endpoints { get; internal set; } = new SimulatedEndpoint[0];
        /// <summary>
        /// The client keys each service accepts (service → SHA256 fingerprints), read from the module's own authorized_keys:
        /// what the module answers to keys.list, not what the host believes. Tests read it to show which keys a module holds.
        /// </summary>
        public IReadOnlyDictionary<string, string[]> ClientKeys { get; internal set; } = new Dictionary<string, string[]>();
        /// <summary>Injected step faults not yet fired (the sum of every rule's remaining count): a fault that fired is consumed.</summary>
        public int PendingFaults { get; internal set; }
        /// <summary>The delay fault: every command waits this long first (0: none).</summary>
        public int DelayMs { get; internal set; }
        // Clock and reboot (issue 22)
        /// <summary>The module's clock minus real UTC, in seconds, as it reads now (null: the clock is invalid).</summary>
        public double? ClockOffsetSeconds { get; internal set; }
        /// <summary>A correction the module is still slewing (settime with adjust), in seconds.</summary>
        public double AdjustingSeconds { get; internal set; }
        /// <summary>ncoreapi in (emulated) maintenance mode (the host's nopclearfail -M): the clock may be stepped.</summary>
        public bool Maintenance { get; internal set; }
        /// <summary>How long a reboot takes, in ms, and whether the module is rebooting now.</summary>
        public int BootMs { get; internal set; }
        public bool Booting { get; internal set; }
        public SimulatedEndpoint Endpoint(string service) => Endpoints.First(e => e.Service == ModuleServices.Canonical(service));
        public override string ToString() => $"{Esn} {Mode}";
    }

    /// <summary>
    /// The simulated module fleet: modules (state folders under &lt;root&gt;/modules/&lt;ESN&gt;), one sshd per (module, service),
    /// attached to simulated hosts through each host's bus file. Persisted in &lt;root&gt;/simulator.json so another process
    /// can <see cref="Open"/> and <see cref="Stop()"/> it. Thread-safe.
    /// </summary>
    public sealed class Simulator : IDisposable
    {
        public const string StateFileName = "simulator.json";

        private readonly object _gate = new object();
        private readonly List<Entry> _modules = new List<Entry>();
        // Every host store this simulator set up: Stop takes its settings out of each again.
        private readonly List<string> _hosts = new List<string>();

        private sealed class Entry { public string Esn = "", HostPath = "", ModuleDir = ""; }

        public string Root { get; }
        public SimulatorTransport Transport { get; }
        public string VendorRootPublicKey { get; private set; } = "";
        public bool Stopped { get; private set; }
        /// <summary>
        /// False (the default): the simulator dies with its owner, the process that started it; a watcher stops it within
        /// seconds of that process's death, however it died (<see cref="OwnerWatch"/>). True: it runs until stopped
        /// (Stop-HsmSimulator), for long-lived labs and for tests that hand it from one process to another.
        /// </summary>
        public bool Persistent { get; private set; }
        /// <summary>The process that started the simulator.</summary>
        public int OwnerPid { get; private set; }
        /// <summary>The watcher's pid (0: persistent, or no watcher could run here).</summary>
        public int WatcherPid { get; private set; }
        internal string SshdPath { get; private set; } = "";
        internal string DotnetPath { get; private set; } = "";
        internal string FirmwareDll { get; private set; } = "";

        private Simulator(string root, SimulatorTransport transport)
        {
            Root = root;
            Transport = transport;
            // The engine reaches in-process modules through the transport the simulator plugs into it.
            if (transport == SimulatorTransport.InProcess) InProcessModuleTransport.Register();
        }

        /// <summary>A new, unused simulator folder under the temp directory.</summary>
        public static string NewTemporaryRoot() => Path.Combine(Path.GetTempPath(), "nshield-sim-" + Guid.NewGuid().ToString("N").Substring(0, 10));

        /// <summary>The simulated vendor's well-known factory sshadmin credential (written when a host is prepared).</summary>
        public string FactoryCredentialPath => SimulatedHost.FactoryCredentialPath(Root);

        public string VendorRootKeyPath => Path.Combine(Root, "vendor-root.key");
        public string VendorRootPubPath => Path.Combine(Root, "vendor-root.pub");
        private string StatePath => Path.Combine(Root, StateFileName);
        private string TransportName => Transport == SimulatorTransport.Ssh ? ModuleTransports.Ssh : InProcessModuleTransport.Name;

        /// <summary>Default transport: Ssh where sshd exists, else InProcess.</summary>
        public static SimulatorTransport DefaultTransport => FirmwareLocator.IsSshAvailable ? SimulatorTransport.Ssh : SimulatorTransport.InProcess;

        /// <summary>
        /// Starts moduleCount fresh modules (factory state, as shipped) registered in the host store at hostPath (null: attached
        /// to no host; register them with the product's registry yourself). simRoot defaults to a new folder under the temp
        /// directory. The host is made to trust the simulated vendor root and gets the factory credential and a stand-in hardserver.
        /// </summary>
        /// <param name="persistent">Outlive the calling process (see <see cref="Persistent"/>); by default a watcher stops the
        /// simulator once this process is gone, and deletes its folder if this call created it.</param>
        /// <param name="ownerPid">The process the simulator dies with (0: the calling process); not with persistent.</param>
        public static Simulator Start(int moduleCount, string? hostPath, SimulatorTransport transport = SimulatorTransport.Ssh,
            string? simRoot = null,
                                      bool persistent = false, int ownerPid = 0)
        {
            if (moduleCount < 0 || moduleCount > 64)
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidArgument,
                    "ModuleCount must be from 0 to 64.", moduleCount);
            if (ownerPid != 0 && (persistent || ownerPid < 0 || !ProcessTools.IsAlive(ownerPid)))
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidArgument, persistent
                    ? "Give either -Persistent or -OwnerProcessId, not both."
                    : $"The owner process {ownerPid} is not running: a simulator can only be tied to a live process.", ownerPid);
            var root = Path.GetFullPath(simRoot ?? NewTemporaryRoot());
            // Whether this call makes the folder (the host store may go inside it): then a failed start, and the watcher
            // after the owner's death, delete it again.
            bool created = !Directory.Exists(root);
            if (transport == SimulatorTransport.Ssh && FirmwareLocator.TryFindSshd() == null)
                throw new HsmException(SimulatorErrorIds.SshdNotFound, HsmErrorKind.ObjectNotFound,
                    "OpenSSH sshd was not found (install openssh-server, or set NSHIELD_HSMADMIN_SSHD), or use -Transport InProcess.");
            try { if (hostPath != null) SimulatedHost.Claim(hostPath); }
            catch
            {
                if (created) try { Directory.Delete(root, true); } catch (Exception) { }
                throw;
            }
            if (File.Exists(Path.Combine(root, StateFileName)))
            {
                var existing = TryOpen(root);
                if (existing != null && !existing.Stopped)
                    throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.ResourceExists,
                        $"A simulator is already running in '{root}'. Stop it first (Stop-HsmSimulator) or use another root.", root);
            }
            var sim = new Simulator(root, transport) { Persistent = persistent, OwnerPid = ownerPid != 0 ? ownerPid : OwnerWatch.SelfPid };
            try
            {
                if (transport == SimulatorTransport.Ssh)
                {
                    sim.SshdPath = FirmwareLocator.TryFindSshd()
                        ?? throw new HsmException(SimulatorErrorIds.SshdNotFound, HsmErrorKind.ObjectNotFound,
                        "OpenSSH sshd was not found (install openssh-server, or set NSHIELD_HSMADMIN_SSHD), or use -Transport InProcess.");
                    sim.FirmwareDll = FirmwareLocator.FindFirmwareDll();
                    if (sim.FirmwareDll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) sim.DotnetPath = FirmwareLocator.FindDotnet();
                }
                // Owner-only: it holds the simulated vendor's root key and the modules' keys.
                SecureFiles.EnsureDirectory(root, FileAccessScope.OwnerOnly);
                Directory.CreateDirectory(Path.Combine(root, "modules"));
                sim.EnsureVendorRoot();
                // The simulated vendor's well-known factory credential, for hosts set up by hand (Set-HsmHostConfiguration).
                if (!File.Exists(sim.FactoryCredentialPath)) SecureFiles.WriteAtomic(sim.FactoryCredentialPath, DefaultCredential.PrivateKeyOpenSsh,
                    FileAccessScope.OwnerOnly);
                sim.Save();
                // Watched before any process starts: the owner may die at any point from here on.
                if (!persistent) sim.StartWatcher(created);
            }
            catch
            {
                if (created) try { Directory.Delete(root, true); } catch (Exception) { }
                throw;
            }
            try
            {
                sim.AddModules(moduleCount, hostPath);
            }
            catch
            {
                try { sim.Stop(); } catch (Exception) { }
                OwnerWatch.End(sim.WatcherPid, sim.Root);
                if (created) try { Directory.Delete(root, true); } catch (Exception) { }
                throw;
            }
            return sim;
        }

        private void StartWatcher(bool removeRoot)
        {
            var firmware = FirmwareDll;
            var dotnet = DotnetPath;
            if (firmware.Length == 0)
            {
                // InProcess: no endpoint, but stand-in hardservers and the folder still go with the owner.
                firmware = FirmwareLocator.TryFindFirmwareDll() ?? "";
                if (firmware.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) dotnet = FirmwareLocator.TryFindDotnet() ?? "";
            }
            WatcherPid = OwnerWatch.Start(Root, firmware, dotnet, removeRoot, OwnerPid);
            Save();
        }


        /// <summary>Opens a simulator persisted in simRoot (started by this or another process).</summary>
        public static Simulator Open(string simRoot) => TryOpen(simRoot)
            ?? throw new HsmException(SimulatorErrorIds.SimulatorNotFound, HsmErrorKind.ObjectNotFound,
            $"No simulator found in '{simRoot}'.", simRoot);

        /// <summary>Stops the simulator persisted in simRoot: every sshd by pid, then verifies no port is left listening.</summary>
        public static void Stop(string simRoot) => Open(simRoot).Stop();

        private static Simulator? TryOpen(string simRoot)
        {
            var root = Path.GetFullPath(simRoot);
            var path = Path.Combine(root, StateFileName);
            if (!File.Exists(path)) return null;
            var f = JsonSerializer.Deserialize(File.ReadAllBytes(path), SimulatorJson.Default.SimulatorFile)
                ?? throw new JsonException($"{path} is null");
            var t = f.Transport == InProcessModuleTransport.Name ? SimulatorTransport.InProcess : SimulatorTransport.Ssh;
            var sim = new Simulator(root, t)
            {
                SshdPath = f.Sshd ?? "",
                DotnetPath = f.Dotnet ?? "",
                FirmwareDll = f.FirmwareDll ?? "",
                VendorRootPublicKey = f.VendorRootPublicKey ?? "",
                Stopped = f.Stopped,
                Persistent = f.Persistent,
                OwnerPid = f.Owner,
                WatcherPid = f.Watcher,
            };
            sim._hosts.AddRange(f.Hosts ?? new List<string>());
            foreach (var m in f.Modules ?? new List<SimulatorModuleEntry>())
                sim._modules.Add(new Entry { Esn = m.Esn ?? "", HostPath = m.HostPath ?? "", ModuleDir = m.ModuleDir ?? "" });
            return sim;
        }

        private void Save()
        {
            var file = new SimulatorFile
            {
                Root = Root, Transport = TransportName, Sshd = SshdPath, Dotnet = DotnetPath, FirmwareDll = FirmwareDll,
                VendorRootPublicKey = VendorRootPublicKey, Stopped = Stopped, Hosts = _hosts.ToList(),
                Persistent = Persistent, Owner = OwnerPid, Watcher = WatcherPid,
                Modules = _modules.Select(m => new SimulatorModuleEntry { Esn = m.Esn, HostPath = m.HostPath, ModuleDir = m.ModuleDir }).ToList(),
            };
            SecureFiles.WriteAtomic(StatePath, JsonSerializer.Serialize(file, SimulatorJson.Default.SimulatorFile) + "\n", FileAccessScope.Public);
        }

        private void EnsureVendorRoot()
        {
            if (!File.Exists(VendorRootKeyPath))
            {
                using var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, ModuleFirmware.VendorRootComment);
                SecureFiles.WriteAtomic(VendorRootKeyPath, OpenSshPrivateKey.Encode(root, null), FileAccessScope.OwnerOnly);
                SecureFiles.WriteAtomic(VendorRootPubPath, root.PublicKey.ToAuthorizedKeysLine() + "\n", FileAccessScope.Public);
            }
            VendorRootPublicKey = File.ReadAllText(VendorRootPubPath).Trim();
        }

        // ------------------------------------------------------------------ modules

        /// <summary>Current snapshot of every module (read from the module folders).</summary>
        public IReadOnlyList<SimulatedModule> Modules
        {
            get { lock (_gate) return _modules.Select(Snapshot).ToList(); }
        }

        public SimulatedModule GetModule(string esn) { lock (_gate) return Snapshot(Find(esn)); }

        private Entry Find(string esn) =>
            _modules.FirstOrDefault(m => string.Equals(m.Esn, esn?.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound, $"The simulator has no module with ESN '{esn}'.", esn);

        private SimulatedModule Snapshot(Entry e)
        {
            var now = DateTime.UtcNow;
            var l = new ModuleLayout(e.ModuleDir);
            var s = ModuleFirmware.ReadState(l);
            var eps = new List<SimulatedEndpoint>();
            foreach (var svc in ModuleServices.All)
            {
                var pub = SshPublicKey.Parse(File.ReadAllText(l.HostKeyPub(svc)));
                int port = 0, pid = 0;
                if (Transport == SimulatorTransport.Ssh)
                {
                    int.TryParse(File.Exists(l.PortFile(svc)) ? File.ReadAllText(l.PortFile(svc)).Trim() : "0", out port);
                    pid = ProcessTools.ReadPidFile(l.PidFile(svc));
                }
                eps.Add(new SimulatedEndpoint
                {
                    Service = svc, Port = port, Pid = pid, ServerPublicKey = pub.WithComment("").ToAuthorizedKeysLine(),
                    ServerKeyFingerprint = pub.Fingerprint,
                    Running = ModuleFirmware.IsServiceRunning(l.Dir, svc),
                });
            }
            return new SimulatedModule
            {
                Esn = s.Esn, Mode = s.Mode, Enrolled = s.Enrolled, HostPath = e.HostPath, ModuleDir = l.Dir, Transport = Transport, Endpoints = eps,
                ClientKeys = ModuleFirmware.ListClientKeys(l.Dir), PendingFaults = s.Faults.Sum(f => Math.Max(0, f.Count)), DelayMs = s.DelayMs,
                ClockOffsetSeconds = s.InvalidClock ? (double?)null : Math.Round((s.ClockOffsetMs + s.SlewedMs(now)) / 1000.0, 3),
                AdjustingSeconds = Math.Round((s.AdjustMs - s.SlewedMs(now)) / 1000.0, 3),
                Maintenance = s.Maintenance, BootMs = s.BootMs, Booting = s.IsBooting(now),
            };
        }

        /// <summary>Adds one fresh (factory state) module attached to hostPath (null: to no host).</summary>
        public SimulatedModule AddModule(string? hostPath) => AddModules(1, hostPath)[0];

        /// <summary>Adds count fresh modules registered in hostPath's store (null: attached to no host); their sshd
        /// endpoints start concurrently.</summary>
        public IReadOnlyList<SimulatedModule> AddModules(int count, string? hostPath)
        {
            EnsureRunning();
            hostPath = hostPath == null ? "" : Path.GetFullPath(hostPath);
            if (hostPath.Length > 0) SimulatedHost.Claim(hostPath);
            var vendorKey = File.ReadAllText(VendorRootKeyPath);
            var fresh = new List<Entry>();
            lock (_gate)
            {
                for (int i = 0; i < count; i++)
                {
                    string esn;
                    do { esn = NewEsn(); } while (_modules.Any(m => m.Esn == esn) || fresh.Any(m => m.Esn == esn));
                    fresh.Add(new Entry { Esn = esn, HostPath = hostPath, ModuleDir = Path.Combine(Root, "modules", esn) });
                }
            }
            Parallel.ForEach(fresh, new ParallelOptions { MaxDegreeOfParallelism = 4 }, e =>
                ModuleFirmware.Provision(e.ModuleDir, e.Esn, vendorKey, DotnetPath, FirmwareDll, TransportName));
            lock (_gate) { _modules.AddRange(fresh); Save(); }
            try
            {
                if (Transport == SimulatorTransport.Ssh)
                {
                    var work = fresh.SelectMany(e => ModuleServices.All.Select(svc => (e, svc))).ToList();
                    Parallel.ForEach(work, new ParallelOptions { MaxDegreeOfParallelism = 16 }, w =>
                        SshdEndpoint.Start(new ModuleLayout(w.e.ModuleDir), w.svc, SshdPath));
                }
                if (hostPath.Length > 0)
                {
                    PrepareHost(hostPath);
                    foreach (var e in fresh) Attach(e);
                }
            }
            catch
            {
                foreach (var e in fresh) StopEndpoints(e);
                throw;
            }
            lock (_gate) return fresh.Select(Snapshot).ToList();
        }

        /// <summary>Detaches the module from its host and stops its endpoints; its state folder is deleted.</summary>
        public void RemoveModule(string esn)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            Detach(e);
            StopEndpoints(e);
            lock (_gate) { _modules.Remove(e); Save(); }
            try { Directory.Delete(e.ModuleDir, true); } catch (IOException) { }
        }

        /// <summary>The physical move: unregistered from the current host's store, registered in the destination's; module state is kept.</summary>
        public SimulatedModule MoveModule(string esn, string destinationHostPath)
        {
            destinationHostPath = Path.GetFullPath(destinationHostPath);
            SimulatedHost.Claim(destinationHostPath);
            Entry e;
            lock (_gate) e = Find(esn);
            Detach(e);
            PrepareHost(destinationHostPath);
            lock (_gate) { e.HostPath = destinationHostPath; Save(); }
            Attach(e);
            return GetModule(esn);
        }

        /// <summary>Recovery mode (rear button at boot): factory reset (new server keys, client keys gone, default credential back)
        /// and ncoreapi not running until <see cref="BootNormally"/>.</summary>
        public SimulatedModule PressRecoveryButton(string esn)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            ModuleFirmware.PressRecoveryButton(e.ModuleDir);
            if (Transport == SimulatorTransport.Ssh) SshdEndpoint.Stop(new ModuleLayout(e.ModuleDir), ModuleServices.NCoreApi);
            return GetModule(esn);
        }

        /// <summary>Normal boot: mode Operational if enrolled else FactoryState; ncoreapi's endpoint back (same port if free).</summary>
        public SimulatedModule BootNormally(string esn)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            ModuleFirmware.BootNormally(e.ModuleDir);
            EnsureEndpointsRunning(e);
            return GetModule(esn);
        }

        /// <summary>Step fault: the next count times verb runs on this module it fails (E_FAULT) or drops the connection.</summary>
        public void InjectFault(string esn, FaultKind kind, string verb, int count = 1)
        {
            if (!FirmwareVerbs.All.Contains(verb))
                throw new HsmException(SimulatorErrorIds.UnknownFirmwareCommand, HsmErrorKind.InvalidArgument,
                    $"'{verb}' is not a firmware command. Commands: {string.Join(", ", FirmwareVerbs.All)}.", verb);
            if (count < 1) throw new ArgumentOutOfRangeException(nameof(count));
            var k = kind == FaultKind.FailAt ? "failAt" : kind == FaultKind.DropBefore ? "dropBefore" : "dropAfter";
            Update(esn, s => s.Faults.Add(new FaultRule { Kind = k, Verb = verb, Count = count }));
        }

        /// <summary>Slow answers: every command waits delayMs first (0 clears).</summary>
        public void SetDelay(string esn, int delayMs) => Update(esn, s => s.DelayMs = Math.Max(0, delayMs));

        /// <summary>The module's clock reads 1970 (identity reports it) until cleared.</summary>
        public void SetInvalidClock(string esn, bool invalid) => Update(esn, s => s.InvalidClock = invalid);

        // Clock and reboot (issue 22)
        /// <summary>The module's clock runs this many seconds ahead of real UTC (negative: behind); a valid clock, no slewing.</summary>
        public void SetClockOffset(string esn, double seconds)
        {
            if (double.IsNaN(seconds) || Math.Abs(seconds) > 100L * 365 * 86400)
                throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "at most 100 years either way");
            Update(esn, s => { s.InvalidClock = false; s.ClockOffsetMs = (long)(seconds * 1000); s.AdjustMs = 0; s.AdjustStarted = null; });
        }

        /// <summary>ncoreapi's maintenance mode, as the host's nopclearfail -M (on) and -O (off) set it; a reboot leaves it.</summary>
        public void SetMaintenance(string esn, bool maintenance) => Update(esn, s => s.Maintenance = maintenance);

        /// <summary>
        /// How long the module takes to reboot, in ms (a slow boot: longer than a Restart-HsmModule -Timeout); a boot under way ends.
        /// </summary>
        public void SetBootMs(string esn, int bootMs)
        {
            if (bootMs < 0 || bootMs > 600_000) throw new ArgumentOutOfRangeException(nameof(bootMs), bootMs, "from 0 to 600000");
            // A boot under way finishes now (so a test lets a slow boot end without waiting); the next reboot takes bootMs.
            Update(esn, s =>
            {
                s.BootMs = bootMs;
                if (s.BootingUntil != null) s.BootingUntil = null;
            });
        }

        /// <summary>How many entries the module's command log keeps (the newest; 1 to the protocol's maximum).</summary>
        public void SetLogCapacity(string esn, int entries)
        {
            if (entries < 1 || entries > ModuleLog.MaxCapacity)
                throw new ArgumentOutOfRangeException(nameof(entries), entries, $"from 1 to {ModuleLog.MaxCapacity}");
            Update(esn, s => s.LogCapacity = entries);
        }

        /// <summary>
        /// A hardserver holds an ncoreapi session with the module (true) or none (false): while one is open in normal mode,
        /// ncoreapi is operational and the module refuses firmware, minimum VSN and log clearing (issue 22 item 6).
        /// </summary>
        public void SetNCoreApiSession(string esn, bool open) => Update(esn, s => s.NCoreApiSession = open);

        /// <summary>Fault: the oldest entry of the module's log is changed after it was signed; returns its sequence number (null: empty).</summary>
        public long? TamperLogEntry(string esn)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            return ModuleLog.Tamper(new ModuleLayout(e.ModuleDir));
        }

        /// <summary>Refuse connections: every endpoint of the module stops listening until cleared.</summary>
        public void SetRefuse(string esn, bool refuse)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            ModuleFirmware.UpdateState(e.ModuleDir, s => s.Refuse = refuse);
            if (refuse) StopEndpoints(e); else EnsureEndpointsRunning(e);
        }

        /// <summary>Clears step faults, delay, refuse and clock faults.</summary>
        public void ClearFaults(string esn)
        {
            Update(esn, s =>
            {
                s.Faults.Clear(); s.DelayMs = 0; s.InvalidClock = false;
                s.ClockOffsetMs = 0; s.AdjustMs = 0; s.AdjustStarted = null; s.BootMs = ModuleState.DefaultBootMs;
            });
            SetRefuse(esn, false);
        }

        /// <summary>A new server key for one service behind the host's back (what a man in the middle looks like); sshd reloaded.
        /// The certificate is left as it was unless updateCertificate (an attacker has no identity key to make one).</summary>
        public SimulatedModule ReplaceServerKey(string esn, string service, bool updateCertificate = false)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            ModuleFirmware.ReplaceServerKey(e.ModuleDir, service, updateCertificate);
            return GetModule(esn);
        }

        private void Update(string esn, Action<ModuleState> change)
        {
            Entry e;
            lock (_gate) e = Find(esn);
            ModuleFirmware.UpdateState(e.ModuleDir, change);
        }

        // ------------------------------------------------------------------ hosts

        /// <summary>Simulators that registered modules in this host store (for Stop-HsmSimulator -HostPath and similar).</summary>
        public static IReadOnlyList<string> RootsForHost(string hostPath) =>
            HostStore.Open(hostPath).GetRegisteredModules().Select(m => m.RegisteredBy)
                .Where(r => r != null && r.StartsWith("simulator:", StringComparison.Ordinal)).Select(r => r!.Substring("simulator:".Length))
                .Distinct(StringComparer.Ordinal).ToList();

        /// <summary>True when simRoot holds a simulator that has not been stopped.</summary>
        public static bool IsRunning(string simRoot)
        {
            try { var s = TryOpen(simRoot); return s != null && !s.Stopped; }
            catch (Exception e) when (e is IOException || e is JsonException || e is KeyNotFoundException) { return false; }
        }

        private void PrepareHost(string hostPath)
        {
            var store = SimulatedHost.Claim(hostPath);
            // Registrations left by simulators that were stopped or whose folder is gone (e.g. a killed session).
            foreach (var stale in store.GetRegisteredModules().Where(m => m.RegisteredBy != null && m.RegisteredBy != SimulatedHost.RegisteredBy(Root)
                                                                         && m.RegisteredBy.StartsWith("simulator:", StringComparison.Ordinal)
                                                                         && !IsRunning(m.RegisteredBy.Substring("simulator:".Length))).ToList())
                store.UnregisterModule(stale.Esn);
            lock (_gate)
            {
                if (!_hosts.Contains(store.Root)) { _hosts.Add(store.Root); Save(); }
            }
            SimulatedHost.Prepare(store, Root, SshPublicKey.Parse(VendorRootPublicKey));
        }

        /// <summary>Registers the module in its host's store through the product's registry, as an administrator would.</summary>
        private void Attach(Entry e)
        {
            if (e.HostPath.Length == 0) return;
            var l = new ModuleLayout(e.ModuleDir);
            var registration = new ModuleRegistration
            {
                Esn = e.Esn, Transport = TransportName, RegisteredBy = SimulatedHost.RegisteredBy(Root),
                Address = Transport == SimulatorTransport.Ssh ? "127.0.0.1" : l.Dir,
                // sshd runs as the account that started the simulator and only logs that account in.
                User = Environment.UserName,
            };
            if (Transport == SimulatorTransport.Ssh)
                foreach (var svc in ModuleServices.All)
                    if (File.Exists(l.PortFile(svc))
                        && int.TryParse(File.ReadAllText(l.PortFile(svc)).Trim(), out var p)) registration.Ports[svc] = p;
            HostStore.Open(e.HostPath).RegisterModule(registration, replace: true);
        }

        private static void Detach(Entry e)
        {
            if (e.HostPath.Length == 0 || !Directory.Exists(e.HostPath)) return;
            HostStore.Open(e.HostPath).UnregisterModule(e.Esn);
        }

        private void EnsureEndpointsRunning(Entry e)
        {
            if (Transport != SimulatorTransport.Ssh) return;
            var l = new ModuleLayout(e.ModuleDir);
            var s = ModuleFirmware.ReadState(l);
            bool portsChanged = false;
            foreach (var svc in ModuleServices.All)
            {
                if (!ModuleFirmware.ServiceShouldRun(s, svc) || ProcessTools.IsAlive(ProcessTools.ReadPidFile(l.PidFile(svc)))) continue;
                int.TryParse(File.Exists(l.PortFile(svc)) ? File.ReadAllText(l.PortFile(svc)).Trim() : "0", out var old);
                var (_, port) = SshdEndpoint.Start(l, svc, SshdPath, old);
                portsChanged |= port != old;
            }
            if (portsChanged) Attach(e);
        }

        private void StopEndpoints(Entry e)
        {
            if (Transport != SimulatorTransport.Ssh) return;
            var l = new ModuleLayout(e.ModuleDir);
            Parallel.ForEach(ModuleServices.All, svc => SshdEndpoint.Stop(l, svc));
        }

        // ------------------------------------------------------------------ stop

        /// <summary>Stops every sshd this simulator started (by pid), waits for them to exit, detaches its modules from their
        /// hosts and verifies that no endpoint port is still listening (throws otherwise).</summary>
        public void Stop()
        {
            List<Entry> all;
            lock (_gate) all = _modules.ToList();
            var ports = new List<int>();
            foreach (var e in all)
            {
                var l = new ModuleLayout(e.ModuleDir);
                foreach (var svc in ModuleServices.All)
                    if (File.Exists(l.PortFile(svc)) && int.TryParse(File.ReadAllText(l.PortFile(svc)).Trim(), out var p)) ports.Add(p);
            }
            Parallel.ForEach(all, new ParallelOptions { MaxDegreeOfParallelism = 8 }, StopEndpoints);
            // Every host is cleaned up even if one fails; the failures are reported together at the end.
            var failures = new List<string>();
            foreach (var e in all)
            {
                try { Detach(e); } catch (HsmException ex) { failures.Add($"unregister {e.Esn} from {e.HostPath}: {ex.Message}"); }
            }
            List<string> hosts;
            lock (_gate) hosts = _hosts.ToList();
            foreach (var host in hosts)
            {
                try { SimulatedHost.Release(host, Root); } catch (HsmException ex) { failures.Add($"clean up {host}: {ex.Message}"); }
            }
            lock (_gate) { Stopped = true; Save(); }
            // Stopped: the watcher has nothing left to wait for (a no-op inside the watcher itself).
            OwnerWatch.End(WatcherPid, Root);
            if (failures.Count > 0)
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidOperation,
                    $"The simulator stopped, but not everything it put into host stores could be taken out: {string.Join("; ", failures)}.", Root);
            var open = Transport == SimulatorTransport.Ssh ? ports.Where(p => ProcessTools.IsPortOpen(p, 200)).ToList() : new List<int>();
            if (open.Count > 0)
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.DeviceError,
                    $"After stopping, loopback ports are still listening: {string.Join(", ", open)}.", Root);
        }

        public void Dispose()
        {
            if (!Stopped) Stop();
        }

        private void EnsureRunning()
        {
            if (Stopped)
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidOperation,
                    $"The simulator in '{Root}' was stopped.", Root);
        }

        private static string NewEsn()
        {
            var b = new byte[6];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(b);
            var h = BitConverter.ToString(b).Replace("-", "");
            return $"{h.Substring(0, 4)}-{h.Substring(4, 4)}-{h.Substring(8, 4)}";
        }
    }
}
