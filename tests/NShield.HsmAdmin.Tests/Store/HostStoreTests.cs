using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using NShield.HsmAdmin.Tests.Protection;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    public class HostStoreTests
    {
        const string EsnA = "8A2C-91F3-0D4E";

        [Fact]
        public void Client_key_round_trip_with_files_modes_and_metadata()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "host sshadmin");
            var before = DateTimeOffset.UtcNow;
            var record = store.SaveClientKey("SSHADMIN", key, ProtectionSpec.Default, null);

            Assert.Equal("sshadmin", record.Service);
            Assert.Equal("KFG", record.Protection);
            Assert.Equal(key.PublicKey.Fingerprint, record.Fingerprint);
            Assert.True(record.InstalledAt >= before.AddSeconds(-1) && record.InstalledAt.Offset == TimeSpan.Zero);
            var keyPath = Path.Combine(store.ClientKeysDirectory, "sshadmin.key");
            Assert.Equal(keyPath, record.PrivateKeyPath);
            Assert.Equal("600", StoreTestSupport.StatMode(keyPath));
            Assert.Equal("700", StoreTestSupport.StatMode(store.ClientKeysDirectory));
            Assert.True(OpenSshPrivateKey.IsEncrypted(File.ReadAllText(keyPath)));
            Assert.Equal(key.PublicKey.ToAuthorizedKeysLine(), File.ReadAllText(Path.Combine(store.ClientKeysDirectory, "sshadmin.pub")).Trim());

            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(store.ClientKeysDirectory, "sshadmin.json"))).RootElement;
            Assert.Equal("Ed25519", json.GetProperty("algorithm").GetString());
            Assert.Equal(32, Convert.FromBase64String(json.GetProperty("keyNonce").GetString()!).Length);
            Assert.EndsWith("+00:00", json.GetProperty("installedAt").GetString());

            using var opened = store.OpenClientKey("sshadmin", null);
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
            Assert.Single(store.GetClientKeys());
            Assert.Null(store.GetClientKey("ncoreapi"));
            Assert.True(store.DeleteClientKey("sshadmin"));
            Assert.Null(store.GetClientKey("sshadmin"));
            Assert.False(File.Exists(keyPath));
            Assert.Equal(HsmErrorIds.NoClientKeys, Assert.Throws<HsmException>(() => store.OpenClientKey("sshadmin", null)).ErrorId);
        }

        [Fact]
        public void Stored_key_with_P_needs_the_right_passphrase()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.EcdsaP256);
            store.SaveClientKey("setup", key, ProtectionSpec.Parse("KFGP"), Secure.String("open sesame"));
            Assert.Equal(HsmErrorIds.KeyWrongPassphrase, Assert.Throws<HsmException>(() => store.OpenClientKey("setup", Secure.String("nope"))).ErrorId);
            using var opened = store.OpenClientKey("setup", Secure.String("open sesame"));
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
        }

        [Fact]
        public void A_store_copied_to_another_machine_cannot_open_its_G_keys()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            store.SaveClientKey("sshadmin", key, ProtectionSpec.Default, null);
            var sameFolderOtherMachine = new HostStore(store.Root, FakeMachineIdentity.Full("0002"));
            var e = Assert.Throws<HsmException>(() => sameFolderOtherMachine.OpenClientKey("sshadmin", null));
            Assert.Equal(HsmErrorIds.KeyTiedToAnotherMachine, e.ErrorId);
            Assert.Contains("sshadmin.key", e.Message);
        }

        [Fact]
        public void Unknown_service_is_refused()
        {
            using var dir = new TempDirectory();
            var e = Assert.Throws<HsmException>(() => StoreTestSupport.NewStore(dir).GetClientKey("../etc/passwd"));
            Assert.Equal(HsmErrorIds.UnknownService, e.ErrorId);
        }

        [Fact]
        public void Staged_keys_are_invisible_until_promoted_and_can_be_discarded()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var oldKey = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            using var newKey = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            store.SaveClientKey("ncoreapi", oldKey, ProtectionSpec.Default, null);

            var staged = store.StageClientKey("ncoreapi", newKey, ProtectionSpec.Parse("KF"), null);
            Assert.True(staged.IsPending);
            Assert.Equal("600", StoreTestSupport.StatMode(staged.PrivateKeyPath));
            Assert.Equal(oldKey.PublicKey.Fingerprint, store.GetClientKey("ncoreapi")!.Fingerprint);
            Assert.Equal(newKey.PublicKey.Fingerprint, store.GetPendingClientKey("ncoreapi")!.Fingerprint);
            using (var p = store.OpenPendingClientKey("ncoreapi", null)) Assert.Equal(newKey.PublicKey.Fingerprint, p.PublicKey.Fingerprint);

            store.PromoteClientKey("ncoreapi");
            Assert.Equal(newKey.PublicKey.Fingerprint, store.GetClientKey("ncoreapi")!.Fingerprint);
            Assert.Equal("KF", store.GetClientKey("ncoreapi")!.Protection);
            Assert.Null(store.GetPendingClientKey("ncoreapi"));
            Assert.Empty(Directory.GetFiles(store.PendingClientKeysDirectory));
            using (var c = store.OpenClientKey("ncoreapi", null)) Assert.Equal(newKey.PublicKey.Fingerprint, c.PublicKey.Fingerprint);

            store.StageClientKey("ncoreapi", oldKey, ProtectionSpec.Default, null);
            Assert.True(store.DiscardPendingClientKey("ncoreapi"));
            Assert.Empty(store.GetPendingClientKeys());
            Assert.Equal(newKey.PublicKey.Fingerprint, store.GetClientKey("ncoreapi")!.Fingerprint);
            Assert.Equal(HsmErrorIds.NoClientKeys, Assert.Throws<HsmException>(() => store.PromoteClientKey("ncoreapi")).ErrorId);
        }

        [Fact]
        public void A_promotion_interrupted_after_its_commit_point_is_seen_by_readers_and_finished_by_the_next_lock()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var oldKey = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            using var newKey = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            store.SaveClientKey("monitor", oldKey, ProtectionSpec.Default, null);
            store.StageClientKey("monitor", newKey, ProtectionSpec.Default, null);
            // Simulate a crash: marker written and only the private key moved.
            File.WriteAllText(Path.Combine(store.PendingClientKeysDirectory, "monitor.promote"), newKey.PublicKey.Fingerprint);
            File.Move(Path.Combine(store.PendingClientKeysDirectory, "monitor.key"), Path.Combine(store.ClientKeysDirectory, "monitor.key"), true);

            Assert.Equal(newKey.PublicKey.Fingerprint, store.GetClientKey("monitor")!.Fingerprint);
            using (var k = store.OpenClientKey("monitor", null)) Assert.Equal(newKey.PublicKey.Fingerprint, k.PublicKey.Fingerprint);

            using (store.AcquireLock(TimeSpan.FromSeconds(5))) { }
            Assert.Empty(Directory.GetFiles(store.PendingClientKeysDirectory));
            Assert.Equal(newKey.PublicKey.ToAuthorizedKeysLine(), File.ReadAllText(Path.Combine(store.ClientKeysDirectory, "monitor.pub")).Trim());
        }

        [Fact]
        public void Pins_are_known_hosts_lines_that_ssh_keygen_finds()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(store.Root).FullName, "known_hosts"), "# kept\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2dCxJ6sGv2Pv2zPZ3Rk7gO0m2tFv5d8QvJf8D2+8xK\n");
            using var k1 = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            using var k2 = SshKeyPair.Generate(SshKeyAlgorithm.EcdsaP384);
            store.SetPins("8a2c-91f3-0d4e", new Dictionary<string, SshPublicKey> { ["ncoreapi"] = k2.PublicKey, ["sshadmin"] = k1.PublicKey });
            store.SetPins("1111-2222-3333", new Dictionary<string, SshPublicKey> { ["sshadmin"] = k2.PublicKey });

            Assert.Equal(k1.PublicKey.Fingerprint, store.GetPin(EsnA, "sshadmin")!.Fingerprint);
            Assert.Equal(2, store.GetPins(EsnA).Count);
            Assert.Null(store.GetPin(EsnA, "setup"));
            var text = File.ReadAllText(store.KnownHostsPath);
            Assert.StartsWith("# kept\nother.example ", text);
            Assert.Contains("nshield-8A2C-91F3-0D4E-sshadmin ssh-ed25519 ", text);

            var found = ProcessRunner.Run("/usr/bin/ssh-keygen", new[] { "-F", "nshield-8A2C-91F3-0D4E-ncoreapi", "-f", store.KnownHostsPath });
            Assert.Equal(0, found.ExitCode);
            Assert.Contains(Convert.ToBase64String(k2.PublicKey.Blob), found.StdOut);
            var fingerprints = ProcessRunner.Run("/usr/bin/ssh-keygen", new[] { "-l", "-f", store.KnownHostsPath });
            Assert.Contains(k1.PublicKey.Fingerprint, fingerprints.StdOut);

            store.SetPins(EsnA, new Dictionary<string, SshPublicKey> { ["sshadmin"] = k2.PublicKey });
            Assert.Single(store.GetPins(EsnA));
            Assert.True(store.RemovePins(EsnA));
            Assert.False(store.RemovePins(EsnA));
            Assert.Empty(store.GetPins(EsnA));
            Assert.Single(store.GetPins("1111-2222-3333"));
            Assert.Contains("other.example", File.ReadAllText(store.KnownHostsPath));
        }

        [Fact]
        public void A_broken_pin_line_is_StoreCorrupt_naming_the_file()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            Directory.CreateDirectory(store.Root);
            File.WriteAllText(store.KnownHostsPath, "nshield-8A2C-91F3-0D4E-sshadmin ssh-ed25519 !!!\n");
            var e = Assert.Throws<HsmException>(() => store.GetPin(EsnA, "sshadmin"));
            Assert.Equal(HsmErrorIds.StoreCorrupt, e.ErrorId);
            Assert.Contains(store.KnownHostsPath, e.Message);
        }

        [Fact]
        public void Modules_upsert_get_remove()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            var now = DateTimeOffset.UtcNow;
            store.UpsertModule(new ModuleRecord { Esn = "8a2c-91f3-0d4e", Status = ModuleStatus.Enrolled, EnrolledAt = now });
            store.UpsertModule(new ModuleRecord { Esn = "0000-0000-0001", Status = ModuleStatus.Enrolled, EnrolledAt = now });
            store.UpsertModule(new ModuleRecord { Esn = EsnA, Status = ModuleStatus.Released, ReleasedTo = "SHA256:abc", EnrolledAt = now });
            Assert.Equal(new[] { "0000-0000-0001", EsnA }, store.GetModules().Select(m => m.Esn));
            Assert.Equal(ModuleStatus.Released, store.GetModule(EsnA)!.Status);
            Assert.Equal("SHA256:abc", store.GetModule(EsnA)!.ReleasedTo);
            Assert.Contains("\"Released\"", File.ReadAllText(store.ModulesPath));
            Assert.True(store.RemoveModule(EsnA));
            Assert.Null(store.GetModule(EsnA));
            Assert.False(store.RemoveModule(EsnA));
            Assert.Equal(HsmErrorIds.InvalidEsn, Assert.Throws<HsmException>(() => store.GetModule("x")).ErrorId);
        }

        [Theory]
        [InlineData("modules.json", "{ not json")]
        [InlineData("modules.json", "{\"esn\": 1}")]
        [InlineData("modules.json", "[{\"esn\":\"bad\"}]")]
        [InlineData("client-keys/sshadmin.json", "[]")]
        [InlineData("roll-journal.json", "")]
        public void Corrupt_json_is_StoreCorrupt_naming_the_file(string file, string content)
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            var path = Path.Combine(store.Root, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
            Action read = file switch
            {
                "modules.json" => () => store.GetModules(),
                "roll-journal.json" => () => store.ReadDocument<Dictionary<string, string>>("roll-journal"),
                _ => () => store.GetClientKey("sshadmin"),
            };
            var e = Assert.Throws<HsmException>(read);
            Assert.Equal(HsmErrorIds.StoreCorrupt, e.ErrorId);
            Assert.Contains(path, e.Message);
            Assert.Equal(content, File.ReadAllText(path)); // nothing changed
        }

        [Fact]
        public void Trusted_roots_list_add_remove()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var a = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "vendor root");
            using var b = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            Assert.Empty(store.GetTrustedRoots());
            store.AddTrustedRoot("ncipher-root-2026", a.PublicKey);
            store.AddTrustedRoot("ncipher-root-2026", a.PublicKey); // same key: no-op
            Assert.Equal(HsmErrorIds.FileExists, Assert.Throws<HsmException>(() => store.AddTrustedRoot("ncipher-root-2026", b.PublicKey)).ErrorId);
            store.AddTrustedRoot("sim", b.PublicKey);
            var roots = store.GetTrustedRoots();
            Assert.Equal(new[] { "ncipher-root-2026", "sim" }, roots.Select(r => r.Name));
            Assert.Equal(a.PublicKey.Fingerprint, roots[0].PublicKey.Fingerprint);
            Assert.Equal(HsmErrorIds.InvalidName, Assert.Throws<HsmException>(() => store.AddTrustedRoot("../x", a.PublicKey)).ErrorId);
            Assert.True(store.RemoveTrustedRoot("sim"));
            Assert.False(store.RemoveTrustedRoot("sim"));
            Assert.Single(store.GetTrustedRoots());
        }

        [Fact]
        public void Audit_log_is_json_lines_appended_and_a_torn_last_line_is_skipped()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            store.AppendAudit(new AuditEntry { Operation = "Enroll", Esn = EsnA, Service = "sshadmin", Fingerprints = new[] { "SHA256:x" }, Result = "Success" });
            store.AppendAudit(new AuditEntry { Operation = "Roll", Result = "Failed" });
            File.AppendAllText(store.AuditLogPath, "{\"time\":\"2026-");
            var entries = store.ReadAudit();
            Assert.Equal(2, entries.Count);
            Assert.Equal("Enroll", entries[0].Operation);
            Assert.Equal(TimeSpan.Zero, entries[0].Time.Offset);
            Assert.Equal(OperatingSystem.IsWindows() ? System.Security.Principal.WindowsIdentity.GetCurrent().Name
                : ProcessRunner.Run("/usr/bin/id", "-un").StdOut.Trim(), entries[0].User);
            Assert.Equal("SHA256:x", entries[0].Fingerprints![0]);
            var first = JsonDocument.Parse(File.ReadAllLines(store.AuditLogPath)[0]).RootElement;
            Assert.Equal(EsnA, first.GetProperty("esn").GetString());
            Assert.EndsWith("+00:00", first.GetProperty("time").GetString());
        }

        [Fact]
        public void Documents_round_trip_and_are_replaced_atomically()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            Assert.Null(store.ReadDocument<Dictionary<string, int>>("roll-journal"));
            store.WriteDocument("roll-journal", new Dictionary<string, int> { ["step"] = 1 });
            store.WriteDocument("roll-journal.json", new Dictionary<string, int> { ["step"] = 2 });
            Assert.Equal(2, store.ReadDocument<Dictionary<string, int>>("roll-journal")!["step"]);
            Assert.Single(Directory.GetFiles(store.Root, "*roll-journal*")); // no temp files left
            Assert.True(store.DeleteDocument("roll-journal"));
            Assert.False(store.DeleteDocument("roll-journal"));
            Assert.Equal(HsmErrorIds.InvalidName, Assert.Throws<HsmException>(() => store.ReadDocument<object>("../x")).ErrorId);
        }
    }

    /// <summary>Changes NSHIELD_HSMADMIN_HOME: runs alone (see ProcessEnvironmentCollection).</summary>
    [Collection(ProcessEnvironmentCollection.Name)]
    public class HostStoreLocationTests
    {
        [Fact]
        public void Location_prefers_parameter_then_environment_then_system_default()
        {
            var old = Environment.GetEnvironmentVariable(HostStoreLocation.HomeVariable);
            try
            {
                Environment.SetEnvironmentVariable(HostStoreLocation.HomeVariable, "/tmp/env-home");
                Assert.Equal("/tmp/param", HostStoreLocation.Resolve("/tmp/param"));
                Assert.Equal("/tmp/env-home", HostStoreLocation.Resolve());
                Environment.SetEnvironmentVariable(HostStoreLocation.HomeVariable, null);
                Assert.Equal("/opt/nfast/hsmadmin", HostStoreLocation.Resolve(null));
            }
            finally { Environment.SetEnvironmentVariable(HostStoreLocation.HomeVariable, old); }
        }
    }
}
