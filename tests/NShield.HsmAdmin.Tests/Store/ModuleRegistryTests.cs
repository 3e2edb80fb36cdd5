using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Discovery;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>The module registry: where modules are, validated before anything is written, audited.</summary>
    public class ModuleRegistryTests
    {
        [Fact]
        public void Registers_with_documented_default_ports_and_user_and_discovery_reports_it()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            Assert.True(store.RegisterModule(new ModuleRegistration
            {
                Esn = "8a2c-91f3-0d4e", Address = "hsm1.example.net",
                Ports = new Dictionary<string, int> { ["NCOREAPI"] = 9000 },
            }));
            var r = store.GetRegisteredModules().Single();
            Assert.Equal("8A2C-91F3-0D4E", r.Esn);
            Assert.Equal("ssh", r.Transport);
            Assert.Equal(ModuleEndpointDefaults.User, r.User);
            Assert.Equal(9000, r.Ports["ncoreapi"]);
            Assert.Equal(2201, r.Ports["sshadmin"]);
            Assert.Equal(ModuleServices.All.OrderBy(s => s), r.Ports.Keys.OrderBy(s => s));
            var address = RegistryDiscovery.Instance.Discover(store).Single();
            Assert.Equal("hsm1.example.net:9000", address.Endpoint("ncoreapi"));
            Assert.Equal("[fd00::5]:2201", new ModuleRegistration { Esn = "0000-0000-0001", Address = "fd00::5" }.Validated().ToAddress().Endpoint("sshadmin"));
            Assert.Contains(store.ReadAudit(), a => a.Operation == "registry.add" && a.Esn == "8A2C-91F3-0D4E");
        }

        public static IEnumerable<object[]> BadRegistrations() => new[]
        {
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3", Address = "10.0.0.5" }, HsmErrorIds.InvalidEsn },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5 ; rm -rf" }, HsmErrorIds.InvalidAddress },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "" }, HsmErrorIds.InvalidAddress },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "0.0.0.0" }, HsmErrorIds.InvalidAddress },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", Ports = new Dictionary<string, int> { ["sshadmin"] = 0 } }, HsmErrorIds.InvalidPort },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", Ports = new Dictionary<string, int> { ["setup"] = 65536 } }, HsmErrorIds.InvalidPort },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", Ports = new Dictionary<string, int> { ["telnet"] = 23 } }, HsmErrorIds.UnknownService },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", User = "-oProxyCommand=x" }, HsmErrorIds.InvalidUserName },
            new object[] { new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", Transport = "carrier-pigeon" }, HsmErrorIds.UnknownTransport },
        };

        [Theory]
        [MemberData(nameof(BadRegistrations))]
        public void Bad_input_gets_its_typed_error_and_nothing_is_written(ModuleRegistration bad, string errorId)
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            store.RegisterModule(new ModuleRegistration { Esn = "0000-0000-0001", Address = "10.0.0.1" });
            var before = File.ReadAllBytes(store.RegistryPath);
            var auditBefore = store.ReadAudit().Count;
            var e = Assert.Throws<HsmException>(() => store.RegisterModule(bad));
            Assert.Equal(errorId, e.ErrorId);
            Assert.Equal(before, File.ReadAllBytes(store.RegistryPath));
            Assert.Equal(auditBefore, store.ReadAudit().Count);
        }

        [Fact]
        public void Same_endpoints_again_change_nothing_other_endpoints_need_replace_and_unregister_removes()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            var first = new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", User = "admin" };
            Assert.True(store.RegisterModule(first));
            var bytes = File.ReadAllBytes(store.RegistryPath);
            Assert.False(store.RegisterModule(new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5", User = "admin" }));
            Assert.Equal(bytes, File.ReadAllBytes(store.RegistryPath));

            var moved = new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.6", User = "admin" };
            var e = Assert.Throws<HsmException>(() => store.RegisterModule(moved));
            Assert.Equal(HsmErrorIds.ModuleAlreadyRegistered, e.ErrorId);
            Assert.Equal(bytes, File.ReadAllBytes(store.RegistryPath));
            Assert.True(store.RegisterModule(moved, replace: true));
            Assert.Equal("10.0.0.6", store.GetRegisteredModule("8a2c-91f3-0d4e")!.Address);

            Assert.True(store.UnregisterModule("8A2C-91F3-0D4E"));
            Assert.False(store.UnregisterModule("8A2C-91F3-0D4E"));
            Assert.Empty(store.GetRegisteredModules());
            var ops = store.ReadAudit().Select(a => a.Operation).ToList();
            Assert.Equal(new[] { "registry.add", "registry.replace", "registry.remove" }, ops);
        }

        [Fact]
        public void A_damaged_registry_is_StoreCorrupt()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            store.RegisterModule(new ModuleRegistration { Esn = "8A2C-91F3-0D4E", Address = "10.0.0.5" });
            File.WriteAllText(store.RegistryPath, "[{\"esn\":");
            Assert.Equal(HsmErrorIds.StoreCorrupt, Assert.Throws<HsmException>(() => store.GetRegisteredModules()).ErrorId);
            File.WriteAllText(store.RegistryPath, "[{\"esn\":\"not-an-esn\",\"address\":\"x\"}]");
            Assert.Equal(HsmErrorIds.StoreCorrupt, Assert.Throws<HsmException>(() => store.GetRegisteredModules()).ErrorId);
        }

        [Fact]
        public void Factory_credential_missing_or_unreadable_is_a_typed_error_naming_the_setting()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            var e = Assert.Throws<HsmException>(() => store.OpenFactoryCredential());
            Assert.Equal(HsmErrorIds.FactoryCredentialNotConfigured, e.ErrorId);
            Assert.Contains("Set-HsmHostConfiguration -FactoryCredentialPath", e.Message);
            var junk = dir.WritePrivate("junk", "not a key");
            store.SetConfiguration(new HostConfiguration { FactoryCredentialPath = junk }, "test");
            Assert.Equal(HsmErrorIds.FactoryCredentialNotConfigured, Assert.Throws<HsmException>(() => store.OpenFactoryCredential()).ErrorId);
        }
    }
}
