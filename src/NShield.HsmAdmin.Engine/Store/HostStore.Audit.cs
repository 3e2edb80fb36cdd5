using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// audit.log: append-only JSON lines. Each entry is one write of one complete line, flushed to disk, under the store
    /// lock, so concurrent writers never interleave. A torn last line (power loss mid-append) is skipped when reading.
    /// </summary>
    public sealed partial class HostStore
    {
        public AuditEntry AppendAudit(AuditEntry entry)
        {
            if (string.IsNullOrWhiteSpace(entry.Operation))
                throw new ArgumentException("An audit entry needs an operation.", nameof(entry));
            if (entry.Time == default) entry.Time = DateTimeOffset.UtcNow;
            entry.Time = entry.Time.ToUniversalTime();
            entry.User ??= CurrentUser();
            var bytes = new UTF8Encoding(false).GetBytes(JsonSerializer.Serialize(entry, StoreJson.Compact) + "\n");
            return Write(() =>
            {
                EnsureRoot();
                using (var fs = new FileStream(AuditLogPath, FileMode.Append, FileAccess.Write, FileShare.Read))
                {
                    fs.Write(bytes, 0, bytes.Length);
                    fs.Flush(flushToDisk: true);
                }
                return entry;
            });
        }

        public IReadOnlyList<AuditEntry> ReadAudit()
        {
            string text;
            try { text = File.ReadAllText(AuditLogPath, Encoding.UTF8); }
            catch (FileNotFoundException) { return Array.Empty<AuditEntry>(); }
            catch (DirectoryNotFoundException) { return Array.Empty<AuditEntry>(); }
            var lines = text.Split('\n');
            var entries = new List<AuditEntry>();
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim().Length == 0) continue;
                bool torn = i == lines.Length - 1; // no newline after it: an append that did not finish
                try { entries.Add(JsonSerializer.Deserialize<AuditEntry>(lines[i], StoreJson.Compact)!); }
                catch (JsonException e) when (!torn)
                {
                    throw StoreJson.Corrupt(AuditLogPath, $"line {i + 1} is not an audit entry", e);
                }
                catch (JsonException) { }
            }
            return entries;
        }

        static string CurrentUser()
        {
            var domain = Environment.GetEnvironmentVariable("USERDOMAIN");
            return string.IsNullOrEmpty(domain) ? Environment.UserName : domain + "\\" + Environment.UserName;
        }
    }
}
