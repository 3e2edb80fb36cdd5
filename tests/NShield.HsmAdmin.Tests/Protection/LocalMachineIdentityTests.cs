using System.Linq;
using System;
using System.IO;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protection
{
    public class LocalMachineIdentityTests
    {
        [Fact]
        public void Global_nonce_is_created_once_root_only_and_then_stable()
        {
            using var dir = new TempDirectory();
            var identity = new LocalMachineIdentity(dir.File("machine"));
            Assert.Throws<ProtectionInputUnavailableException>(() => identity.GetGlobalNonce(createIfMissing: false));
            var first = identity.GetGlobalNonce(createIfMissing: true);
            Assert.Equal(32, first.Length);
            Assert.Equal(first, new LocalMachineIdentity(dir.File("machine")).GetGlobalNonce(createIfMissing: false));
            Assert.Equal("600", StoreTestSupport.StatMode(identity.GlobalNoncePath));
            Assert.Equal("700", StoreTestSupport.StatMode(identity.MachineDirectory));
        }

        [Fact]
        public void Racing_creators_agree_on_one_nonce()
        {
            using var dir = new TempDirectory();
            var results = new byte[8][];
            System.Threading.Tasks.Parallel.For(0, 8, i => results[i] = new LocalMachineIdentity(dir.File("m")).GetGlobalNonce(true));
            foreach (var r in results) Assert.Equal(results[0], r);
            // One nonce, no temp files left; the creators' lock file stays (deleting it would reopen the race).
            Assert.Equal(new[] { "global.nonce", "global.nonce.lock" },
                Directory.GetFiles(dir.File("m")).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray());
        }

        [Fact]
        public void A_corrupt_global_nonce_is_StoreCorrupt_naming_the_file()
        {
            using var dir = new TempDirectory();
            Directory.CreateDirectory(dir.File("m"));
            File.WriteAllText(Path.Combine(dir.File("m"), "global.nonce"), "not base64!");
            var e = Assert.Throws<HsmException>(() => new LocalMachineIdentity(dir.File("m")).GetGlobalNonce(false));
            Assert.Equal(HsmErrorIds.StoreCorrupt, e.ErrorId);
            Assert.Contains("global.nonce", e.Message);
        }

        [Fact]
        public void DMI_values_are_read_and_placeholders_refused()
        {
            using var dir = new TempDirectory();
            Directory.CreateDirectory(dir.File("dmi"));
            File.WriteAllText(dir.File("dmi/product_uuid"), "4c4c4544-0042-3510-8052-b1c04f4b4e32\n");
            File.WriteAllText(dir.File("dmi/board_serial"), "Default string\n");
            var identity = new LocalMachineIdentity(dir.File("m"), dir.File("dmi"));
            Assert.Equal("4C4C4544-0042-3510-8052-B1C04F4B4E32", System.Text.Encoding.UTF8.GetString(identity.GetSystemUuid()));
            var e = Assert.Throws<ProtectionInputUnavailableException>(() => identity.GetBaseboardId());
            Assert.Contains("placeholder", e.Message);
        }
    }

    /// <summary>Sets an environment variable: runs alone (see ProcessEnvironmentCollection).</summary>
    [Collection(ProcessEnvironmentCollection.Name)]
    public class LocalMachineIdentityEnvironmentTests
    {
        /// <summary>
        /// Issue 20: the machine folder is the host's setting or the system default; the environment variable that used to
        /// move it (for simulated hosts) is gone from the product and moves nothing any more.
        /// </summary>
        [Fact]
        public void Machine_folder_is_the_host_setting_or_the_default_and_no_environment_variable_moves_it()
        {
            const string oldVariable = "NSHIELD_HSMADMIN_MACHINE_DIR";
            var old = Environment.GetEnvironmentVariable(oldVariable);
            try
            {
                Environment.SetEnvironmentVariable(oldVariable, "/tmp/some-machine");
                Assert.Equal("/etc/opt/nfast/hsmadmin", new LocalMachineIdentity().MachineDirectory);
                Assert.Equal("/etc/opt/nfast/hsmadmin", LocalMachineIdentity.ResolveRoot(null));
                Assert.Equal("/etc/opt/nfast/hsmadmin", LocalMachineIdentity.ResolveRoot(" "));
                Assert.Equal("/srv/host-a/machine", LocalMachineIdentity.ResolveRoot("/srv/host-a/machine"));
            }
            finally { Environment.SetEnvironmentVariable(oldVariable, old); }
        }
    }
}

namespace NShield.HsmAdmin.Tests.Protection
{
    public class SmbiosParserTests
    {
        /// <summary>A raw table as Windows returns it: 8-byte header, a type 1 and a type 2 structure, end marker.</summary>
        static byte[] Table()
        {
            var t = new System.Collections.Generic.List<byte> { 0, 3, 4, 0, 0, 0, 0, 0 };
            var type1 = new byte[0x1B];
            type1[0] = 1; type1[1] = 0x1B;
            var uuid = new System.Guid("4c4c4544-0042-3510-8052-b1c04f4b4e32").ToByteArray();
            System.Array.Copy(uuid, 0, type1, 8, 16);
            t.AddRange(type1); t.AddRange(new byte[] { (byte)'D', (byte)'e', (byte)'l', (byte)'l', 0, 0 });
            var type2 = new byte[0x0F];
            type2[0] = 2; type2[1] = 0x0F; type2[4] = 1; type2[7] = 2;
            t.AddRange(type2); t.AddRange(System.Text.Encoding.ASCII.GetBytes("Vendor\0/ABC123/\0\0"));
            t.AddRange(new byte[] { 127, 4, 0, 0, 0, 0 });
            return t.ToArray();
        }

        [Xunit.Fact]
        public void Reads_system_uuid_and_baseboard_serial()
        {
            Xunit.Assert.Equal("4C4C4544-0042-3510-8052-B1C04F4B4E32", SmbiosParser.SystemUuid(Table()));
            Xunit.Assert.Equal("/ABC123/", SmbiosParser.BaseboardSerial(Table()));
            Xunit.Assert.Null(SmbiosParser.SystemUuid(new byte[] { 0, 3, 4, 0, 0, 0, 0, 0, 127, 4, 0, 0, 0, 0 }));
        }
    }
}
