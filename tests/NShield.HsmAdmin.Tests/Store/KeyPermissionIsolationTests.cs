using System;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>
    /// Issue 23, items 2 and 3, on real files (root: chgrp needs it). Each store has its own global nonce (G), so one store's
    /// grant or revoke never changes another's; a grant or revoke stopped at any step leaves nothing readable by a group the
    /// record does not name, and a rerun of the same command completes it, audited. The stop is the crash-point hook
    /// throwing at the point: the files are then exactly as a kill leaves them (every step is a synchronous file change).
    /// </summary>
    [Collection(ProcessEnvironmentCollection.Name)] // sets the process-wide crash hook
    public class KeyPermissionIsolationTests
    {
        const string Group = "daemon", OtherGroup = "users";

        static bool CanRun => OperatingSystem.IsLinux() && UnixNative.EffectiveUserId() == 0;

        sealed class Machine : IDisposable
        {
            public readonly TempDirectory Dir = new TempDirectory();
            public string Folder => Dir.File("machine");

            public HostStore NewStore(string name)
            {
                var store = new HostStore(Dir.File(name));
                store.SetConfiguration(new HostConfiguration { MachineFolder = Folder }, "test machine");
                foreach (var service in new[] { ModuleServices.SshAdmin, ModuleServices.NCoreApi })
                {
                    using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
                    store.SaveClientKey(service, key, ProtectionSpec.Default, null);
                }
                return store;
            }

            public void Dispose() => Dir.Dispose();
        }

        static string Mode(string path) => ProcessRunner.Run("/usr/bin/stat", new[] { "-c", "%a %G", path }).StdOut.Trim();
        static string Nonce(HostStore store) => store.OwnNoncePath!;
        static string KeyFile(HostStore store) => Path.Combine(store.ClientKeysDirectory, "ncoreapi.key");

        static void Opens(HostStore store)
        {
            using var key = store.OpenClientKey(ModuleServices.NCoreApi, null);
            Assert.Equal(store.GetClientKey(ModuleServices.NCoreApi)!.Fingerprint, key.PublicKey.Fingerprint);
        }

        [Fact]
        public void Each_store_has_its_own_global_nonce_in_the_machine_folder_named_in_its_key_records()
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var a = machine.NewStore("production");
            var b = machine.NewStore("scratch");
            Assert.NotEqual(a.ReadStoreId(), b.ReadStoreId());
            Assert.Equal(Path.Combine(machine.Folder, "stores", a.ReadStoreId()!, "global.nonce"), Nonce(a));
            Assert.Equal(a.ReadStoreId(), a.GetClientKey(ModuleServices.NCoreApi)!.NonceStore);
            Assert.NotEqual(File.ReadAllText(Nonce(a)), File.ReadAllText(Nonce(b)));
            Assert.Equal("600 root", Mode(Nonce(a)));
            Assert.Equal("700 root", Mode(Path.GetDirectoryName(Nonce(a))!));
            Assert.Equal("711", Mode(Path.Combine(machine.Folder, "stores")).Split(' ')[0]);
            Assert.False(File.Exists(Path.Combine(machine.Folder, "global.nonce")));
        }

        [Fact]
        public void A_grant_and_revoke_on_a_scratch_store_never_change_the_production_stores_nonce_or_key()
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var production = machine.NewStore("production");
            var scratch = machine.NewStore("scratch");
            production.GrantKeyAccess(ModuleServices.NCoreApi, Group);
            Assert.Equal($"640 {Group}", Mode(Nonce(production)));

            scratch.GrantKeyAccess(ModuleServices.NCoreApi, OtherGroup);
            Assert.Equal($"640 {OtherGroup}", Mode(Nonce(scratch)));
            Assert.Equal($"640 {Group}", Mode(Nonce(production)));   // the scratch grant exposes nothing of production
            scratch.RevokeKeyAccess(ModuleServices.NCoreApi);
            Assert.Equal("600 root", Mode(Nonce(scratch)));
            Assert.Equal($"640 {Group}", Mode(Nonce(production)));   // ... nor does its revoke take anything away
            Assert.Equal($"640 {Group}", Mode(KeyFile(production)));
            Assert.Equal($"710 {Group}", Mode(Path.GetDirectoryName(Nonce(production))!));
            Opens(new HostStore(production.Root));
        }

        [Fact]
        public void A_grant_on_a_key_protected_by_the_machine_wide_nonce_or_by_a_copied_stores_nonce_is_refused_changing_nothing()
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var store = machine.NewStore("host");
            // A key written before issue 23: no NonceStore, so the machine-wide nonce every store shares.
            var legacy = new LocalMachineIdentity(machine.Folder);
            var recordPath = Path.Combine(store.ClientKeysDirectory, "ncoreapi.json");
            var json = File.ReadAllText(recordPath);
            File.WriteAllText(recordPath, json.Replace($"\"nonceStore\": \"{store.ReadStoreId()}\"", "\"nonceStore\": null"));
            Assert.Null(store.GetClientKey(ModuleServices.NCoreApi)!.NonceStore);
            var e = Assert.Throws<HsmException>(() => store.GrantKeyAccess(ModuleServices.NCoreApi, Group));
            Assert.Equal(HsmErrorIds.InvalidKeyPermission, e.ErrorId);
            Assert.Contains("machine-wide global nonce", e.Message);
            Assert.Contains("Update-HsmSshKey -Service ncoreapi", e.Message);
            Assert.Empty(store.GetKeyGrants());
            Assert.Equal("600 root", Mode(KeyFile(store)));
            File.WriteAllText(recordPath, json);

            // A copy of the store on the same machine shares the nonce id: its grant would change the original's.
            var copy = machine.Dir.File("copy");
            ProcessRunner.Run("/bin/cp", new[] { "-a", store.Root, copy });
            var copied = new HostStore(copy);
            e = Assert.Throws<HsmException>(() => copied.GrantKeyAccess(ModuleServices.NCoreApi, Group));
            Assert.Equal(HsmErrorIds.InvalidKeyPermission, e.ErrorId);
            Assert.Contains($"belongs to the store {store.Root}", e.Message);
            Assert.Equal("600 root", Mode(Nonce(store)));
            // Its next new G key gets a nonce of its own, which it may then share.
            using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) copied.SaveClientKey(ModuleServices.NCoreApi, key, ProtectionSpec.Default, null);
            Assert.NotEqual(store.ReadStoreId(), copied.ReadStoreId());
            copied.GrantKeyAccess(ModuleServices.NCoreApi, Group);
            Assert.Equal("600 root", Mode(Nonce(store)));
            Assert.Equal($"640 {Group}", Mode(Nonce(copied)));
        }

        static void StopAt(string point, Action action)
        {
            CrashPoints.Hook = p => { if (p == point) throw new InvalidOperationException("stopped at " + point); };
            try { Assert.Equal("stopped at " + point, Assert.Throws<InvalidOperationException>(action).Message); }
            finally { CrashPoints.Hook = null; }
        }

        static string[] AuditOps(HostStore store) =>
            store.ReadAudit().Where(a => a.Operation == "keys.permission").Select(a => a.Result).ToArray();

        [Theory]
        [InlineData("keys.permission.revoke.keynarrowed")]
        [InlineData("keys.permission.revoke.narrowed")]
        [InlineData("keys.permission.revoke.audited")]
        public void A_revoke_stopped_at_any_step_leaves_nothing_wider_than_recorded_and_its_rerun_completes_it_audited(string point)
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var store = machine.NewStore("host");
            store.GrantKeyAccess(ModuleServices.NCoreApi, Group);
            StopAt(point, () => store.RevokeKeyAccess(ModuleServices.NCoreApi));

            // The key file is owner-only from the first step on; the store opens (no StoreInsecurePermissions).
            Assert.Equal("600", Mode(KeyFile(store)).Split(' ')[0]);
            var reopened = new HostStore(store.Root);
            if (point != "keys.permission.revoke.keynarrowed") Assert.Equal("600 root", Mode(Nonce(store)));
            Assert.True(reopened.RevokeKeyAccess(ModuleServices.NCoreApi));
            Assert.Empty(reopened.GetKeyGrants());
            Assert.Equal("600 root", Mode(KeyFile(store)));
            Assert.Equal("600 root", Mode(Nonce(store)));
            Assert.Equal("700 root", Mode(store.ClientKeysDirectory));
            Assert.Equal("Revoked", AuditOps(reopened).Last());
            Opens(reopened);
        }

        [Theory]
        [InlineData("keys.permission.grant.narrowed")]
        [InlineData("keys.permission.grant.recorded")]
        [InlineData("keys.permission.grant.applied")]
        public void A_grant_changing_group_stopped_at_any_step_never_leaves_a_file_readable_by_an_unrecorded_group_and_its_rerun_completes_it(string point)
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var store = machine.NewStore("host");
            store.GrantKeyAccess(ModuleServices.NCoreApi, Group);
            StopAt(point, () => store.GrantKeyAccess(ModuleServices.NCoreApi, OtherGroup));

            var recorded = new HostStore(store.Root).GetKeyGrant(ModuleServices.NCoreApi)!.Group; // opens: nothing insecure
            foreach (var file in new[] { KeyFile(store), Nonce(store) })
            {
                var mode = Mode(file).Split(' ');
                Assert.True(mode[0] == "600" || mode[1] == recorded, $"{file} is {string.Join(" ", mode)} while the record names {recorded}");
            }
            var rerun = new HostStore(store.Root);
            rerun.GrantKeyAccess(ModuleServices.NCoreApi, OtherGroup);
            Assert.Equal($"640 {OtherGroup}", Mode(KeyFile(store)));
            Assert.Equal($"640 {OtherGroup}", Mode(Nonce(store)));
            Assert.Equal("Granted", AuditOps(rerun).Last());
            Assert.Contains(rerun.ReadAudit(), a => a.Operation == "keys.permission" && a.Detail!.Contains($"group {OtherGroup}"));
            Opens(rerun);
        }

        [Fact]
        public void A_group_readable_nonce_no_grant_names_is_StoreInsecurePermissions_naming_it_and_the_revoke_rerun_repairs_it()
        {
            if (!CanRun) return;
            using var machine = new Machine();
            var store = machine.NewStore("host");
            // What the old order left after a kill: the record says owner-only, the key and nonce still group-readable.
            foreach (var file in new[] { KeyFile(store), Nonce(store) })
            {
                UnixNative.ChangeGroup(file, UnixNative.GroupId(Group)!.Value);
                UnixNative.Chmod(file, 0x1A0);
            }
            UnixNative.Chmod(KeyFile(store), 0x180); // the admin did the chmod the message asked for ...
            var e = Assert.Throws<HsmException>(() => new HostStore(store.Root));
            Assert.Equal(HsmErrorIds.StoreInsecurePermissions, e.ErrorId);   // ... and the nonce is still reported
            Assert.Equal(Nonce(store), e.Target);
            Assert.Contains($"chmod 600 '{Nonce(store)}'", e.Message);
            Assert.Contains($"Set-HsmSshKeyPermission -HostPath {store.Root} -Service <service> -OwnerOnly", e.Message);

            var repair = HostStore.OpenForKeyPermissions(store.Root);
            Assert.False(repair.RevokeKeyAccess(ModuleServices.NCoreApi)); // there was no grant ...
            Assert.Equal("600 root", Mode(Nonce(store)));                  // ... but it is made owner-only again
            var last = repair.ReadAudit().Last();
            Assert.Equal(("keys.permission", "Repaired"), (last.Operation, last.Result));
            Assert.Contains(Nonce(store), last.Detail);
            Opens(new HostStore(store.Root));
        }
    }
}
