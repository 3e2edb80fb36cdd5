using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Simulation;
using Xunit;
using Xunit.Abstractions;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>The same firmware without sshd (InProcess transport), plus the pieces around it: bus, hardserver, default credential.</summary>
    public class FirmwareInProcessTests : IDisposable
    {
        private readonly ITestOutputHelper _out;
        private readonly SimTestKit _kit = new();
        public FirmwareInProcessTests(ITestOutputHelper o) { _out = o; }
        public void Dispose() => _kit.Dispose();

        private static JsonElement Call(string dir, string svc, string fp, string verb, string? body = null, int expectExit = 0)
        {
            var r = ModuleFirmware.Handle(new FirmwareRequest(dir, svc, fp, verb, body));
            Assert.False(r.Dropped);
            Assert.True(r.ExitCode == expectExit, r.Json);
            using var d = JsonDocument.Parse(r.Json);
            return d.RootElement.Clone();
        }

        [Fact]
        public void DefaultCredentialConstantsMatchTheSeedAndTheKeysEngine()
        {
            var pub = SshPublicKey.Parse(DefaultCredential.PublicKeyLine);
            Assert.Equal(DefaultCredential.Fingerprint, pub.Fingerprint);
            using var pair = OpenSshPrivateKey.Decode(DefaultCredential.PrivateKeyOpenSsh, null);
            Assert.Equal(DefaultCredential.Fingerprint, pair.PublicKey.Fingerprint);
            Assert.Equal(DefaultCredential.PublicKeyLine, pair.PublicKey.ToAuthorizedKeysLine());
            Assert.Equal(DefaultCredential.Comment, pair.PublicKey.Comment);
            // The published seed is the private key in the published text.
            var seed = ((Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters)pair.Private).GetEncoded();
            Assert.Equal(DefaultCredential.SeedHex, string.Concat(seed.Select(b => b.ToString("x2"))));
            // The lazily derived objects are the same key.
            Assert.Equal(DefaultCredential.Fingerprint, DefaultCredential.PublicKey.Fingerprint);
            Assert.Equal(DefaultCredential.Fingerprint, DefaultCredential.KeyPair.PublicKey.Fingerprint);
            Assert.True(DefaultCredential.PublicKey.Verify(new byte[] { 1, 2, 3 }, DefaultCredential.KeyPair.Sign(new byte[] { 1, 2, 3 })));
        }

        [Fact]
        public void ModuleMadeKeysAreReadableByTheKeysEngine()
        {
            var sim = _kit.Start(1, _kit.NewHost(), SimulatorTransport.InProcess);
            var m = sim.Modules.Single();
            var hostKey = File.ReadAllText(Path.Combine(m.ModuleDir, "services", "sshadmin", "host_key"));
            using var pair = OpenSshPrivateKey.Decode(hostKey, null);
            Assert.Equal(m.Endpoint("sshadmin").ServerKeyFingerprint, pair.PublicKey.Fingerprint);
            Assert.Equal(SshPublicKey.Parse(m.Endpoint("sshadmin").ServerPublicKey).Fingerprint, m.Endpoint("sshadmin").ServerKeyFingerprint);
        }

        [Fact]
        public void InProcessTransportRunsTheSameFirmwareWithoutSshd()
        {
            var host = _kit.NewHost();
            var sim = _kit.Start(1, host, SimulatorTransport.InProcess);
            var m = sim.Modules.Single();
            Assert.All(m.Endpoints, e => Assert.Equal(0, e.Port));
            var bus = ModuleBus.Read(host).Single();
            Assert.True(bus.IsInProcess);
            Assert.Equal(m.ModuleDir, bus.ModuleDir);
            Assert.Equal(sim.Root, bus.SimulatorRoot);
            var dir = bus.ModuleDir!;
            Assert.True(ModuleFirmware.IsServiceRunning(dir, "sshadmin"));
            Assert.True(ModuleFirmware.IsAuthorized(dir, "sshadmin", DefaultCredential.Fingerprint));
            Assert.False(ModuleFirmware.IsAuthorized(dir, "ncoreapi", DefaultCredential.Fingerprint));
            Assert.Equal(m.Endpoint("setup").ServerPublicKey, ModuleFirmware.GetServerPublicKey(dir, "setup"));

            var keys = ModuleServices.All.ToDictionary(s => s, s => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "h-" + s));
            var body = JsonSerializer.Serialize(new { clientKeys = keys.ToDictionary(k => k.Key, k => k.Value.PublicKey.ToAuthorizedKeysLine()) });
            var en = Call(dir, "sshadmin", DefaultCredential.Fingerprint, "enroll", body);
            Assert.Equal("Operational", en.GetProperty("result").GetProperty("mode").GetString());
            Assert.False(ModuleFirmware.IsAuthorized(dir, "sshadmin", DefaultCredential.Fingerprint));
            foreach (var svc in ModuleServices.All)
            {
                Assert.True(ModuleFirmware.IsAuthorized(dir, svc, keys[svc].PublicKey.Fingerprint));
                Assert.Equal(svc, Call(dir, svc, keys[svc].PublicKey.Fingerprint, "ping").GetProperty("result").GetProperty("service").GetString());
            }
            // A key that is not installed is refused even if a caller skips IsAuthorized.
            Assert.Equal("E_CREDENTIAL", Call(dir, "sshadmin", keys["setup"].PublicKey.Fingerprint, "ping", expectExit: 1).GetProperty("error").GetProperty("code").GetString());

            sim.InjectFault(m.Esn, FaultKind.DropAfter, "keys.add");
            var extra = SshKeyPair.Generate(SshKeyAlgorithm.EcdsaP256);
            var dropped = ModuleFirmware.Handle(new FirmwareRequest(dir, "sshadmin", keys["sshadmin"].PublicKey.Fingerprint, "keys.add",
                JsonSerializer.Serialize(new { service = "monitor", publicKey = extra.PublicKey.ToAuthorizedKeysLine() })));
            Assert.True(dropped.Dropped);
            Assert.True(ModuleFirmware.IsAuthorized(dir, "monitor", extra.PublicKey.Fingerprint));

            var rec = sim.PressRecoveryButton(m.Esn);
            Assert.False(ModuleFirmware.IsServiceRunning(dir, "ncoreapi"));
            Assert.True(ModuleFirmware.IsServiceRunning(dir, "sshadmin"));
            Assert.All(rec.Endpoints, e => Assert.NotEqual(m.Endpoint(e.Service).ServerKeyFingerprint, e.ServerKeyFingerprint));
            sim.BootNormally(m.Esn);
            Assert.True(ModuleFirmware.IsServiceRunning(dir, "ncoreapi"));
            Assert.Equal(ModuleMode.FactoryState, sim.GetModule(m.Esn).Mode);
            sim.SetRefuse(m.Esn, true);
            Assert.False(ModuleFirmware.IsServiceRunning(dir, "sshadmin"));
            sim.Stop();
            Assert.Empty(ModuleBus.Read(host));
        }

        [Fact]
        public void AcceptsEveryClientKeyAlgorithmTheProductGenerates()
        {
            var sim = _kit.Start(1, _kit.NewHost(), SimulatorTransport.InProcess);
            var dir = sim.Modules[0].ModuleDir;
            var algs = new[] { SshKeyAlgorithm.Ed25519, SshKeyAlgorithm.EcdsaP256, SshKeyAlgorithm.EcdsaP384, SshKeyAlgorithm.EcdsaP521, SshKeyAlgorithm.Rsa3072, SshKeyAlgorithm.Rsa4096 };
            var keys = ModuleServices.All.Select((s, i) => (s, k: SshKeyPair.Generate(algs[i]))).ToDictionary(x => x.s, x => x.k);
            var body = JsonSerializer.Serialize(new { clientKeys = keys.ToDictionary(k => k.Key, k => k.Value.PublicKey.ToAuthorizedKeysLine()) });
            Call(dir, "sshadmin", DefaultCredential.Fingerprint, "enroll", body);
            var list = Call(dir, "sshadmin", keys["sshadmin"].PublicKey.Fingerprint, "keys.list").GetProperty("result").GetProperty("keys");
            foreach (var svc in ModuleServices.All)
                Assert.Equal(keys[svc].PublicKey.Fingerprint, list.GetProperty(svc)[0].GetProperty("fingerprint").GetString());
        }

        [Fact]
        public void HardserverLoadsTheNcoreapiKeyOnlyWhenRestarted()
        {
            var host = _kit.NewHost();
            _kit.Start(1, host, SimulatorTransport.InProcess);
            var hs = SimulatedHardserver.Read(host);
            Assert.True(hs.Running);
            Assert.Null(hs.LoadedNcoreapiFingerprint);
            Directory.CreateDirectory(Path.Combine(host, "client-keys"));
            File.WriteAllText(Path.Combine(host, "client-keys", "ncoreapi.json"), "{\"fingerprint\":\"SHA256:abc\"}");
            Assert.Null(SimulatedHardserver.Read(host).LoadedNcoreapiFingerprint);
            Assert.Equal("SHA256:abc", SimulatedHardserver.Restart(host).LoadedNcoreapiFingerprint);
            Assert.Equal("SHA256:abc", SimulatedHardserver.Read(host).LoadedNcoreapiFingerprint);
        }

        [Fact]
        public void BusFileRoundTripsAndRejectsDamage()
        {
            var host = _kit.NewHost();
            var a = new AttachedModule { Esn = "8A2C-91F3-0D4E", ModuleDir = "/x", SimulatorRoot = "/r" };
            a.Ports["sshadmin"] = 2201; a.Ports["ncoreapi"] = 2202;
            ModuleBus.Attach(host, a);
            ModuleBus.Attach(host, new AttachedModule { Esn = "0000-0000-0001", Transport = AttachedModule.InProcessTransport });
            var read = ModuleBus.Read(host);
            Assert.Equal(2, read.Count);
            var r = read.Single(x => x.Esn == a.Esn);
            Assert.Equal(2202, r.PortOf("ncoreapi"));
            Assert.Equal("/x", r.ModuleDir);
            Assert.True(ModuleBus.Detach(host, "8a2c-91f3-0d4e"));
            Assert.False(ModuleBus.Detach(host, "8A2C-91F3-0D4E"));
            File.WriteAllText(ModuleBus.PathOf(host), "{\"modules\":[{\"esn\":");
            var e = Assert.Throws<HsmException>(() => ModuleBus.Read(host));
            Assert.Equal(HsmErrorIds.StoreCorrupt, e.ErrorId);
        }

        [Fact]
        public void ConcurrentCommandsOnOneModuleAreSerialised()
        {
            var sim = _kit.Start(1, _kit.NewHost(), SimulatorTransport.InProcess);
            var dir = sim.Modules[0].ModuleDir;
            var keys = ModuleServices.All.ToDictionary(s => s, s => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519));
            Call(dir, "sshadmin", DefaultCredential.Fingerprint, "enroll",
                JsonSerializer.Serialize(new { clientKeys = keys.ToDictionary(k => k.Key, k => k.Value.PublicKey.ToAuthorizedKeysLine()) }));
            var extra = Enumerable.Range(0, 20).Select(_ => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)).ToList();
            System.Threading.Tasks.Parallel.ForEach(extra, k =>
                Call(dir, "sshadmin", keys["sshadmin"].PublicKey.Fingerprint, "keys.add", JsonSerializer.Serialize(new { service = "launcher", publicKey = k.PublicKey.ToAuthorizedKeysLine() })));
            Assert.Equal(21, ModuleFirmware.ReadAuthorizedKeys(Path.Combine(dir, "services", "launcher", "authorized_keys")).Count);
        }
    }

    /// <summary>Fleet scale: 16 modules = 96 sshd on a 2-core machine.</summary>
    public class SimulatorScaleTests
    {
        private readonly ITestOutputHelper _out;
        public SimulatorScaleTests(ITestOutputHelper o) { _out = o; }

        [Fact]
        public void SixteenModulesStartAndStopCleanly()
        {
            using var kit = new SimTestKit();
            var host = kit.NewHost();
            var sw = Stopwatch.StartNew();
            var sim = kit.Start(16, host);
            var startMs = sw.ElapsedMilliseconds;
            var eps = sim.Modules.SelectMany(m => m.Endpoints).ToList();
            Assert.Equal(96, eps.Count);
            Assert.Equal(96, eps.Select(e => e.Port).Distinct().Count());
            Assert.All(eps, e => Assert.True(e.Running));
            Assert.Equal(16, ModuleBus.Read(host).Count);
            long rssKb = eps.Sum(e => long.Parse(File.ReadAllLines($"/proc/{e.Pid}/status").First(l => l.StartsWith("VmRSS:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
            long pssKb = eps.Sum(e => long.Parse(File.ReadAllLines($"/proc/{e.Pid}/smaps_rollup").First(l => l.StartsWith("Pss:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
            sw.Restart();
            sim.Stop();
            var stopMs = sw.ElapsedMilliseconds;
            Assert.All(eps, e => Assert.False(Native.IsAlive(e.Pid)));
            Assert.All(eps, e => Assert.False(Native.IsPortOpen(e.Port)));
            _out.WriteLine($"16 modules / 96 sshd: start {startMs} ms, stop+verify {stopMs} ms, RSS sum {rssKb / 1024} MiB, PSS sum {pssKb / 1024} MiB");
        }
    }
}

namespace NShield.HsmAdmin.Tests.Simulation
{
    public class SimulatorLifecycleTests : System.IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        [Xunit.Fact]
        public void StaleBusEntriesOfDeadSimulatorsAreDroppedAndRootsAreFoundPerHost()
        {
            var host = _kit.NewHost();
            NShield.HsmAdmin.Drivers.ModuleBus.Attach(host, new NShield.HsmAdmin.Drivers.AttachedModule { Esn = "DEAD-DEAD-DEAD", SimulatorRoot = System.IO.Path.Combine(_kit.Dir, "gone") });
            var sim = _kit.Start(1, host, NShield.HsmAdmin.Simulation.SimulatorTransport.InProcess);
            var bus = NShield.HsmAdmin.Drivers.ModuleBus.Read(host);
            Xunit.Assert.Equal(sim.Modules[0].Esn, System.Linq.Enumerable.Single(bus).Esn);
            Xunit.Assert.Equal(new[] { sim.Root }, NShield.HsmAdmin.Simulation.Simulator.RootsForHost(host));
            Xunit.Assert.True(NShield.HsmAdmin.Simulation.Simulator.IsRunning(sim.Root));
            // A second simulator on the same root is refused while the first runs.
            var e = Xunit.Assert.Throws<HsmException>(() => NShield.HsmAdmin.Simulation.Simulator.Start(1, host, NShield.HsmAdmin.Simulation.SimulatorTransport.InProcess, sim.Root));
            Xunit.Assert.Equal(HsmErrorIds.SimulatorStartFailed, e.ErrorId);
            NShield.HsmAdmin.Simulation.Simulator.Stop(sim.Root);
            Xunit.Assert.False(NShield.HsmAdmin.Simulation.Simulator.IsRunning(sim.Root));
            Xunit.Assert.Throws<HsmException>(() => NShield.HsmAdmin.Simulation.Simulator.Open(sim.Root).AddModule(host));
        }
    }
}
