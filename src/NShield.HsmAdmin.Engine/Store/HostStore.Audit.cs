using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Principal;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// audit.log: append-only JSON lines, one <see cref="AuditEntry"/> per line, each written whole, flushed to disk, under
    /// the store lock, so concurrent writers never interleave.
    /// <para>Hash chain: every entry's <c>prev</c> is the SHA-256 (lowercase hex) of the exact bytes of the line before it
    /// (without its "\n"); the first line's is <see cref="AuditGenesisHash"/>. Editing, removing or reordering a line breaks
    /// the link to the line after it (<see cref="VerifyAudit"/>). Lines written before the chain existed have no <c>prev</c>:
    /// they are reported as unchained, and the first chained line covers the last of them.</para>
    /// <para>Torn last line: a line with no "\n" after it is an append that did not finish (a crash mid-write). Readers skip
    /// it; the verifier reports it; the next append cuts it off and records what it cut (an <c>audit.torn</c> entry with its
    /// length, SHA-256 and text), so the log never stays corrupt. A damaged line that has a "\n" after it is corruption.</para>
    /// </summary>
    public sealed partial class HostStore
    {
        /// <summary>The <c>prev</c> of the first line of a log: 64 zeros (SHA-256 size, hex).</summary>
        public const string AuditGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

        /// <summary>Operation of the entry the writer adds when it cuts off a torn last line.</summary>
        public const string AuditTornOperation = "audit.torn";

        /// <summary>Written before the next entry when the log is shorter than (or differs from) the head the store recorded.</summary>
        public const string AuditLostOperation = "audit.lost";

        const byte NewLine = (byte)'\n';

        public AuditEntry AppendAudit(AuditEntry entry)
        {
            if (string.IsNullOrWhiteSpace(entry.Operation))
                throw new ArgumentException("An audit entry needs an operation.", nameof(entry));
            if (entry.Time == default) entry.Time = DateTimeOffset.UtcNow;
            entry.Time = entry.Time.ToUniversalTime();
            entry.User = AuditUser.Current; // from the OS, whatever the caller or the environment says
            return Write(() =>
            {
                EnsureRoot();
                if (!File.Exists(AuditLogPath))
                {
                    try { using (SecureFiles.CreateNew(AuditLogPath, FileAccessScope.Public)) { } } // exact mode, whatever the umask
                    catch (IOException) when (File.Exists(AuditLogPath)) { }
                }
                using (var fs = new FileStream(AuditLogPath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
                {
                    var (last, tornStart) = ReadAuditTail(fs);
                    var notes = new List<byte[]>(); // audit.torn and audit.lost go to the system log copy too
                    if (tornStart >= 0)
                    {
                        var fragment = new byte[fs.Length - tornStart];
                        fs.Position = tornStart;
                        ReadExactly(fs, fragment);
                        fs.SetLength(tornStart);
                        var text = new UTF8Encoding(false, false).GetString(fragment);
                        last = AppendChained(fs, new AuditEntry
                        {
                            Time = entry.Time, Operation = AuditTornOperation, Result = "Dropped", User = entry.User,
                            Detail = $"an append that did not finish was cut off: {fragment.Length} bytes, SHA-256 {Sha256Hex(fragment)}: " +
                                     (text.Length > 512 ? text.Substring(0, 512) + "..." : text),
                        }, last);
                        notes.Add(last);
                    }
                    var (lost, since) = CheckAuditHead(fs);
                    if (lost != null)
                    {
                        last = AppendChained(fs, new AuditEntry
                        {
                            Time = entry.Time, Operation = AuditLostOperation, Result = "Detected", User = entry.User, Detail = lost,
                        }, last);
                        notes.Add(last);
                    }
                    var line = AppendChained(fs, entry, last);
                    fs.Flush(flushToDisk: true);
                    WriteAuditHead(fs, line, since);
                    foreach (var note in notes) ForwardAudit(note);
                    ForwardAudit(line);
                }
                return entry;
            });
        }

        /// <summary>Writes <paramref name="entry"/> chained to <paramref name="previousLine"/>; returns the line written (no "\n").</summary>
        static byte[] AppendChained(FileStream fs, AuditEntry entry, byte[]? previousLine)
        {
            entry.Prev = previousLine == null ? AuditGenesisHash : Sha256Hex(previousLine);
            var line = new UTF8Encoding(false).GetBytes(JsonSerializer.Serialize(entry, StoreJson.Compact));
            var bytes = new byte[line.Length + 1];
            Buffer.BlockCopy(line, 0, bytes, 0, line.Length);
            bytes[line.Length] = NewLine;
            fs.Seek(0, SeekOrigin.End);
            fs.Write(bytes, 0, bytes.Length);
            return line;
        }

        /// <summary>
        /// The last complete line of the log's first <paramref name="length"/> bytes (all of it by default; null if none) and
        /// where a torn tail starts (-1 if those bytes end with "\n").
        /// </summary>
        static (byte[]? Last, long TornStart) ReadAuditTail(FileStream fs, long length = -1)
        {
            if (length < 0) length = fs.Length;
            if (length == 0) return (null, -1);
            // 8 KB usually holds the last two lines; a longer line widens the window (issue 20: a 64 KB first read was most
            // of what an append allocated).
            for (long window = Math.Min(length, 8 * 1024); ; window = Math.Min(length, window * 4))
            {
                long start = length - window;
                var buffer = new byte[window];
                fs.Position = start;
                ReadExactly(fs, buffer);
                bool whole = start == 0;
                int end = buffer.Length - 1; // index of the "\n" that ends the last complete line
                long tornStart = -1;
                if (buffer[end] != NewLine)
                {
                    end = Array.LastIndexOf(buffer, NewLine);
                    if (end < 0 && !whole) continue; // the torn tail is longer than the window
                    tornStart = start + end + 1;
                    if (end < 0) return (null, tornStart);
                }
                int before = end == 0 ? -1 : Array.LastIndexOf(buffer, NewLine, end - 1);
                if (before < 0 && !whole) continue; // the last line is longer than the window
                var last = new byte[end - before - 1];
                Buffer.BlockCopy(buffer, before + 1, last, 0, last.Length);
                return (last, tornStart);
            }
        }

        static void ReadExactly(Stream s, byte[] buffer)
        {
            int read = 0;
            while (read < buffer.Length)
            {
                int n = s.Read(buffer, read, buffer.Length - read);
                if (n <= 0) throw new EndOfStreamException();
                read += n;
            }
        }

        internal static string Sha256Hex(byte[] data)
        {
            using (var sha = SHA256.Create())
            {
                var hash = sha.ComputeHash(data);
                var sb = new StringBuilder(hash.Length * 2);
                foreach (var b in hash) sb.Append(b.ToString("x2"));
                return sb.ToString();
            }
        }

        /// <summary>The log's complete lines (byte ranges, without "\n") and whether a torn tail follows them.</summary>
        (List<byte[]> Lines, bool Torn)? ReadAuditLines()
        {
            byte[] data;
            try { data = File.ReadAllBytes(AuditLogPath); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            var lines = new List<byte[]>();
            int start = 0;
            for (int i = 0; i < data.Length; i++)
            {
                if (data[i] != NewLine) continue;
                var line = new byte[i - start];
                Buffer.BlockCopy(data, start, line, 0, line.Length);
                lines.Add(line);
                start = i + 1;
            }
            return (lines, start < data.Length);
        }

        /// <summary>
        /// The entries, oldest first. A torn last line is skipped; a line in the middle that is not an entry is StoreCorrupt.
        /// Does not check the hash chain (see <see cref="VerifyAudit"/>).
        /// </summary>
        public IReadOnlyList<AuditEntry> ReadAudit()
        {
            if (ReadAuditLines() is not { } log) return Array.Empty<AuditEntry>();
            var entries = new List<AuditEntry>();
            for (int i = 0; i < log.Lines.Count; i++)
            {
                var text = Encoding.UTF8.GetString(log.Lines[i]);
                if (text.Trim().Length == 0) continue;
                try { entries.Add(JsonSerializer.Deserialize<AuditEntry>(text, StoreJson.Compact) ?? throw new JsonException("null entry")); }
                catch (JsonException e) { throw StoreJson.Corrupt(AuditLogPath, $"line {i + 1} is not an audit entry", e); }
            }
            return entries;
        }

        /// <summary>
        /// Checks every line and the hash chain (Test-HsmAuditLog). Never throws for a bad log: the result says where it
        /// breaks. The first broken line is the first line that is not an entry, or whose <c>prev</c> does not match the line
        /// before it (so an edited line N is reported at N+1; a removed or moved line where the chain first breaks).
        /// </summary>
        public HsmAuditLogTestResult VerifyAudit()
        {
            var result = new HsmAuditLogTestResult { Path = AuditLogPath, Valid = true };
            var head = ReadAuditHead();
            var read = ReadAuditLines();
            if (read is not { } log || log.Lines.Count == 0)
            {
                result.TornLastLine = read?.Torn ?? false;
                // Issue 23, item 6: a store that holds trust (keys, pins, modules) has a log; its absence is not "Valid, 0 entries".
                var holds = HoldsTrust();
                if (holds != null || head != null)
                {
                    result.Valid = false;
                    result.Reason = head != null
                        ? $"the log is {(read == null ? "missing" : "empty")}, but the store recorded " +
                            $"{head.Entries} entries (audit-head.json): it was deleted or emptied"
                        : $"the log is {(read == null ? "missing" : "empty")}, but the store holds {holds}: it was deleted or emptied";
                }
                return result;
            }
            result.TornLastLine = log.Torn;
            result.Entries = log.Lines.Count;
            if (log.Lines.Count > 0) result.LastHash = Sha256Hex(log.Lines[log.Lines.Count - 1]);
            bool chained = false;
            for (int i = 0; i < log.Lines.Count; i++)
            {
                int number = i + 1;
                string? failure = null;
                AuditEntry? entry = null;
                var text = Encoding.UTF8.GetString(log.Lines[i]);
                if (text.Trim().Length == 0) failure = $"line {number} is empty (the file was edited)";
                else
                {
                    try { entry = JsonSerializer.Deserialize<AuditEntry>(text, StoreJson.Compact); }
                    catch (JsonException) { }
                    if (entry == null || string.IsNullOrEmpty(entry.Operation)) failure = $"line {number} is not an audit entry (damaged or edited)";
                }
                if (failure == null && entry!.Prev == null)
                {
                    if (chained)
                        failure = $"line {number} has no hash of the line before it, but earlier entries " +
                            "are chained (an entry was inserted or its hash removed)";
                    else result.UnchainedEntries++;
                }
                else if (failure == null)
                {
                    chained = true;
                    var expected = i == 0 ? AuditGenesisHash : Sha256Hex(log.Lines[i - 1]);
                    if (!string.Equals(entry!.Prev, expected, StringComparison.Ordinal))
                        failure = i == 0
                            ? "line 1 does not start the chain (its prev is not the genesis value): earlier entries were removed or line 1 was edited"
                            : $"line {number} does not follow line {i} (hash mismatch): line {i} " +
                                "was changed, or entries were removed or reordered there";
                    else result.ChainedEntries++;
                }
                if (failure != null)
                {
                    result.Valid = false;
                    result.BrokenLine = number;
                    result.Reason = failure;
                    return result;
                }
            }
            for (int i = 0; i < log.Lines.Count; i++)
            {
                var text = Encoding.UTF8.GetString(log.Lines[i]);
                if (!text.Contains("\"" + AuditLostOperation + "\"")) continue;
                var lost = JsonSerializer.Deserialize<AuditEntry>(text, StoreJson.Compact);
                if (lost?.Operation != AuditLostOperation) continue;
                result.Valid = false;
                result.BrokenLine = i + 1;
                result.Reason = $"line {i + 1} records that entries were lost before it: {lost.Detail}";
                return result;
            }
            // The newest entries cut off at a line boundary leave a valid chain: the head the store recorded says how long it was.
            if (head != null
                && (log.Lines.Count < head.Entries
                || !string.Equals(Sha256Hex(log.Lines[head.Entries - 1]), head.LastHash, StringComparison.Ordinal)))
            {
                result.Valid = false;
                result.BrokenLine = Math.Min(log.Lines.Count, head.Entries) + 1;
                result.Reason = log.Lines.Count < head.Entries
                    ? $"the log has {log.Lines.Count} entries, but the store recorded " +
                        $"{head.Entries} (audit-head.json): the newest entries were cut off"
                    : $"entry {head.Entries} is not the one the store recorded as its newest (audit-head.json): the log was rewritten";
            }
            return result;
        }
    }

    /// <summary>Who runs the process, from the OS: never $USER, $USERNAME or Environment.UserName, which the caller sets.</summary>
    internal static class AuditUser
    {
        /// <summary>Asked every time (not cached): the effective user can change within a process.</summary>
        public static string Current
        {
            get
            {
                if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return WindowsIdentity.GetCurrent().Name; // DOMAIN\user
                return UnixNative.EffectiveUserName();
            }
        }
    }
}
