using System;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>
    /// Issue 23, items 1 and 7: a backup never lands in the host store, the machine folder or on a file the product
    /// manages, whichever links lead there, and a folder as -Path is a typed error. Nothing is written in each case.
    /// </summary>
    public class BackupPathTests
    {
        sealed class Host : IDisposable
        {
            public readonly TempDirectory Dir = new TempDirectory();
            public readonly HostStore Store;
            public readonly string Machine;

            public Host()
            {
                Machine = Dir.File("machine");
                Store = new HostStore(Dir.File("host"));
                Store.SetConfiguration(new HostConfiguration { MachineFolder = Machine }, "test machine");
                using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
                Store.SaveClientKey(ModuleServices.SshAdmin, key, ProtectionSpec.Default, null);
            }

            public string KeyFile => Path.Combine(Store.ClientKeysDirectory, "sshadmin.key");

            /// <summary>Every file of the store and the machine folder with its bytes: what "nothing was written" compares.</summary>
            public string Snapshot() => string.Join("\n", new[] { Store.Root, Machine }.Where(Directory.Exists)
                .SelectMany(d => Directory.GetFiles(d, "*", SearchOption.AllDirectories)).OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => f + " " + Convert.ToBase64String(File.ReadAllBytes(f))));

            public void Dispose() => Dir.Dispose();
        }

        static HsmException Refused(Host host, string path)
        {
            var before = host.Snapshot();
            var e = Assert.Throws<HsmException>(() => KeyBackup.Write(host.Store, path, null, force: true));
            Assert.Equal(HsmErrorIds.PathRefused, e.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidArgument, e.Kind);
            Assert.Equal(before, host.Snapshot());
            return e;
        }

        [Fact]
        public void A_backup_onto_the_hosts_own_key_file_is_refused_even_with_force_and_the_key_still_opens()
        {
            using var host = new Host();
            var e = Refused(host, host.KeyFile);
            Assert.Contains("inside the host store", e.Message);
            using var key = host.Store.OpenClientKey(ModuleServices.SshAdmin, null);
            Assert.Equal(host.Store.GetClientKey(ModuleServices.SshAdmin)!.Fingerprint, key.PublicKey.Fingerprint);
        }

        [Fact]
        public void A_backup_anywhere_in_the_store_or_the_machine_folder_is_refused()
        {
            using var host = new Host();
            Refused(host, Path.Combine(host.Store.Root, "new-backup"));
            Refused(host, host.Store.AuditLogPath);
            Directory.CreateDirectory(host.Machine);
            var e = Refused(host, Path.Combine(host.Machine, "backup"));
            Assert.Contains("machine folder", e.Message);
        }

        [Fact]
        public void Links_that_lead_into_the_store_are_resolved_and_refused()
        {
            using var host = new Host();
            var fileLink = host.Dir.File("innocent.backup");
            File.CreateSymbolicLink(fileLink, host.KeyFile);
            var e = Refused(host, fileLink);
            Assert.Contains("resolves to '" + host.KeyFile + "'", e.Message);

            var folderLink = host.Dir.File("backups");
            Directory.CreateSymbolicLink(folderLink, host.Store.Root);
            Refused(host, Path.Combine(folderLink, "client-keys", "sshadmin.key"));

            // A dangling link whose target would be created inside the store, through a chain of two links.
            var hop = host.Dir.File("hop");
            File.CreateSymbolicLink(hop, Path.Combine(host.Store.ClientKeysDirectory, "not-yet.key"));
            var chained = host.Dir.File("chained.backup");
            File.CreateSymbolicLink(chained, hop);
            Refused(host, chained);
        }

        [Fact]
        public void A_file_the_host_configuration_names_is_refused()
        {
            using var host = new Host();
            var credential = host.Dir.WritePrivate("factory-credential", "not read here");
            host.Store.UpdateConfiguration(c => { c.FactoryCredentialPath = credential; return "test"; });
            var e = Refused(host, credential);
            Assert.Contains("factory credential", e.Message);
            Assert.Equal("not read here", File.ReadAllText(credential));
        }

        [Fact]
        public void A_folder_as_path_is_a_typed_error_not_an_IOException()
        {
            using var host = new Host();
            var folder = Directory.CreateDirectory(host.Dir.File("backups")).FullName;
            var e = Refused(host, folder);
            Assert.Contains("is a folder", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(folder));
        }

        [Fact]
        public void A_path_outside_every_managed_place_is_written()
        {
            using var host = new Host();
            var path = host.Dir.File("sshadmin.backup");
            KeyBackup.Write(host.Store, path, null, force: false);
            Assert.Contains(KeyBackup.VerbatimFormat, File.ReadAllText(path));
        }
    }
}
