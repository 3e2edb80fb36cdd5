using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>Issue 16 part 7: hash chain, torn last line, user from the OS, store-level auditing of trust changes.</summary>
    public class AuditLogTests
    {
        const string EsnA = "8A2C-91F3-0D4E";

        static HostStore StoreWith(TempDirectory dir, int entries)
        {
            var store = StoreTestSupport.NewStore(dir);
            for (int i = 0; i < entries; i++)
                store.AppendAudit(new AuditEntry { Operation = "test.op", Result = "Success", Detail = $"entry {i + 1}" });
            return store;
        }

        static string Sha256Hex(string line) =>
            Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(line))).ToLowerInvariant();

        static string[] Lines(HostStore store) => File.ReadAllText(store.AuditLogPath).Split('\n')[..^1];

        static void WriteLines(HostStore store, IEnumerable<string> lines) =>
            File.WriteAllText(store.AuditLogPath, string.Concat(lines.Select(l => l + "\n")));

        static string Prev(string line) => JsonDocument.Parse(line).RootElement.GetProperty("prev").GetString()!;

        [Fact]
        public void Each_entry_carries_the_sha256_of_the_line_before_it_starting_from_the_genesis_value()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 3);
            var lines = Lines(store);
            Assert.Equal(3, lines.Length);
            Assert.Equal(new string('0', 64), HostStore.AuditGenesisHash);
            Assert.Equal(HostStore.AuditGenesisHash, Prev(lines[0]));
            Assert.Equal(Sha256Hex(lines[0]), Prev(lines[1]));
            Assert.Equal(Sha256Hex(lines[1]), Prev(lines[2]));

            var check = store.VerifyAudit();
            Assert.True(check.Valid, check.Reason);
            Assert.Equal(3, check.Entries);
            Assert.Equal(3, check.ChainedEntries);
            Assert.Equal(0, check.UnchainedEntries);
            Assert.False(check.TornLastLine);
            Assert.Null(check.BrokenLine);
            Assert.Equal(Sha256Hex(lines[2]), check.LastHash);
        }

        [Fact]
        public void An_edited_entry_is_detected_at_the_line_after_it()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 4);
            var lines = Lines(store);
            lines[1] = lines[1].Replace("\"entry 2\"", "\"entry two\"");
            WriteLines(store, lines);

            var check = store.VerifyAudit();
            Assert.False(check.Valid);
            Assert.Equal(3, check.BrokenLine);
            Assert.Contains("line 2 was changed", check.Reason);
            Assert.Equal(4, check.Entries);
        }

        [Fact]
        public void A_deleted_entry_is_detected_in_the_middle_and_at_the_start()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 4);
            var original = Lines(store);

            WriteLines(store, original.Where((_, i) => i != 1));
            var middle = store.VerifyAudit();
            Assert.False(middle.Valid);
            Assert.Equal(2, middle.BrokenLine);

            WriteLines(store, original.Skip(1));
            var first = store.VerifyAudit();
            Assert.False(first.Valid);
            Assert.Equal(1, first.BrokenLine);
            Assert.Contains("genesis", first.Reason);
        }

        [Fact]
        public void Reordered_entries_are_detected()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 4);
            var lines = Lines(store);
            (lines[1], lines[2]) = (lines[2], lines[1]);
            WriteLines(store, lines);

            var check = store.VerifyAudit();
            Assert.False(check.Valid);
            Assert.Equal(2, check.BrokenLine);
        }

        [Fact]
        public void A_torn_last_line_is_skipped_reported_and_cut_off_by_the_next_append_which_records_it()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 2);
            const string fragment = "{\"time\":\"2026-11-30T06:01:42+00:00\",\"operation\":\"pins.se";
            File.AppendAllText(store.AuditLogPath, fragment);

            Assert.Equal(2, store.ReadAudit().Count); // not StoreCorrupt
            var torn = store.VerifyAudit();
            Assert.True(torn.Valid, torn.Reason);
            Assert.True(torn.TornLastLine);
            Assert.Equal(2, torn.Entries);

            store.AppendAudit(new AuditEntry { Operation = "test.after", Result = "Success" });
            var entries = store.ReadAudit();
            Assert.Equal(new[] { "test.op", "test.op", HostStore.AuditTornOperation, "test.after" }, entries.Select(e => e.Operation));
            Assert.Contains(Sha256Hex(fragment), entries[2].Detail);
            Assert.Contains($"{fragment.Length} bytes", entries[2].Detail);
            var repaired = store.VerifyAudit();
            Assert.True(repaired.Valid, repaired.Reason);
            Assert.False(repaired.TornLastLine);
            Assert.Equal(4, repaired.ChainedEntries);
            Assert.DoesNotContain(fragment + "{", File.ReadAllText(store.AuditLogPath)); // not glued to the next entry
        }

        [Theory]
        [InlineData(9_000)]   // just past the first read (8 KB)
        [InlineData(200_000)] // past several widenings
        public void Lines_and_torn_tails_longer_than_the_read_window_still_chain_and_are_cut_off(int length)
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 2);
            store.AppendAudit(new AuditEntry { Operation = "test.long", Result = "Success", Detail = new string('x', length) });
            store.AppendAudit(new AuditEntry { Operation = "test.after-long", Result = "Success" });
            var lines = Lines(store);
            Assert.True(lines[2].Length > length);
            Assert.Equal(Sha256Hex(lines[2]), Prev(lines[3])); // the previous line was found whole, past the window

            var fragment = "{\"time\":\"2026-11-30T06:01:42+00:00\",\"detail\":\"" + new string('y', length);
            File.AppendAllText(store.AuditLogPath, fragment);
            store.AppendAudit(new AuditEntry { Operation = "test.after-torn", Result = "Success" });
            var entries = store.ReadAudit();
            Assert.Equal(new[] { "test.op", "test.op", "test.long", "test.after-long", HostStore.AuditTornOperation, "test.after-torn" },
                entries.Select(e => e.Operation));
            Assert.Contains($"{fragment.Length} bytes", entries[4].Detail);
            var check = store.VerifyAudit();
            Assert.True(check.Valid, check.Reason);
            Assert.Equal(6, check.ChainedEntries);
        }

        [Fact]
        public void At_the_window_edge_a_last_line_of_8192_bytes_and_a_torn_tail_of_8191_still_chain()
        {
            var at = new DateTimeOffset(2026, 12, 8, 3, 0, 0, TimeSpan.Zero); // a fixed time: a fixed line length
            using var scratch = new TempDirectory();
            var measure = StoreWith(scratch, 0);
            measure.AppendAudit(new AuditEntry { Time = at, Operation = "test.edge", Result = "Success", Detail = "" });
            int empty = Lines(measure)[0].Length;

            using var dir = new TempDirectory();
            var store = StoreWith(dir, 2);
            // With its "\n" the line fills the first 8 KB read exactly; the "\n" before it is just outside.
            store.AppendAudit(new AuditEntry { Time = at, Operation = "test.edge", Result = "Success", Detail = new string('x', 8191 - empty) });
            store.AppendAudit(new AuditEntry { Operation = "test.after-edge", Result = "Success" });
            var lines = Lines(store);
            Assert.Equal(8191, Encoding.UTF8.GetByteCount(lines[2]));
            Assert.Equal(Sha256Hex(lines[2]), Prev(lines[3]));

            // A torn tail of 8191 bytes: the first read holds it and only the "\n" before it.
            var fragment = "{\"time\":\"" + new string('y', 8191 - 9);
            Assert.Equal(8191, fragment.Length);
            File.AppendAllText(store.AuditLogPath, fragment);
            store.AppendAudit(new AuditEntry { Operation = "test.after-torn", Result = "Success" });
            var entries = store.ReadAudit();
            Assert.Equal(HostStore.AuditTornOperation, entries[^2].Operation);
            Assert.Contains("8191 bytes", entries[^2].Detail);
            var check = store.VerifyAudit();
            Assert.True(check.Valid, check.Reason);
            Assert.Equal(6, check.ChainedEntries);
        }

        [Fact]
        public void A_log_that_is_only_a_torn_line_is_cut_off_and_the_chain_starts_at_genesis()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            Directory.CreateDirectory(store.Root);
            File.WriteAllText(store.AuditLogPath, "{\"time\":");
            Assert.True(store.VerifyAudit().TornLastLine);
            store.AppendAudit(new AuditEntry { Operation = "test.op", Result = "Success" });
            var lines = Lines(store);
            Assert.Equal(2, lines.Length);
            Assert.Equal(HostStore.AuditGenesisHash, Prev(lines[0]));
            var verified = store.VerifyAudit();
            Assert.True(verified.Valid, verified.Reason);
        }

        [Fact]
        public void A_damaged_line_in_the_middle_is_still_StoreCorrupt_and_breaks_the_check()
        {
            using var dir = new TempDirectory();
            var store = StoreWith(dir, 3);
            var lines = Lines(store);
            lines[1] = lines[1].Substring(0, 20); // cut short but followed by a newline: not a torn append
            WriteLines(store, lines);

            var e = Assert.Throws<HsmException>(() => store.ReadAudit());
            Assert.Equal(HsmErrorIds.StoreCorrupt, e.ErrorId);
            Assert.Contains("line 2", e.Message);
            var check = store.VerifyAudit();
            Assert.False(check.Valid);
            Assert.Equal(2, check.BrokenLine);
            Assert.Contains("not an audit entry", check.Reason);
        }

        [Fact]
        public void Old_entries_without_hashes_are_reported_unchained_and_the_first_chained_entry_covers_the_last_of_them()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            Directory.CreateDirectory(store.Root);
            var legacy = new[]
            {
                "{\"time\":\"2026-01-01T00:00:00+00:00\",\"operation\":\"enroll\",\"esn\":\"8A2C-91F3-0D4E\",\"result\":\"Success\",\"user\":\"root\"}",
                "{\"time\":\"2026-01-02T00:00:00+00:00\",\"operation\":\"roll.finish\",\"result\":\"Success\",\"user\":\"root\"}",
            };
            WriteLines(store, legacy);
            store.AppendAudit(new AuditEntry { Operation = "test.op", Result = "Success" });
            store.AppendAudit(new AuditEntry { Operation = "test.op", Result = "Success" });
            var lines = Lines(store);
            Assert.Equal(Sha256Hex(legacy[1]), Prev(lines[2]));

            var check = store.VerifyAudit();
            Assert.True(check.Valid, check.Reason);
            Assert.Equal(4, check.Entries);
            Assert.Equal(2, check.UnchainedEntries);
            Assert.Equal(2, check.ChainedEntries);

            // The last unchained line is covered by the chain...
            var edited = (string[])lines.Clone();
            edited[1] = edited[1].Replace("Success", "Failed");
            WriteLines(store, edited);
            Assert.Equal(3, store.VerifyAudit().BrokenLine);

            // ...and an entry without a hash after chained ones is a break, not "old".
            var stripped = (string[])lines.Clone();
            stripped[3] = stripped[3].Substring(0, stripped[3].IndexOf(",\"prev\"", StringComparison.Ordinal)) + "}";
            WriteLines(store, stripped);
            var check2 = store.VerifyAudit();
            Assert.False(check2.Valid);
            Assert.Equal(4, check2.BrokenLine);
            Assert.Contains("no hash", check2.Reason);
        }

        [Fact]
        public void A_missing_log_is_valid_and_empty()
        {
            using var dir = new TempDirectory();
            var check = StoreTestSupport.NewStore(dir).VerifyAudit();
            Assert.True(check.Valid);
            Assert.Equal(0, check.Entries);
            Assert.Null(check.LastHash);
        }

        [SkippableFact]
        public void The_audit_user_comes_from_the_OS_not_from_USER_USERNAME_LOGNAME_or_USERDOMAIN()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "getpwuid_r and env(1): the Windows user comes from WindowsIdentity");
            using var dir = new TempDirectory();
            var real = ProcessRunner.Run("/usr/bin/id", "-un").StdOut.Trim();
            Assert.NotEqual("", real);
            Assert.NotEqual("mallory", real);
            // A child process whose environment lies about who it is (xUnit runs tests in parallel: no in-process setenv).
            var r = ProcessRunner.Run("/usr/bin/env", new[] { "USER=mallory", "USERNAME=mallory", "LOGNAME=mallory", "USERDOMAIN=EVIL",
                "dotnet", StoreConcurrencyTests.StressProgram(), dir.Path, "1", "liar" }, timeout: TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.ToString());
            var entry = Assert.Single(new HostStore(dir.Path).ReadAudit());
            Assert.Equal(real, entry.User);
        }

        [Fact]
        public void The_store_audits_every_pin_trusted_root_and_client_key_change_whoever_calls_it()
        {
            using var dir = new TempDirectory();
            var store = StoreTestSupport.NewStore(dir);
            using var k1 = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "k1");
            using var k2 = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "k2");
            using var c1 = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "c1");
            using var c2 = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "c2");
            List<AuditEntry> Since(int n) => store.ReadAudit().Skip(n).ToList();

            store.SetPins(EsnA, new Dictionary<string, SshPublicKey> { ["sshadmin"] = k1.PublicKey });
            var pinned = Assert.Single(Since(0));
            Assert.Equal(("pins.set", EsnA, "Pinned"), (pinned.Operation, pinned.Esn, pinned.Result));
            Assert.Equal(new[] { "sshadmin=" + k1.PublicKey.Fingerprint }, pinned.Fingerprints);

            store.SetPins(EsnA, new Dictionary<string, SshPublicKey> { ["sshadmin"] = k1.PublicKey }); // same pins: nothing changed
            Assert.Single(store.ReadAudit());

            store.SetPins(EsnA, new Dictionary<string, SshPublicKey> { ["sshadmin"] = k2.PublicKey });
            var repin = Assert.Single(Since(1));
            Assert.Equal(("pins.set", "Replaced"), (repin.Operation, repin.Result));
            Assert.Contains(k1.PublicKey.Fingerprint, repin.Detail);
            Assert.Equal(new[] { "sshadmin=" + k2.PublicKey.Fingerprint }, repin.Fingerprints);

            Assert.True(store.RemovePins(EsnA));
            var unpin = Assert.Single(Since(2));
            Assert.Equal(("pins.remove", EsnA, "Removed"), (unpin.Operation, unpin.Esn, unpin.Result));
            Assert.Equal(new[] { "sshadmin=" + k2.PublicKey.Fingerprint }, unpin.Fingerprints);

            store.AddTrustedRoot("vendor", k1.PublicKey);
            store.AddTrustedRoot("vendor", k1.PublicKey); // same key: no change, no entry
            store.AddTrustedRoot("vendor", k2.PublicKey, overwrite: true);
            Assert.True(store.RemoveTrustedRoot("vendor"));
            var roots = Since(3);
            Assert.Equal(new[] { "trustedroot.add", "trustedroot.add", "trustedroot.remove" }, roots.Select(e => e.Operation));
            Assert.Equal(new[] { "Added", "Replaced", "Removed" }, roots.Select(e => e.Result));
            Assert.Contains("was " + k1.PublicKey.Fingerprint, roots[1].Detail);
            Assert.Equal(k2.PublicKey.Fingerprint, roots[2].Fingerprints!.Single());

            // A restore (or enroll) saves the client key; a roll stages and promotes it; all audited by the store.
            store.SaveClientKey("sshadmin", c1, ProtectionSpec.Default, null);
            store.SaveClientKey("sshadmin", c2, ProtectionSpec.Default, null);
            store.StageClientKey("sshadmin", c1, ProtectionSpec.Default, null);
            store.PromoteClientKey("sshadmin");
            store.DeleteClientKey("sshadmin");
            var keys = Since(6);
            Assert.Equal(new[] { "clientkey.save", "clientkey.save", "clientkey.promote", "clientkey.delete" }, keys.Select(e => e.Operation));
            Assert.Equal(new[] { "Installed", "Replaced", "Replaced", "Deleted" }, keys.Select(e => e.Result));
            Assert.Equal(c2.PublicKey.Fingerprint, keys[1].Fingerprints!.Single());
            Assert.Contains(c1.PublicKey.Fingerprint, keys[1].Detail);
            Assert.Contains(c2.PublicKey.Fingerprint, keys[2].Detail);
            Assert.All(keys, e => Assert.Equal("sshadmin", e.Service));

            var text = File.ReadAllText(store.AuditLogPath);
            Assert.DoesNotContain("PRIVATE KEY", text);
            Assert.True(store.VerifyAudit().Valid);
        }
    }
}
