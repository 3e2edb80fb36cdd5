using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>The newest audit entry the store wrote: how many lines, and the SHA-256 of the last one.</summary>
    public sealed class AuditHead
    {
        public int Entries { get; set; }
        public string LastHash { get; set; } = "";
        /// <summary>The log's length in bytes when the head was written (0: not recorded, in heads written before it was).</summary>
        public long Bytes { get; set; }
    }

    /// <summary>
    /// Issue 23, item 6: what makes a deleted or shortened audit log visible, and a second copy outside the store.
    /// - audit-head.json: after every append, the number of lines and the hash of the last one. A log shorter than the
    ///   head, or whose line at the head's position has another hash, is not Valid.
    /// - A store that holds keys, pins or modules with no log at all is not Valid.
    /// - Opt-in forwarding (host configuration AuditSyslogSocket): each entry is also sent to the system log through
    ///   logger(1) on that Unix socket (/dev/log: journald or syslog). Best effort: a system log that is down does not stop
    ///   the change; an entry it missed is still in the store's log.
    /// </summary>
    public sealed partial class HostStore
    {
        public string AuditHeadPath => Path.Combine(Root, "audit-head.json");

        public AuditHead? ReadAuditHead()
        {
            var head = StoreJson.ReadFile<AuditHead>(AuditHeadPath);
            return head == null || head.Entries <= 0 ? null : head;
        }

        /// <summary>
        /// Called under the store lock right after lines were appended and flushed: the count is the intact head's
        /// (<paramref name="since"/>) plus the lines after it, so an append reads only what it added, not the whole log.
        /// </summary>
        void WriteAuditHead(FileStream fs, byte[] lastLine, (int Entries, long Bytes) since)
        {
            long end = fs.Length;
            int count = since.Entries;
            fs.Position = since.Bytes;
            var buffer = new byte[Math.Max(1, Math.Min(64 * 1024, end - since.Bytes))]; // usually the one line just added
            for (long left = end - since.Bytes; left > 0;)
            {
                int n = fs.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n <= 0) throw new EndOfStreamException();
                for (int i = 0; i < n; i++) if (buffer[i] == NewLine) count++;
                left -= n;
            }
            StoreJson.WriteFile(AuditHeadPath, new AuditHead { Entries = count, LastHash = Sha256Hex(lastLine), Bytes = end },
                FileAccessScope.Public);
        }

        /// <summary>
        /// Before an append (under the lock): what was lost since the head the store recorded (null when nothing), and where
        /// counting may start for the next head: the head itself when the log still holds its line at its recorded length
        /// (read: that one line), else the start of the log. A log shorter than the head's count, or whose line at the
        /// head's position is not the recorded one, lost entries.
        /// </summary>
        (string? Lost, (int Entries, long Bytes) Since) CheckAuditHead(FileStream fs)
        {
            var head = ReadAuditHead();
            if (head == null) return (null, (0, 0));
            // A head is believed only when it is plausible (every line takes at least two bytes): an edited count (say,
            // int.MaxValue, which would wrap) sends the append to the full count below, which writes audit.lost.
            if (head.Bytes > 0 && head.Bytes <= fs.Length && head.Entries <= head.Bytes / 2)
            {
                var (line, torn) = ReadAuditTail(fs, head.Bytes);
                if (torn < 0 && line != null && string.Equals(Sha256Hex(line), head.LastHash, StringComparison.Ordinal))
                    return (null, (head.Entries, head.Bytes));
            }
            fs.Position = 0;
            var data = new byte[fs.Length];
            ReadExactly(fs, data);
            int count = 0, start = 0;
            byte[]? atHead = null;
            for (int i = 0; i < data.Length; i++)
            {
                if (data[i] != NewLine) continue;
                count++;
                if (count == head.Entries) { atHead = new byte[i - start]; Buffer.BlockCopy(data, start, atHead, 0, atHead.Length); }
                start = i + 1;
            }
            if (count < head.Entries)
                return ($"the log had {count} entries where the store had recorded {head.Entries} (last SHA-256 {head.LastHash}): " +
                        (count == 0 ? "it was deleted or emptied" : "the newest entries were cut off"), (0, 0));
            if (atHead != null && !string.Equals(Sha256Hex(atHead), head.LastHash, StringComparison.Ordinal))
                return ($"entry {head.Entries} was not the one the store had recorded (SHA-256 {head.LastHash}): the log was rewritten",
                    (0, 0));
            return (null, (0, 0)); // intact, from a head without a length: counted from the start once
        }

        /// <summary>What trust the store holds (for the missing-log check), or null when it holds none.</summary>
        string? HoldsTrust()
        {
            var held = new List<string>();
            if (GetClientKeys().Count > 0) held.Add("client keys");
            if (File.Exists(KnownHostsPath)
                && File.ReadAllLines(KnownHostsPath).Any(l => l.StartsWith("nshield-", StringComparison.Ordinal))) held.Add("pinned server keys");
            if (GetModules().Count > 0) held.Add("enrolled modules");
            return held.Count == 0 ? null : string.Join(", ", held);
        }

        /// <summary>The system log copy of one entry (opt-in); never throws.</summary>
        void ForwardAudit(byte[] line)
        {
            string? socket;
            try { socket = GetConfiguration().AuditSyslogSocket; }
            catch (HsmException) { return; }
            if (string.IsNullOrEmpty(socket) || !RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return; // Windows Event Log: not built yet
            try
            {
                // The entry goes on stdin (one line), so no argument quoting touches it; only the socket path is quoted.
                var quoted = "\"" + socket!.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
                var start = new ProcessStartInfo("logger",
                    $"--socket {quoted} --socket-errors=on -t nshield-hsmadmin --id={Process.GetCurrentProcess().Id} -p auth.notice")
                {
                    UseShellExecute = false, RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true,
                };
                using var p = Process.Start(start)!;
                p.StandardInput.Write("store " + Root + " " + new UTF8Encoding(false).GetString(line) + "\n");
                p.StandardInput.Close();
                p.WaitForExit(5000);
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is InvalidOperationException || e is IOException) { }
        }
    }
}
