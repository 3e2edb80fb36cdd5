using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Trust;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using Xunit;
using Xunit.Abstractions;
using NShield.HsmAdmin.Protocol;

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
            // Registered through the product's registry like any module, with the in-process transport and its folder as address.
            var registered = HostStore.Open(host).GetRegisteredModules().Single();
            Assert.Equal(InProcessModuleTransport.Name, registered.Transport);
            Assert.Equal(m.ModuleDir, registered.Address);
            Assert.Equal("simulator:" + sim.Root, registered.RegisteredBy);
            var dir = registered.Address;
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

            // The snapshot shows what the module holds (its own authorized_keys), one key per service after enroll.
            var snap = sim.GetModule(m.Esn);
            Assert.Equal(ModuleServices.All.OrderBy(x => x), snap.ClientKeys.Keys.OrderBy(x => x));
            foreach (var svc in ModuleServices.All) Assert.Equal(new[] { keys[svc].PublicKey.Fingerprint }, snap.ClientKeys[svc]);
            Assert.Equal(0, snap.PendingFaults);

            sim.InjectFault(m.Esn, FaultKind.DropAfter, "keys.add");
            Assert.Equal(1, sim.GetModule(m.Esn).PendingFaults);
            var extra = SshKeyPair.Generate(SshKeyAlgorithm.EcdsaP256);
            var dropped = ModuleFirmware.Handle(new FirmwareRequest(dir, "sshadmin", keys["sshadmin"].PublicKey.Fingerprint, "keys.add",
                JsonSerializer.Serialize(new { service = "monitor", publicKey = extra.PublicKey.ToAuthorizedKeysLine() })));
            Assert.True(dropped.Dropped);
            Assert.True(ModuleFirmware.IsAuthorized(dir, "monitor", extra.PublicKey.Fingerprint));
            snap = sim.GetModule(m.Esn);
            Assert.Equal(0, snap.PendingFaults);   // the fault fired and was consumed
            Assert.Equal(new[] { keys["monitor"].PublicKey.Fingerprint, extra.PublicKey.Fingerprint }, snap.ClientKeys["monitor"]);
            sim.SetDelay(m.Esn, 250);
            Assert.Equal(250, sim.GetModule(m.Esn).DelayMs);
            sim.SetDelay(m.Esn, 0);

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
            Assert.Empty(HostStore.Open(host).GetRegisteredModules());
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
        public void MalformedClientKeysAreBadRequestsAndChangeNothing()
        {
            var sim = _kit.Start(1, _kit.NewHost(), SimulatorTransport.InProcess);
            var dir = sim.Modules[0].ModuleDir;
            var keys = ModuleServices.All.ToDictionary(s => s, s => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519));
            Call(dir, "sshadmin", DefaultCredential.Fingerprint, "enroll",
                JsonSerializer.Serialize(new { clientKeys = keys.ToDictionary(k => k.Key, k => k.Value.PublicKey.ToAuthorizedKeysLine()) }));
            var admin = keys["sshadmin"].PublicKey.Fingerprint;
            var good = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "c").PublicKey.ToAuthorizedKeysLine();
            var offCurve = new byte[32]; offCurve[0] = 2; // y = 2 has no x on Ed25519
            string Line(byte[] blob) => "ssh-ed25519 " + Convert.ToBase64String(blob);
            var bad = new[]
            {
                "",
                "ssh-ed25519",
                "ssh-ed25519 !!!notbase64",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBad",
                Line(new SshWireWriter().String("ssh-ed25519").String(new byte[31]).ToArray()),
                Line(new SshWireWriter().String("ssh-ed25519").String(offCurve).ToArray()),
                Line(new SshWireWriter().String("ssh-ed25519").String(new byte[32]).String("x").ToArray()),
                "ecdsa-sha2-nistp256 " + good.Split(' ')[1],                        // type does not match the blob
                "ssh-dss " + Convert.ToBase64String(new SshWireWriter().String("ssh-dss").ToArray()),
                "restrict,command=\"/bin/sh\" " + good,                            // options are not accepted
                good + "\u0001",
                good.Replace(" c", "\tc\nssh-ed25519 AAAA"),
                new string('a', 20000),
            };
            var before = File.ReadAllText(Path.Combine(dir, "services", "launcher", "authorized_keys"));
            foreach (var line in bad)
            {
                var r = Call(dir, "sshadmin", admin, "keys.add", JsonSerializer.Serialize(new { service = "launcher", publicKey = line }), expectExit: 1);
                Assert.True(r.GetProperty("error").GetProperty("code").GetString() == "E_BAD_REQUEST", line + " -> " + r);
                Assert.Contains("malformed public key", r.GetProperty("error").GetProperty("message").GetString());
            }
            Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "services", "launcher", "authorized_keys")));
            // RSA 2048 is below what the Keys engine accepts (3072/4096).
            var rsa = new Org.BouncyCastle.Crypto.Generators.RsaKeyPairGenerator();
            rsa.Init(new Org.BouncyCastle.Crypto.KeyGenerationParameters(new Org.BouncyCastle.Security.SecureRandom(), 2048));
            var pub = (Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)rsa.GenerateKeyPair().Public;
            var rsa2048 = "ssh-rsa " + Convert.ToBase64String(new SshWireWriter().String("ssh-rsa").Mpint(pub.Exponent).Mpint(pub.Modulus).ToArray());
            Assert.Equal("E_BAD_REQUEST", Call(dir, "sshadmin", admin, "keys.add", JsonSerializer.Serialize(new { service = "launcher", publicKey = rsa2048 }), expectExit: 1)
                .GetProperty("error").GetProperty("code").GetString());
            // A good key with a comment still goes in, and keys.list shows it as the Keys engine writes it.
            var added = Call(dir, "sshadmin", admin, "keys.add", JsonSerializer.Serialize(new { service = "launcher", publicKey = "  " + good + "  " }));
            Assert.Equal(SshPublicKey.Parse(good).Fingerprint, added.GetProperty("result").GetProperty("fingerprint").GetString());
            Assert.Contains(ModuleFirmware.ReadAuthorizedKeys(Path.Combine(dir, "services", "launcher", "authorized_keys")), k => k.ToAuthorizedKeysLine() == good);
        }

        [Fact]
        public void TrustChainSignsWithSshKeyPairAndVerifiesWithSshPublicKey()
        {
            using var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "root");
            using var id = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "identity@X");
            using var server = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            const string esn = "ABCD-EF01-2345";
            var warrant = TrustChain.MakeWarrant(root, esn, id.PublicKey.Blob);
            var cert = TrustChain.MakeCertificate(id, esn, "sshadmin", server.PublicKey.Blob);
            string rootLine = root.PublicKey.ToAuthorizedKeysLine(), idLine = id.PublicKey.ToAuthorizedKeysLine();
            Assert.True(TrustChain.Verify(rootLine, esn, idLine, warrant, "sshadmin", server.PublicKey.Blob, cert).Ok);
            Assert.True(TrustChain.Verify(rootLine, esn, idLine, warrant, "sshadmin", server.PublicKey.ToAuthorizedKeysLine(), cert).Ok);

            // Wire format (docs/firmware-protocol.md): tag, ESN, blob, SSH signature blob (string "ssh-ed25519", string raw64).
            var r = new SshWireReader(Convert.FromBase64String(warrant));
            Assert.Equal(TrustChain.WarrantTag, r.ReadUtf8());
            Assert.Equal(esn, r.ReadUtf8());
            Assert.Equal(id.PublicKey.Blob, r.ReadString());
            var sr = new SshWireReader(r.ReadString());
            Assert.Equal(0, r.Remaining);
            Assert.Equal("ssh-ed25519", sr.ReadName());
            Assert.Equal(64, sr.ReadString().Length);
            Assert.Equal(0, sr.Remaining);

            // Tampering anywhere fails with a reason, never an exception.
            var wb = Convert.FromBase64String(warrant);
            for (int i = 0; i < wb.Length; i++)
            {
                var t = (byte[])wb.Clone(); t[i] ^= 0x01;
                Assert.False(TrustChain.VerifyWarrant(rootLine, esn, idLine, Convert.ToBase64String(t)).Ok);
            }
            var cb = Convert.FromBase64String(cert);
            for (int i = 0; i < cb.Length; i++)
            {
                var t = (byte[])cb.Clone(); t[i] ^= 0x80;
                Assert.False(TrustChain.VerifyCertificate(esn, idLine, "sshadmin", server.PublicKey.Blob, Convert.ToBase64String(t)).Ok);
            }
            Assert.False(TrustChain.VerifyWarrant(rootLine, esn, idLine, "not base64!").Ok);
            Assert.False(TrustChain.VerifyWarrant(rootLine, esn, idLine, warrant.Substring(0, 20)).Ok);
            Assert.Contains("unreadable", TrustChain.VerifyWarrant("garbage", esn, idLine, warrant).Reason);
            using var p256 = SshKeyPair.Generate(SshKeyAlgorithm.EcdsaP256);
            Assert.Equal("vendor root key must be Ed25519", TrustChain.VerifyWarrant(p256.PublicKey.ToAuthorizedKeysLine(), esn, idLine, warrant).Reason);
            // Signed by the wrong key.
            Assert.Contains("not from the trusted vendor root", TrustChain.VerifyWarrant(rootLine, esn, idLine, TrustChain.MakeWarrant(id, esn, id.PublicKey.Blob)).Reason);
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
            Assert.Equal(16, HostStore.Open(host).GetRegisteredModules().Count);
            long rssKb = eps.Sum(e => long.Parse(File.ReadAllLines($"/proc/{e.Pid}/status").First(l => l.StartsWith("VmRSS:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
            long pssKb = eps.Sum(e => long.Parse(File.ReadAllLines($"/proc/{e.Pid}/smaps_rollup").First(l => l.StartsWith("Pss:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
            sw.Restart();
            sim.Stop();
            var stopMs = sw.ElapsedMilliseconds;
            Assert.All(eps, e => Assert.False(ProcessTools.IsAlive(e.Pid)));
            Assert.All(eps, e => Assert.False(ProcessTools.IsPortOpen(e.Port)));
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
        public void StaleRegistrationsOfDeadSimulatorsAreDroppedAndRootsAreFoundPerHost()
        {
            var host = _kit.NewHost();
            NShield.HsmAdmin.Store.HostStore.Open(host).RegisterModule(new NShield.HsmAdmin.Store.ModuleRegistration
                { Esn = "DEAD-DEAD-DEAD", Address = "127.0.0.1", RegisteredBy = "simulator:" + System.IO.Path.Combine(_kit.Dir, "gone") });
            var sim = _kit.Start(1, host, NShield.HsmAdmin.Simulation.SimulatorTransport.InProcess);
            var registered = NShield.HsmAdmin.Store.HostStore.Open(host).GetRegisteredModules();
            Xunit.Assert.Equal(sim.Modules[0].Esn, System.Linq.Enumerable.Single(registered).Esn);
            Xunit.Assert.Equal(new[] { sim.Root }, NShield.HsmAdmin.Simulation.Simulator.RootsForHost(host));
            Xunit.Assert.True(NShield.HsmAdmin.Simulation.Simulator.IsRunning(sim.Root));
            // A second simulator on the same root is refused while the first runs.
            var e = Xunit.Assert.Throws<HsmException>(() => NShield.HsmAdmin.Simulation.Simulator.Start(1, host, NShield.HsmAdmin.Simulation.SimulatorTransport.InProcess, sim.Root));
            Xunit.Assert.Equal(SimulatorErrorIds.SimulatorStartFailed, e.ErrorId);
            NShield.HsmAdmin.Simulation.Simulator.Stop(sim.Root);
            Xunit.Assert.False(NShield.HsmAdmin.Simulation.Simulator.IsRunning(sim.Root));
            Xunit.Assert.Throws<HsmException>(() => NShield.HsmAdmin.Simulation.Simulator.Open(sim.Root).AddModule(host));
        }
    }
}
