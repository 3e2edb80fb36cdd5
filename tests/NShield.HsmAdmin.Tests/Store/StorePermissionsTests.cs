// The System.Security.AccessControl enums are plain data on every OS; only applying an ACL needs Windows.
#pragma warning disable CA1416
using System;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using NShield.HsmAdmin.Tests.Protection;
using Xunit;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>Issue 16 part 8: OpenSSH-style StrictModes on the host store (Linux), and the Windows ACL rule set.</summary>
    public class StorePermissionsTests
    {
        const string EsnA = "8A2C-91F3-0D4E";

        /// <summary>A store with every kind of file: client keys, pins, a trusted root, module list, audit log.</summary>
        static HostStore FullStore(TempDirectory dir)
        {
            var store = StoreTestSupport.NewStore(dir);
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "c");
            using var server = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "s");
            store.SaveClientKey("sshadmin", key, ProtectionSpec.Default, null);
            store.SetPins(EsnA, new System.Collections.Generic.Dictionary<string, SshPublicKey> { ["sshadmin"] = server.PublicKey });
            store.AddTrustedRoot("vendor", server.PublicKey);
            store.UpsertModule(new ModuleRecord { Esn = EsnA, Status = ModuleStatus.Enrolled });
            return store;
        }

        static HostStore Reopen(HostStore store) => new HostStore(store.Root, FakeMachineIdentity.Full("0001"));

        static void Chmod(string path, string octal) => File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));

        static HsmException Refused(Action open, string path)
        {
            var e = Assert.Throws<HsmException>(open);
            Assert.Equal(HsmErrorIds.StoreInsecurePermissions, e.ErrorId);
            Assert.Equal(HsmErrorKind.SecurityError, e.Kind);
            Assert.Equal(path, e.Target);
            Assert.Contains(path, e.Message);
            return e;
        }

        [SkippableTheory]
        [InlineData(".", "775", "writable by its group")]
        [InlineData(".", "757", "writable by other accounts")]
        [InlineData(".", "1777", "writable by its group and other accounts")]
        [InlineData("client-keys", "770", "writable by its group")]
        [InlineData("client-keys/pending", "702", "writable by other accounts")]
        [InlineData("trusted-roots", "775", "writable by its group")]
        [InlineData("client-keys/sshadmin.key", "640", "readable by its group")]
        [InlineData("client-keys/sshadmin.key", "604", "readable by other accounts")]
        [InlineData("client-keys/sshadmin.key", "620", "writable by its group")]
        [InlineData("client-keys/sshadmin.json", "664", "writable by its group")]
        [InlineData("known_hosts", "646", "writable by other accounts")]
        [InlineData("trusted-roots/vendor.pub", "664", "writable by its group")]
        [InlineData("modules.json", "666", "writable by its group and other accounts")]
        [InlineData("audit.log", "664", "writable by its group")]
        public void A_store_item_others_can_change_or_a_key_others_can_read_is_refused_naming_it(string item, string mode, string why)
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            using var dir = new TempDirectory();
            var store = FullStore(dir);
            var path = item == "." ? store.Root : Path.Combine(store.Root, item);
            Assert.True(File.Exists(path) || Directory.Exists(path), path);
            Reopen(store); // fine before the change
            Chmod(path, mode);
            var e = Refused(() => Reopen(store), path);
            Assert.Contains(why, e.Message);
            Assert.Contains("mode 0" + mode, e.Message);
            Assert.DoesNotContain("BEGIN OPENSSH", e.Message);
        }

        [SkippableFact]
        public void A_key_made_readable_after_the_store_was_opened_is_refused_before_it_is_read()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            using var dir = new TempDirectory();
            var store = FullStore(dir);
            var keyPath = Path.Combine(store.ClientKeysDirectory, "sshadmin.key");
            store.OpenClientKey("sshadmin", null).Dispose(); // readable while 0600
            Chmod(keyPath, "644");
            Refused(() => store.OpenClientKey("sshadmin", null), keyPath);
            Refused(() => store.GetProtectedClientKey("sshadmin"), keyPath); // backups read it too
            Chmod(keyPath, "600");
            store.OpenClientKey("sshadmin", null).Dispose();
            Chmod(store.ClientKeysDirectory, "777");
            Refused(() => store.OpenClientKey("sshadmin", null), store.ClientKeysDirectory);
        }

        [SkippableFact]
        public void A_pending_key_readable_by_others_is_refused_before_it_is_read()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            using var dir = new TempDirectory();
            var store = FullStore(dir);
            using var next = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "n");
            var staged = store.StageClientKey("ncoreapi", next, ProtectionSpec.Default, null);
            Chmod(staged.PrivateKeyPath, "640");
            Refused(() => store.OpenPendingClientKey("ncoreapi", null), staged.PrivateKeyPath);
        }

        [SkippableFact]
        public void A_store_folder_or_key_owned_by_another_non_root_account_is_refused()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            Skip.If(ProcessRunner.Run("/usr/bin/id", "-u").StdOut.Trim() != "0", "needs root, to chown to another account");
            using var dir = new TempDirectory();
            var store = FullStore(dir);
            var keyPath = Path.Combine(store.ClientKeysDirectory, "sshadmin.key");
            Assert.Equal(0, ProcessRunner.Run("/bin/chown", "65534", keyPath).ExitCode);
            var e = Refused(() => Reopen(store), keyPath);
            Assert.Contains("owned by another account (uid 65534", e.Message);
            Assert.Equal(0, ProcessRunner.Run("/bin/chown", "0", keyPath).ExitCode);
            Reopen(store);
            Assert.Equal(0, ProcessRunner.Run("/bin/chown", "65534", store.Root).ExitCode);
            Refused(() => Reopen(store), store.Root);
        }

        [SkippableFact]
        public void Stores_the_product_creates_pass_even_under_a_permissive_umask()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            using var dir = new TempDirectory();
            var root = Path.Combine(dir.Path, "host");
            // umask 002 would make plainly created files group-writable: everything the store writes must not depend on it.
            var r = ProcessRunner.Run("/bin/sh", new[] { "-c", "umask 002 && exec dotnet \"$0\" \"$1\" 2 w", StoreConcurrencyTests.StressProgram(), root },
                timeout: TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.ToString());
            var store = new HostStore(root); // would be StoreInsecurePermissions if audit.log were created 0664
            Assert.Equal("755", StoreTestSupport.StatMode(root));
            Assert.Equal("644", StoreTestSupport.StatMode(store.AuditLogPath));
            Assert.Equal("644", StoreTestSupport.StatMode(Path.Combine(root, "counter.json")));
            Assert.Equal(2, store.ReadAudit().Count);
        }

        [SkippableFact]
        public void Lock_files_and_a_missing_store_are_not_refused()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "mode bits and owners are checked on Linux only");
            using var dir = new TempDirectory();
            var store = FullStore(dir);
            Chmod(store.LockPath, "666"); // holds no data
            Reopen(store);
            new HostStore(Path.Combine(dir.Path, "does-not-exist-yet"));
        }

        [Theory]
        [InlineData(nameof(StorePermissions.ItemKind.Folder), "755", 1000u, 1000u, null)]
        [InlineData(nameof(StorePermissions.ItemKind.Folder), "700", 0u, 1000u, null)]
        [InlineData(nameof(StorePermissions.ItemKind.Folder), "755", 1001u, 1000u, "owned by another account (uid 1001")]
        [InlineData(nameof(StorePermissions.ItemKind.Folder), "755", 1000u, 0u, "owned by another account (uid 1000")]
        [InlineData(nameof(StorePermissions.ItemKind.Folder), "775", 1000u, 1000u, "writable by its group (mode 0775)")]
        [InlineData(nameof(StorePermissions.ItemKind.File), "644", 1000u, 1000u, null)]
        [InlineData(nameof(StorePermissions.ItemKind.File), "666", 1000u, 1000u, "writable by its group and other accounts (mode 0666)")]
        [InlineData(nameof(StorePermissions.ItemKind.PrivateKey), "600", 1000u, 1000u, null)]
        [InlineData(nameof(StorePermissions.ItemKind.PrivateKey), "400", 0u, 1000u, null)]
        [InlineData(nameof(StorePermissions.ItemKind.PrivateKey), "640", 1000u, 1000u, "readable by its group")]
        [InlineData(nameof(StorePermissions.ItemKind.PrivateKey), "601", 1000u, 1000u, "readable by other accounts")]
        public void The_rule_on_mode_bits_and_owners(string kind, string mode, uint owner, uint euid, string? expected)
        {
            var problem = StorePermissions.Problem(Enum.Parse<StorePermissions.ItemKind>(kind), Convert.ToInt32(mode, 8), owner, euid);
            if (expected == null) Assert.Null(problem);
            else Assert.Contains(expected, problem);
        }

        /// <summary>Issue 12: group read is accepted only on a key granted to exactly that group, mode 0640; nothing else loosens.</summary>
        [Theory]
        [InlineData("640", 0u, 5u, 5u, null)]
        [InlineData("640", 0u, 6u, 5u, "readable by its group")]      // another group than the grant
        [InlineData("640", 0u, 5u, null, "readable by its group")]    // no grant
        [InlineData("644", 0u, 5u, 5u, "readable by its group and other accounts")]
        [InlineData("660", 0u, 5u, 5u, "writable by its group")]
        [InlineData("641", 0u, 5u, 5u, "readable by its group and other accounts")]
        public void A_granted_key_is_readable_by_exactly_its_group(string mode, uint owner, uint group, uint? granted, string? expected)
        {
            var problem = StorePermissions.Problem(StorePermissions.ItemKind.PrivateKey, Convert.ToInt32(mode, 8), owner, 1000u, group, granted);
            if (expected == null) Assert.Null(problem);
            else Assert.Contains(expected, problem);
        }

        [Fact]
        public void Windows_store_root_acl_is_owner_administrators_system_full_control_inherited_with_parent_inheritance_off()
        {
            const string owner = "S-1-5-21-1004336348-1177238915-682003330-1001";
            var rules = StoreAcl.Rules(StoreAcl.Scope.StoreRoot, owner, directory: true);
            Assert.Equal(new[] { owner, "S-1-5-32-544", "S-1-5-18" }, rules.Select(r => r.Sid));
            Assert.All(rules, r =>
            {
                Assert.Equal(System.Security.AccessControl.FileSystemRights.FullControl, r.Rights);
                Assert.Equal(System.Security.AccessControl.AccessControlType.Allow, r.Type);
                Assert.Equal(System.Security.AccessControl.InheritanceFlags.ContainerInherit | System.Security.AccessControl.InheritanceFlags.ObjectInherit, r.Inheritance);
                Assert.Equal(System.Security.AccessControl.PropagationFlags.None, r.Propagation);
            });
            Assert.True(StoreAcl.ProtectedFromParent);
            Assert.Equal($"D:PAI(A;OICI;FA;;;{owner})(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;S-1-5-18)",
                StoreAcl.Sddl(StoreAcl.Scope.StoreRoot, owner, directory: true));
        }

        [Fact]
        public void Windows_secret_acls_are_owner_only_or_administrators_and_system_without_inheritance_flags_on_files()
        {
            const string owner = "S-1-5-21-1-2-3-1001";
            Assert.Equal($"D:PAI(A;OICI;FA;;;{owner})", StoreAcl.Sddl(StoreAcl.Scope.OwnerOnly, owner, directory: true));
            Assert.Equal($"D:PAI(A;;FA;;;{owner})", StoreAcl.Sddl(StoreAcl.Scope.OwnerOnly, owner, directory: false));
            Assert.Equal("D:PAI(A;;FA;;;S-1-5-32-544)(A;;FA;;;S-1-5-18)", StoreAcl.Sddl(StoreAcl.Scope.Administrators, "", directory: false));
            Assert.Throws<ArgumentException>(() => StoreAcl.Rules(StoreAcl.Scope.StoreRoot, "", directory: true));
        }

        const string Me = "S-1-5-21-1-2-3-1001";
        const string Users = "S-1-5-32-545";
        const string AuthenticatedUsers = "S-1-5-11";
        const string CreatorOwner = "S-1-3-0";
        const string SomeoneElse = "S-1-5-21-1-2-3-1002";

        static StoreAcl.Entry Allow(string sid, System.Security.AccessControl.FileSystemRights rights) => new(sid, rights);

        /// <summary>M1: the Windows rule for an existing store folder, on data (the ACL is read only on Windows).</summary>
        [Fact]
        public void Windows_acl_rule_accepts_the_acl_the_product_creates_and_an_owner_of_administrators_or_system()
        {
            var productAcl = StoreAcl.Rules(StoreAcl.Scope.StoreRoot, Me, directory: true).Select(r => Allow(r.Sid, r.Rights)).ToList();
            Assert.Null(StoreAcl.Problem(Me, productAcl, Me));
            Assert.Null(StoreAcl.Problem(StoreAcl.AdministratorsSid, productAcl, Me)); // elevated: owned by Administrators
            Assert.Null(StoreAcl.Problem(StoreAcl.LocalSystemSid, productAcl, Me));
            // Others may read and list; only changing rights count. Deny entries take rights away and are ignored.
            var readers = productAcl.Concat(new[]
            {
                Allow(Users, System.Security.AccessControl.FileSystemRights.ReadAndExecute),
                new StoreAcl.Entry(SomeoneElse, System.Security.AccessControl.FileSystemRights.FullControl, System.Security.AccessControl.AccessControlType.Deny),
            });
            Assert.Null(StoreAcl.Problem(Me, readers, Me));
        }

        [Theory]
        [InlineData(Users, System.Security.AccessControl.FileSystemRights.CreateFiles, "changeable by S-1-5-32-545")]            // %ProgramData%'s "Users may create files"
        [InlineData(Users, System.Security.AccessControl.FileSystemRights.AppendData, "changeable by S-1-5-32-545")]             // = create folders
        [InlineData(AuthenticatedUsers, System.Security.AccessControl.FileSystemRights.Modify, "changeable by S-1-5-11")]
        [InlineData(SomeoneElse, System.Security.AccessControl.FileSystemRights.Write, "changeable by " + SomeoneElse)]
        [InlineData(SomeoneElse, System.Security.AccessControl.FileSystemRights.ChangePermissions, "changeable by " + SomeoneElse)]
        [InlineData(SomeoneElse, System.Security.AccessControl.FileSystemRights.TakeOwnership, "changeable by " + SomeoneElse)]
        [InlineData(CreatorOwner, System.Security.AccessControl.FileSystemRights.FullControl, "changeable by S-1-3-0")]
        public void Windows_acl_rule_refuses_any_other_sid_with_write_append_or_create_child_rights(string sid, System.Security.AccessControl.FileSystemRights rights, string expected)
        {
            var acl = StoreAcl.Rules(StoreAcl.Scope.StoreRoot, Me, directory: true).Select(r => Allow(r.Sid, r.Rights)).Append(Allow(sid, rights));
            Assert.Contains(expected, StoreAcl.Problem(Me, acl, Me));
        }

        [Theory]
        [InlineData(SomeoneElse)]
        [InlineData(Users)]
        [InlineData("")]
        [InlineData(null)]
        public void Windows_acl_rule_refuses_an_owner_other_than_the_user_administrators_or_system(string? owner)
        {
            var acl = StoreAcl.Rules(StoreAcl.Scope.StoreRoot, Me, directory: true).Select(r => Allow(r.Sid, r.Rights));
            Assert.Contains("owned by", StoreAcl.Problem(owner, acl, Me));
        }
    }
}
