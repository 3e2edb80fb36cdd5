using System;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using NShield.HsmAdmin.Tests.Protection;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>
    /// Issue 23, items 6 and 13: a deleted audit log, or one whose newest entries were cut off at a line boundary, is not
    /// Valid on a store that holds trust, also after the next change; the last line's link is checked; each entry can
    /// also go to the system log (a real Unix datagram socket in a temp folder, written by the real logger(1)).
    /// </summary>
    public class AuditCompletenessTests
    {
        static HostStore StoreWithEntries(TempDirectory dir, int roots)
        {
            var store = StoreTestSupport.NewStore(dir);
            using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) store.SaveClientKey("sshadmin", key, ProtectionSpec.Default, null);
            for (int i = 0; i < roots; i++)
                using (var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) store.AddTrustedRoot("root" + i, root.PublicKey, overwrite: false);
            return store;
        }

        static void AnotherChange(HostStore store)
        {
            using var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            store.AddTrustedRoot("later", root.PublicKey, overwrite: false);
        }

        static int Lines(HostStore store) => File.ReadAllBytes(store.AuditLogPath).Count(b => b == (byte)'\n');

        /// <summary>
        /// The head counts entries from the previous head on (an append reads only what it added, not the whole log), and
        /// still gets every line: one written after the head by an append that died before updating it, and a head written
        /// before heads recorded the log's length (counted from the start once, then with its length).
        /// </summary>
        [Fact]
        public void The_head_counts_from_the_previous_head_and_still_counts_every_line()
        {
            using var dir = new TempDirectory();
            var store = StoreWithEntries(dir, 3);
            var head = store.ReadAuditHead()!;
            Assert.Equal(Lines(store), head.Entries);
            Assert.Equal(new FileInfo(store.AuditLogPath).Length, head.Bytes);

            // An append that died after its line was flushed and before the head was written: the next head counts that line.
            var lines = File.ReadAllLines(store.AuditLogPath);
            File.AppendAllText(store.AuditLogPath, lines[^1] + "\n");
            AnotherChange(store);
            head = store.ReadAuditHead()!;
            Assert.Equal(Lines(store), head.Entries);
            Assert.Equal(new FileInfo(store.AuditLogPath).Length, head.Bytes);

            // A head without a length (written before): counted from the start once, then with its length again.
            File.WriteAllText(store.AuditHeadPath, $"{{\"entries\": {head.Entries}, \"lastHash\": \"{head.LastHash}\"}}");
            Assert.Equal(0, store.ReadAuditHead()!.Bytes);
            using (var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) store.AddTrustedRoot("after", root.PublicKey, overwrite: false);
            head = store.ReadAuditHead()!;
            Assert.Equal(Lines(store), head.Entries);
            Assert.Equal(new FileInfo(store.AuditLogPath).Length, head.Bytes);
            Assert.DoesNotContain(store.ReadAudit(), e => e.Operation == HostStore.AuditLostOperation);

            // An implausible count (edited to int.MaxValue, which would wrap to a negative "no head"): not believed, the
            // full count finds fewer lines than it claims and says so (audit.lost), and the next head is right again.
            head = store.ReadAuditHead()!;
            File.WriteAllText(store.AuditHeadPath,
                $"{{\"entries\": {int.MaxValue}, \"lastHash\": \"{head.LastHash}\", \"bytes\": {head.Bytes}}}");
            using (var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) store.AddTrustedRoot("implausible", root.PublicKey, overwrite: false);
            Assert.Contains(store.ReadAudit(), e => e.Operation == HostStore.AuditLostOperation);
            Assert.Equal(Lines(store), store.ReadAuditHead()!.Entries);
            Assert.False(store.VerifyAudit().Valid);

            // A log cut at a line boundary before the head's length: found, as before.
            var kept = File.ReadAllLines(store.AuditLogPath).Take(2).Select(l => l + "\n");
            File.WriteAllText(store.AuditLogPath, string.Concat(kept));
            using (var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519)) store.AddTrustedRoot("cut", root.PublicKey, overwrite: false);
            Assert.Contains(store.ReadAudit(), e => e.Operation == HostStore.AuditLostOperation);
            Assert.Equal(Lines(store), store.ReadAuditHead()!.Entries);
        }

        /// <summary>
        /// The head's line is checked where the head says it ends: newest entries rewritten to the same length (so the log
        /// is as long as before, and the quick path is taken) are found by the next append (audit.lost) and the log is not
        /// Valid afterwards.
        /// </summary>
        [Fact]
        public void Newest_entries_rewritten_to_the_same_length_are_found_by_the_next_append()
        {
            using var dir = new TempDirectory();
            var store = StoreWithEntries(dir, 3);
            var length = new FileInfo(store.AuditLogPath).Length;
            var lines = File.ReadAllLines(store.AuditLogPath);
            var last = lines[^1];
            lines[^1] = last.Replace("\"Added\"", "\"Addeb\"");
            Assert.NotEqual(last, lines[^1]);
            File.WriteAllText(store.AuditLogPath, string.Join("\n", lines) + "\n");
            Assert.Equal(length, new FileInfo(store.AuditLogPath).Length);

            AnotherChange(store);
            var lost = Assert.Single(store.ReadAudit(), e => e.Operation == HostStore.AuditLostOperation);
            Assert.Contains("rewritten", lost.Detail);
            Assert.False(store.VerifyAudit().Valid);
        }

        [Fact]
        public void A_deleted_log_on_a_store_holding_keys_is_not_valid_and_stays_so_after_the_next_change()
        {
            using var dir = new TempDirectory();
            var store = StoreWithEntries(dir, 3);
            Assert.True(store.VerifyAudit().Valid);
            File.Delete(store.AuditLogPath);

            var r = store.VerifyAudit();
            Assert.False(r.Valid);
            Assert.Contains("missing", r.Reason);

            AnotherChange(store);
            r = store.VerifyAudit();
            Assert.False(r.Valid);
            Assert.Equal(1, r.BrokenLine);
            Assert.Contains("entries were lost", r.Reason);
            Assert.Equal(HostStore.AuditLostOperation, store.ReadAudit().First().Operation);

            // The head deleted too: a store that holds keys with no log is still not Valid.
            using var dir2 = new TempDirectory();
            var bare = StoreWithEntries(dir2, 0);
            File.Delete(bare.AuditLogPath);
            File.Delete(bare.AuditHeadPath);
            r = bare.VerifyAudit();
            Assert.False(r.Valid);
            Assert.Contains("client keys", r.Reason);
        }

        [Fact]
        public void A_log_cut_at_a_line_boundary_is_not_valid_and_the_next_change_records_the_loss()
        {
            using var dir = new TempDirectory();
            var store = StoreWithEntries(dir, 8);
            var lines = File.ReadAllLines(store.AuditLogPath);
            File.WriteAllText(store.AuditLogPath, string.Join("\n", lines.Take(lines.Length / 2)) + "\n");

            var r = store.VerifyAudit();
            Assert.False(r.Valid);
            Assert.Contains("cut off", r.Reason);
            Assert.Equal(lines.Length / 2 + 1, r.BrokenLine);

            AnotherChange(store);
            r = store.VerifyAudit();
            Assert.False(r.Valid);
            var lost = store.ReadAudit().Single(a => a.Operation == HostStore.AuditLostOperation);
            Assert.Contains($"had {lines.Length / 2} entries where the store had recorded {lines.Length}", lost.Detail);
        }

        [Fact]
        public void A_new_store_without_a_log_and_an_intact_log_are_valid()
        {
            using var dir = new TempDirectory();
            Assert.True(StoreTestSupport.NewStore(dir, "empty").VerifyAudit().Valid);
            var store = StoreWithEntries(dir, 2);
            var r = store.VerifyAudit();
            Assert.True(r.Valid, r.Reason);
            Assert.Equal(r.Entries, store.ReadAuditHead()!.Entries);
            Assert.Equal(r.LastHash, store.ReadAuditHead()!.LastHash);
        }

        [Fact]
        public void The_last_lines_link_to_the_line_before_it_is_checked()
        {
            using var dir = new TempDirectory();
            var store = StoreWithEntries(dir, 3);
            var original = File.ReadAllLines(store.AuditLogPath);
            var lines = (string[])original.Clone();
            int n = lines.Length;
            lines[n - 2] = lines[n - 2].Replace("\"result\":\"", "\"result\":\"Forged");
            File.WriteAllText(store.AuditLogPath, string.Join("\n", lines) + "\n");
            var r = store.VerifyAudit();
            Assert.False(r.Valid);
            Assert.Equal(n, r.BrokenLine);
            Assert.Contains($"line {n} does not follow line {n - 1}", r.Reason);
        }

        [Fact]
        public void Each_entry_goes_to_the_system_log_socket_when_configured()
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/logger")) return;
            using var dir = new TempDirectory();
            var socketPath = dir.File("log.sock");
            using var syslog = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            syslog.Bind(new UnixDomainSocketEndPoint(socketPath));
            var store = StoreTestSupport.NewStore(dir);
            store.UpdateConfiguration(c => { c.AuditSyslogSocket = socketPath; return "forward audit to " + socketPath; });
            AnotherChange(store);

            var received = new System.Collections.Generic.List<string>();
            var buffer = new byte[64 * 1024];
            syslog.ReceiveTimeout = 10000;
            while (received.Count < 3 && syslog.Available >= 0)
            {
                int got;
                try { got = syslog.Receive(buffer); } catch (SocketException) { break; }
                received.Add(Encoding.UTF8.GetString(buffer, 0, got));
                if (received.Any(m => m.Contains("\"later\"") || m.Contains("trustedroot.add"))) break;
            }
            var lastLine = File.ReadAllLines(store.AuditLogPath).Last();
            var message = Assert.Single(received, m => m.Contains("trustedroot.add"));
            Assert.Contains("nshield-hsmadmin", message);
            Assert.Contains($"store {store.Root} {lastLine}", message);
            Assert.StartsWith("<37>", message); // auth.notice = 4 * 8 + 5
        }
    }
}
