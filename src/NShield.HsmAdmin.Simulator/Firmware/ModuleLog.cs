using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The module's log of the commands it served (the logs verb): bounded to the newest <see cref="ModuleState.LogCapacity"/>
    /// entries, kept in &lt;moduleDir&gt;/log.json, rewritten atomically (not durably) under the module lock.
    /// </summary>
    internal static class ModuleLog
    {
        /// <summary>The outcome logged for a command whose connection a simulated fault dropped (no reply was sent).</summary>
        public const string DroppedOutcome = "dropped";

        /// <summary>Appends one entry; a module without state (or any failure) records nothing and never fails the command.</summary>
        public static void TryRecord(FirmwareRequest req, string outcome)
        {
            try
            {
                if (string.IsNullOrEmpty(req.ModuleDir)) return;
                var l = new ModuleLayout(req.ModuleDir);
                if (!File.Exists(l.StateFile)) return;
                using (ModuleFirmware.ModuleLock(l))
                {
                    var capacity = Math.Max(1, ModuleFirmware.ReadState(l).LogCapacity);
                    var entries = Read(l);
                    entries.Add(new LogRecord
                    {
                        Time = DateTimeOffset.UtcNow,
                        Service = Bounded(req.Service, 20),
                        Verb = Bounded((req.Verb ?? "").Trim(), 40),
                        KeyFingerprint = Bounded(req.KeyFingerprint, 80),
                        Outcome = outcome,
                    });
                    if (entries.Count > capacity) entries.RemoveRange(0, entries.Count - capacity);
                    var json = JsonSerializer.Serialize(new LogsResult { Entries = entries }, FirmwareJson.Default.LogsResult);
                    Replace(l.LogFile, json + "\n");
                }
            }
            catch (Exception) { /* the log is diagnostics: it never changes a command's outcome */ }
        }

        /// <summary>Entries at or after Since, then the last Tail of them, at most the protocol's cap. Caller holds the lock.</summary>
        public static List<LogRecord> Query(ModuleLayout l, LogsRequest request)
        {
            if (request.Tail is int t && (t < 1 || t > FirmwareProtocol.MaxLogEntries))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"tail must be an integer from 1 to {FirmwareProtocol.MaxLogEntries}");
            IEnumerable<LogRecord> entries = Read(l);
            if (request.Since is DateTimeOffset since) entries = entries.Where(e => e.Time >= since);
            var list = entries.ToList();
            var take = Math.Min(request.Tail ?? FirmwareProtocol.MaxLogEntries, FirmwareProtocol.MaxLogEntries);
            return list.Count > take ? list.GetRange(list.Count - take, take) : list;
        }

        private static List<LogRecord> Read(ModuleLayout l)
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(l.LogFile); }
            catch (FileNotFoundException) { return new List<LogRecord>(); }
            try { return JsonSerializer.Deserialize(bytes, FirmwareJson.Default.LogsResult)?.Entries ?? new List<LogRecord>(); }
            catch (JsonException) { return new List<LogRecord>(); } // a damaged log starts over rather than stopping the module
        }

        // Atomic but not durable (no fsync): the log is diagnostics rewritten on every command.
        private static void Replace(string path, string text) => SecureFiles.WriteAtomic(path, text, FileAccessScope.Public, durable: false);

        private static string Bounded(string? text, int max) =>
            string.IsNullOrEmpty(text) ? "" : text!.Length <= max ? text : text.Substring(0, max);
    }
}
