using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Trust;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>The simulated module seen through the REAL OpenSSH client (ssh, ssh-keyscan).</summary>
    public class SshEndpointTests : IDisposable
    {
        private readonly ITestOutputHelper _out;
        private readonly SimTestKit _kit = new();
        public SshEndpointTests(ITestOutputHelper o) { _out = o; }
        public void Dispose() => _kit.Dispose();

        private Dictionary<string, (string KeyFile, string Line)> ClientKeys(string prefix = "c") =>
            ModuleServices.All.ToDictionary(s => s, s => _kit.NewClientKey($"{prefix}-{s}"));

        private SimProcessResult EnrollOverSsh(SimulatedModule m, Dictionary<string, (string KeyFile, string Line)> keys) =>
            _kit.Ssh(m.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line)));

        private static string Keyscan(int port)
        {
            var r = SimProcessRunner.Run("ssh-keyscan", new[] { "-t", "ed25519", "-p", port.ToString(), "127.0.0.1" });
            var line = r.StdOut.Split('\n').FirstOrDefault(l => l.Length > 0 && !l.StartsWith("#"));
            if (line == null) return "";
            var parts = line.Split(' ');
            return parts[1] + " " + parts[2];
        }

        [Fact]
        public void EachEndpointPresentsTheServerKeyTheSimulatorReports()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            Assert.Equal(ModuleMode.FactoryState, m.Mode);
            Assert.Equal(6, m.Endpoints.Select(e => e.Port).Distinct().Count());
            foreach (var ep in m.Endpoints)
            {
                Assert.Equal(ep.ServerPublicKey, Keyscan(ep.Port));
                // and ssh-keygen agrees with the reported fingerprint
                var f = Path.Combine(_kit.Dir, ep.Service + ".pub");
                File.WriteAllText(f, ep.ServerPublicKey + "\n");
                var fp = SimProcessRunner.Run("ssh-keygen", new[] { "-l", "-f", f }).StdOut.Split(' ')[1];
                Assert.Equal(ep.ServerKeyFingerprint, fp);
            }
            var all = sim.Modules.Single().Endpoints.Select(e => e.ServerKeyFingerprint).Distinct().Count();
            Assert.Equal(6, all);
        }

        [Fact]
        public void DefaultCredentialOnlyIdentityAndEnrollInFactoryState()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var def = _kit.DefaultCredentialFile();
            var id = _kit.Ssh(m.Endpoint("sshadmin"), def, "identity");
            Assert.True(id.ExitCode == 0, id.ToString());
            var reply = SimTestKit.Reply(id);
            Assert.Equal(m.Esn, reply.GetProperty("result").GetProperty("esn").GetString());
            Assert.Equal("FactoryState", reply.GetProperty("result").GetProperty("mode").GetString());

            foreach (var verb in new[] { "keys.list", "ping", "factorystate" })
            {
                var r = _kit.Ssh(m.Endpoint("sshadmin"), def, verb, "{}");
                Assert.Equal(1, r.ExitCode);
                Assert.Equal("E_CREDENTIAL", SimTestKit.ErrorCode(r));
            }
            // Every other service refuses everything in factory state.
            foreach (var svc in ModuleServices.All.Where(s => s != "sshadmin"))
            {
                var r = _kit.Ssh(m.Endpoint(svc), def, "identity");
                Assert.Equal(255, r.ExitCode);
                Assert.Contains("Permission denied", r.StdErr);
            }

            var keys = ClientKeys();
            var en = EnrollOverSsh(m, keys);
            Assert.True(en.ExitCode == 0, en.ToString());
            Assert.Equal("Operational", SimTestKit.Reply(en).GetProperty("result").GetProperty("mode").GetString());
            // After enrollment the default credential is gone.
            var after = _kit.Ssh(m.Endpoint("sshadmin"), def, "identity");
            Assert.Equal(255, after.ExitCode);
            // And a second enroll (with a client key) is refused by mode.
            var again = _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line)));
            Assert.Equal("E_MODE", SimTestKit.ErrorCode(again));
        }

        [Fact]
        public void AfterEnrollEachClientKeyWorksOnItsServiceOnly()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            Assert.Equal(0, EnrollOverSsh(m, keys).ExitCode);
            foreach (var svc in ModuleServices.All)
            {
                var r = _kit.Ssh(m.Endpoint(svc), keys[svc].KeyFile, "ping");
                Assert.True(r.ExitCode == 0, svc + ": " + r);
                var res = SimTestKit.Reply(r).GetProperty("result");
                Assert.Equal(svc, res.GetProperty("service").GetString());
                Assert.Equal(m.Esn, res.GetProperty("esn").GetString());
            }
            // A key installed for another service is refused; so is a key never installed.
            var wrong = _kit.Ssh(m.Endpoint("ncoreapi"), keys["sshadmin"].KeyFile, "ping");
            Assert.Equal(255, wrong.ExitCode);
            var stranger = _kit.NewClientKey("stranger");
            Assert.Equal(255, _kit.Ssh(m.Endpoint("sshadmin"), stranger.KeyFile, "ping").ExitCode);
            // keys.list shows the installed keys
            var list = SimTestKit.Reply(_kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "keys.list")).GetProperty("result").GetProperty("keys");
            foreach (var svc in ModuleServices.All)
                Assert.Equal(SshPublicKey.Parse(keys[svc].Line).Fingerprint, list.GetProperty(svc)[0].GetProperty("fingerprint").GetString());
        }

        [Fact]
        public void ChangedServerKeyIsRefusedByTheClientBeforeAuthentication()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var kh = _kit.KnownHosts(m.Endpoint("sshadmin"));
            var m2 = sim.ReplaceServerKey(m.Esn, "sshadmin");
            Assert.NotEqual(m.Endpoint("sshadmin").ServerKeyFingerprint, m2.Endpoint("sshadmin").ServerKeyFingerprint);
            Assert.Equal(m2.Endpoint("sshadmin").ServerPublicKey, Keyscan(m2.Endpoint("sshadmin").Port));
            var r = _kit.Ssh(m.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "identity", knownHosts: kh);
            Assert.Equal(255, r.ExitCode);
            Assert.Contains("REMOTE HOST IDENTIFICATION HAS CHANGED", r.StdErr);
            // The certificate was not re-made (an attacker has no identity key): the chain check fails.
            var id = SimTestKit.Reply(_kit.Ssh(m2.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "identity")).GetProperty("result");
            var v = TrustChain.Verify(sim.VendorRootPublicKey, m.Esn, id.GetProperty("identityKey").GetString()!, id.GetProperty("warrant").GetString()!,
                "sshadmin", m2.Endpoint("sshadmin").ServerPublicKey, id.GetProperty("serverKeys").GetProperty("sshadmin").GetProperty("certificate").GetString()!);
            Assert.False(v.Ok);
            Assert.Contains("not the key its certificate names", v.Reason);
        }

        [Fact]
        public void TrustChainOfAFreshModuleVerifiesAgainstTheSimulatedVendorRoot()
        {
            var host = _kit.NewHost();
            var sim = _kit.Start(1, host);
            var m = sim.Modules.Single();
            // The simulator's vendor root went into the host store through its API: exactly one trusted root, the simulator's.
            var root = HostStore.Open(host).GetTrustedRoots().Single().PublicKey.ToAuthorizedKeysLine();
            Assert.Equal(SshPublicKey.Parse(sim.VendorRootPublicKey).Fingerprint, SshPublicKey.Parse(root).Fingerprint);
            var id = SimTestKit.Reply(_kit.Ssh(m.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "identity")).GetProperty("result");
            foreach (var svc in ModuleServices.All)
            {
                var sk = id.GetProperty("serverKeys").GetProperty(svc);
                var v = TrustChain.Verify(root, m.Esn, id.GetProperty("identityKey").GetString()!, id.GetProperty("warrant").GetString()!,
                    svc, Keyscan(m.Endpoint(svc).Port), sk.GetProperty("certificate").GetString()!);
                Assert.True(v.Ok, svc + ": " + v.Reason);
                // a certificate for another service does not fit
                var other = id.GetProperty("serverKeys").GetProperty(svc == "setup" ? "monitor" : "setup").GetProperty("certificate").GetString()!;
                Assert.False(TrustChain.Verify(root, m.Esn, id.GetProperty("identityKey").GetString()!, id.GetProperty("warrant").GetString()!, svc, m.Endpoint(svc).ServerPublicKey, other).Ok);
            }
            // wrong ESN and a foreign root fail
            var idk = id.GetProperty("identityKey").GetString()!; var w = id.GetProperty("warrant").GetString()!;
            Assert.Contains("ESN", TrustChain.VerifyWarrant(root, "0000-0000-0000", idk, w).Reason);
            Assert.False(TrustChain.VerifyWarrant(DefaultCredential.PublicKeyLine, m.Esn, idk, w).Ok);
        }

        [Fact]
        public void RecoveryChangesEveryServerKeyAndStopsNcoreapiUntilNormalBoot()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            Assert.Equal(0, EnrollOverSsh(m, keys).ExitCode);
            var before = m.Endpoints.ToDictionary(e => e.Service, e => e.ServerKeyFingerprint);

            var rec = sim.PressRecoveryButton(m.Esn);
            Assert.Equal(ModuleMode.Recovery, rec.Mode);
            Assert.False(rec.Enrolled);
            foreach (var ep in rec.Endpoints) Assert.NotEqual(before[ep.Service], ep.ServerKeyFingerprint);
            Assert.False(rec.Endpoint("ncoreapi").Running);
            Assert.False(ProcessTools.IsPortOpen(rec.Endpoint("ncoreapi").Port));
            foreach (var ep in rec.Endpoints.Where(e => e.Service != "ncoreapi")) Assert.Equal(ep.ServerPublicKey, Keyscan(ep.Port));
            // client keys gone, default credential back
            Assert.Equal(255, _kit.Ssh(rec.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping").ExitCode);
            Assert.Equal("Recovery", SimTestKit.Reply(_kit.Ssh(rec.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "identity")).GetProperty("result").GetProperty("mode").GetString());
            // enroll in recovery: stays Recovery, enrolled; ncoreapi still down
            var en = EnrollOverSsh(rec, keys);
            Assert.Equal(0, en.ExitCode);
            Assert.Equal("Recovery", SimTestKit.Reply(en).GetProperty("result").GetProperty("mode").GetString());
            Assert.False(ProcessTools.IsPortOpen(rec.Endpoint("ncoreapi").Port));

            var booted = sim.BootNormally(m.Esn);
            Assert.Equal(ModuleMode.Operational, booted.Mode);
            Assert.True(booted.Endpoint("ncoreapi").Running);
            Assert.Equal(0, _kit.Ssh(booted.Endpoint("ncoreapi"), keys["ncoreapi"].KeyFile, "ping").ExitCode);
        }

        [Fact]
        public void FactorystateOverSshRegeneratesServerKeysAndRestoresTheDefaultCredential()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            Assert.Equal(0, EnrollOverSsh(m, keys).ExitCode);
            var bad = _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "factorystate", "{\"timeoutSeconds\":2}");
            Assert.Equal("E_BAD_REQUEST", SimTestKit.ErrorCode(bad));
            var r = _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "factorystate", "{\"timeoutSeconds\":30}");
            Assert.True(r.ExitCode == 0, r.ToString());
            var after = sim.GetModule(m.Esn);
            Assert.Equal(ModuleMode.FactoryState, after.Mode);
            foreach (var ep in after.Endpoints)
            {
                Assert.NotEqual(m.Endpoint(ep.Service).ServerKeyFingerprint, ep.ServerKeyFingerprint);
                Assert.Equal(ep.Port, m.Endpoint(ep.Service).Port);
                Assert.Equal(ep.ServerPublicKey, Keyscan(ep.Port)); // sshd reloaded (HUP, same pid)
                Assert.Equal(m.Endpoint(ep.Service).Pid, ep.Pid);
            }
            Assert.Equal(255, _kit.Ssh(after.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping").ExitCode);
            Assert.Equal(0, _kit.Ssh(after.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "identity").ExitCode);
        }

        private static Dictionary<string, string> Snapshot(string dir) =>
            Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => !f.EndsWith("sshd.log") && !f.EndsWith(".lock") && !f.EndsWith("log.json"))
                .ToDictionary(f => f, f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

        [Fact]
        public void InvalidRequestsGetAnErrorCodeAndChangeNothing()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            Assert.Equal(0, EnrollOverSsh(m, keys).ExitCode);
            var admin = keys["sshadmin"].KeyFile;
            var before = Snapshot(m.ModuleDir);
            var cases = new (string Svc, string Key, string Verb, string Body, string Code)[]
            {
                ("sshadmin", admin, "format-disk", "", "E_UNKNOWN_COMMAND"),
                ("sshadmin", admin, "keys.add", "{\"service\":\"setup\",\"publicKey\":\"" + new string('A', 70000) + "\"}", "E_TOO_LARGE"),
                ("sshadmin", admin, "keys.add", "{\"service\":\"setup\",\"publicKey\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBad\"}", "E_BAD_REQUEST"),
                ("sshadmin", admin, "keys.add", "{\"service\":\"setup\",\"publicKey\":\"ssh-ed25519 AAAA\\nssh-ed25519 BBBB\"}", "E_BAD_REQUEST"),
                ("sshadmin", admin, "keys.add", "{\"service\":\"nosuch\",\"publicKey\":\"" + keys["setup"].Line + "\"}", "E_BAD_REQUEST"),
                ("sshadmin", admin, "keys.add", "{not json", "E_BAD_REQUEST"),
                ("sshadmin", admin, "keys.add", "{\"service\":\"setup\",\"publicKey\":\"" + DefaultCredential.PublicKeyLine + "\"}", "E_BAD_REQUEST"),
                ("ncoreapi", keys["ncoreapi"].KeyFile, "keys.list", "", "E_WRONG_SERVICE"),
                ("setup", keys["setup"].KeyFile, "keys.add", "{\"service\":\"setup\",\"publicKey\":\"" + keys["monitor"].Line + "\"}", "E_WRONG_SERVICE"),
                ("sshadmin", admin, "keys.remove", "{\"service\":\"sshadmin\",\"fingerprint\":\"" + SshPublicKey.Parse(keys["sshadmin"].Line).Fingerprint + "\"}", "E_IN_USE"),
                ("sshadmin", admin, "keys.set", "{\"service\":\"sshadmin\",\"publicKeys\":[]}", "E_LAST_KEY"),
                ("sshadmin", admin, "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line)), "E_MODE"),
            };
            foreach (var c in cases)
            {
                var r = _kit.Ssh(m.Endpoint(c.Svc), c.Key, c.Verb, c.Body);
                Assert.True(r.ExitCode == 1, c.Verb + ": " + r);
                Assert.Equal(c.Code, SimTestKit.ErrorCode(r));
                Assert.False(SimTestKit.Reply(r).GetProperty("ok").GetBoolean());
            }
            Assert.Equal(before, Snapshot(m.ModuleDir));
        }

        [Fact]
        public void KeysAddRemoveSetFollowTheRules()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            Assert.Equal(0, EnrollOverSsh(m, keys).ExitCode);
            var admin = keys["sshadmin"].KeyFile;
            var next = _kit.NewClientKey("next-sshadmin");
            string Add(string line) => "{\"service\":\"sshadmin\",\"publicKey\":\"" + line + "\"}";
            Assert.True(SimTestKit.Reply(_kit.Ssh(m.Endpoint("sshadmin"), admin, "keys.add", Add(next.Line))).GetProperty("result").GetProperty("changed").GetBoolean());
            Assert.False(SimTestKit.Reply(_kit.Ssh(m.Endpoint("sshadmin"), admin, "keys.add", Add(next.Line))).GetProperty("result").GetProperty("changed").GetBoolean());
            // new key works; it can remove the old one (not its own)
            var oldFp = SshPublicKey.Parse(keys["sshadmin"].Line).Fingerprint;
            var rm = _kit.Ssh(m.Endpoint("sshadmin"), next.KeyFile, "keys.remove", "{\"service\":\"sshadmin\",\"fingerprint\":\"" + oldFp + "\"}");
            Assert.True(rm.ExitCode == 0, rm.ToString());
            Assert.Equal(255, _kit.Ssh(m.Endpoint("sshadmin"), admin, "ping").ExitCode);
            // the last sshadmin key cannot go (it is also in use here)
            var nextFp = SshPublicKey.Parse(next.Line).Fingerprint;
            Assert.Equal("E_IN_USE", SimTestKit.ErrorCode(_kit.Ssh(m.Endpoint("sshadmin"), next.KeyFile, "keys.remove", "{\"service\":\"sshadmin\",\"fingerprint\":\"" + nextFp + "\"}")));
            // keys.set replaces a platform service's set
            var newSetup = _kit.NewClientKey("setup-2");
            var set = _kit.Ssh(m.Endpoint("sshadmin"), next.KeyFile, "keys.set", "{\"service\":\"setup\",\"publicKeys\":[\"" + newSetup.Line + "\"]}");
            Assert.True(set.ExitCode == 0, set.ToString());
            Assert.Equal(255, _kit.Ssh(m.Endpoint("setup"), keys["setup"].KeyFile, "ping").ExitCode);
            Assert.Equal(0, _kit.Ssh(m.Endpoint("setup"), newSetup.KeyFile, "ping").ExitCode);
        }

        [Fact]
        public void ModuleMovedToAnotherHostIsOnlyRegisteredThere()
        {
            var a = _kit.NewHost("hostA"); var b = _kit.NewHost("hostB");
            var sim = _kit.Start(2, a);
            var moving = sim.Modules[0];
            Assert.Equal(2, HostStore.Open(a).GetRegisteredModules().Count);
            Assert.Empty(HostStore.Open(b).GetRegisteredModules());
            sim.MoveModule(moving.Esn, b);
            Assert.Equal(new[] { sim.Modules[1].Esn }, HostStore.Open(a).GetRegisteredModules().Select(x => x.Esn));
            var onB = HostStore.Open(b).GetRegisteredModules().Single();
            Assert.Equal(moving.Esn, onB.Esn);
            Assert.Equal("ssh", onB.Transport);
            Assert.Equal("127.0.0.1", onB.Address);
            Assert.Equal(moving.Endpoint("sshadmin").Port, onB.Ports["sshadmin"]);
            Assert.Single(HostStore.Open(b).GetTrustedRoots());
            // The destination got a running stand-in hardserver, read the way the product reads a real one.
            var hardserver = new NShield.HsmAdmin.Hardserver.PlatformHardserver(HostStore.Open(b).GetConfiguration().Hardserver).GetState();
            Assert.True(hardserver.Running);
            // state kept: still reachable with the same server key at B's registered endpoint
            var ep = sim.GetModule(moving.Esn).Endpoint("sshadmin");
            Assert.Equal(moving.Endpoint("sshadmin").ServerPublicKey, Keyscan(onB.Ports["sshadmin"]));
            Assert.Equal(0, _kit.Ssh(ep, _kit.DefaultCredentialFile(), "identity").ExitCode);
            sim.RemoveModule(moving.Esn);
            Assert.Empty(HostStore.Open(b).GetRegisteredModules());
            Assert.False(ProcessTools.IsPortOpen(onB.Ports["sshadmin"]));
        }

        [Fact]
        public void InjectedFaultsFailDropRefuseAndSlowDown()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ClientKeys();
            var body = SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line));
            var before = Snapshot(m.ModuleDir).Where(k => !k.Key.EndsWith("state.json")).ToDictionary(k => k.Key, k => k.Value);

            sim.InjectFault(m.Esn, FaultKind.FailAt, "enroll");
            Assert.Equal("E_FAULT", SimTestKit.ErrorCode(EnrollOverSsh(m, keys)));
            sim.InjectFault(m.Esn, FaultKind.DropBefore, "enroll");
            var dropped = EnrollOverSsh(m, keys);
            Assert.Equal("", dropped.StdOut);
            Assert.NotEqual(0, dropped.ExitCode);
            Assert.Equal(before, Snapshot(m.ModuleDir).Where(k => !k.Key.EndsWith("state.json")).ToDictionary(k => k.Key, k => k.Value));
            Assert.False(sim.GetModule(m.Esn).Enrolled);

            sim.InjectFault(m.Esn, FaultKind.DropAfter, "enroll");
            var dropAfter = EnrollOverSsh(m, keys);
            Assert.Equal("", dropAfter.StdOut);
            Assert.True(sim.GetModule(m.Esn).Enrolled); // committed, reply lost
            Assert.Equal(0, _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping").ExitCode);

            sim.SetInvalidClock(m.Esn, true);
            var clock = SimTestKit.Reply(_kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "identity")).GetProperty("result").GetProperty("clock").GetString();
            Assert.StartsWith("1970-", clock);

            sim.SetDelay(m.Esn, 700);
            var slow = _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping");
            Assert.True(slow.Elapsed.TotalMilliseconds >= 700, slow.ToString());

            sim.SetRefuse(m.Esn, true);
            Assert.All(m.Endpoints, ep => Assert.False(ProcessTools.IsPortOpen(ep.Port)));
            Assert.Equal(255, _kit.Ssh(m.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping").ExitCode);
            sim.ClearFaults(m.Esn);
            var back = sim.GetModule(m.Esn);
            Assert.All(back.Endpoints, ep => Assert.True(ep.Running));
            Assert.Equal(0, _kit.Ssh(back.Endpoint("sshadmin"), keys["sshadmin"].KeyFile, "ping").ExitCode);
        }

        [Fact]
        public void StopLeavesNoSshdProcessAndNoListeningPort()
        {
            var host = _kit.NewHost();
            var sim = _kit.Start(2, host);
            var ports = sim.Modules.SelectMany(x => x.Endpoints).Select(e => e.Port).ToList();
            var pids = sim.Modules.SelectMany(x => x.Endpoints).Select(e => e.Pid).ToList();
            // Listening before the stop (a 300 ms connect can time out on a loaded machine: retried, not timed).
            Assert.All(ports, p => Assert.True(ProcessTools.WaitUntil(() => ProcessTools.IsPortOpen(p), 10000, 50), $"port {p} is not listening"));
            // Stop through a fresh handle, as another process (Stop-HsmSimulator in a later call) would.
            Simulator.Stop(sim.Root);
            Assert.All(ports, p => Assert.False(ProcessTools.IsPortOpen(p)));
            Assert.All(pids, p => Assert.False(ProcessTools.IsAlive(p)));
            var ps = SimProcessRunner.Run("ps", new[] { "-eo", "args" }).StdOut;
            Assert.DoesNotContain(sim.Root, ps);
            var ss = SimProcessRunner.Run("ss", new[] { "-ltnH" }).StdOut;
            Assert.All(ports, p => Assert.DoesNotContain("127.0.0.1:" + p + " ", ss));
            // Everything the simulator put into the host store is out again: registrations, its vendor root, its settings.
            var store = HostStore.Open(host);
            Assert.Empty(store.GetRegisteredModules());
            Assert.Empty(store.GetTrustedRoots());
            Assert.Null(store.GetConfiguration().FactoryCredentialPath);
            Assert.Null(store.GetConfiguration().Hardserver.RestartCommand);
        }
    }
}
