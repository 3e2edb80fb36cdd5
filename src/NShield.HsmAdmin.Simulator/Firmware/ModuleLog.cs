using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Trust;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The module's log of the commands it served (the logs verb), as the vendor's signed system logs (firmware 13.5+):
    /// every entry numbered and signed with the module's log key (certified by its identity key; a factory reset makes a new
    /// one). The log keeps every entry until the host clears what it read (logs.clear). Past its safe working capacity
    /// (<see cref="ModuleState.LogCapacity"/>) key changes and firmware are refused (E_LOG_FULL); past twice that (the
    /// critical capacity) the oldest entries are lost. Kept in &lt;moduleDir&gt;/log.json, rewritten atomically (not durably)
    /// under the module lock.
    /// Entries are signed in batches, not one per command: each firmware command is its own process, and one Ed25519
    /// signature costs it about 4 ms of set-up, a third of a simulated command (measured, issue 20). Written entries are
    /// signed before a logs read, the tamper fault or a new log key, and whenever <see cref="SignBatch"/> are waiting; each
    /// signing moves the file's signedThrough mark, and an entry at or below it is never signed again (one whose signature
    /// was removed stays Unsigned). What the host reads is the same: every entry signed by the log key in force when it was
    /// written.
    /// </summary>
    internal static class ModuleLog
    {
        /// <summary>The outcome logged for a command whose connection a simulated fault dropped (no reply was sent).</summary>
        public const string DroppedOutcome = "dropped";

        /// <summary>A new module's safe working capacity, in entries; the simulator's -LogCapacity sets 1 to <see cref="MaxCapacity"/>.</summary>
        public const int DefaultCapacity = 10_000, MaxCapacity = 100_000;

        /// <summary>Written entries that wait for their signature at most (a batch costs one key set-up).</summary>
        public const int SignBatch = 256;

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
                    var s = ModuleFirmware.ReadState(l);
                    var file = Read(l);
                    file.Entries.Add(new LogRecord
                    {
                        Time = DateTimeOffset.UtcNow,
                        Service = Bounded(req.Service, 20),
                        Verb = Bounded((req.Verb ?? "").Trim(), 40),
                        KeyFingerprint = Bounded(req.KeyFingerprint, 80),
                        Outcome = outcome,
                        Seq = file.NextSeq++,
                    }); // signed in a batch (see the class comment)
                    if (file.NextSeq - 1 - file.SignedThrough >= SignBatch) SignPending(l, s.Esn, file);
                    // Critical capacity: the oldest entries are lost (as a real module's log store would overflow).
                    var critical = 2L * Math.Max(1, s.LogCapacity);
                    if (file.Entries.Count > critical)
                    {
                        var excess = (int)(file.Entries.Count - critical);
                        file.Entries.RemoveRange(0, excess);
                        file.Lost += excess;
                    }
                    Write(l, file);
                }
            }
            catch (Exception) { /* the log is diagnostics: it never changes a command's outcome */ }
        }

        /// <summary>
        /// Signs the entries written since the signedThrough mark with the current log key (none: they stay unsigned) and moves
        /// the mark; whether anything changed (the caller saves). Never throws: a failure leaves them for the next signing.
        /// </summary>
        private static bool SignPending(ModuleLayout l, string esn, ModuleLogFile file)
        {
            var pending = file.Entries.Where(e => (e.Seq ?? 0) > file.SignedThrough).ToList();
            if (pending.Count == 0) return false;
            try
            {
                if (File.Exists(l.LogKey))
                {
                    using var key = OpenSshPrivateKey.Decode(File.ReadAllText(l.LogKey), null);
                    foreach (var e in pending.Where(e => e.Signature == null))
                        e.Signature = Convert.ToBase64String(key.Sign(ModuleLogSigning.ToBeSigned(esn, e.Seq ?? 0, e.Time, e.Service ?? "",
                            e.Verb ?? "", e.KeyFingerprint ?? "", e.Outcome ?? "")));
                }
            }
            catch (Exception) { return false; } // the log is diagnostics: never a command's outcome
            file.SignedThrough = pending.Max(e => e.Seq ?? 0);
            return true;
        }

        private static ModuleLogFile SignedNow(ModuleLayout l, string esn)
        {
            var file = Read(l);
            if (SignPending(l, esn, file)) Write(l, file);
            return file;
        }

        /// <summary>Entries at or after Since, then the last Tail of them, at most the protocol's cap. Caller holds the lock.</summary>
        public static List<LogRecord> Query(ModuleLayout l, string esn, LogsRequest request)
        {
            if (request.Tail is int t && (t < 1 || t > FirmwareProtocol.MaxLogEntries))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"tail must be an integer from 1 to {FirmwareProtocol.MaxLogEntries}");
            IEnumerable<LogRecord> entries = SignedNow(l, esn).Entries;
            if (request.Since is DateTimeOffset since) entries = entries.Where(e => e.Time >= since);
            var list = entries.ToList();
            var take = Math.Min(request.Tail ?? FirmwareProtocol.MaxLogEntries, FirmwareProtocol.MaxLogEntries);
            return list.Count > take ? list.GetRange(list.Count - take, take) : list;
        }

        /// <summary>How many entries the log holds. Caller holds the lock.</summary>
        public static int Count(ModuleLayout l) => Read(l).Entries.Count;

        /// <summary>logs.clear: removes the entries numbered from..through (both included), only those. Caller holds the lock.</summary>
        public static void PrepareClear(ModuleLayout l, LogsClearRequest body, out Action commit, out Func<string> result)
        {
            if (body.FromSeq is not long from || body.ThroughSeq is not long through || from < 0 || through < from)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'fromSeq' and 'throughSeq' (integers, fromSeq <= throughSeq) are required");
            var file = Read(l);
            var cleared = file.Entries.Count(e => e.Seq >= from && e.Seq <= through);
            commit = () =>
            {
                file.Entries.RemoveAll(e => e.Seq >= from && e.Seq <= through);
                Write(l, file);
            };
            result = () => ReplyWriter.Ok(new LogsClearResult { Cleared = cleared, Remaining = file.Entries.Count },
                FirmwareJson.Default.LogsClearResult);
        }

        /// <summary>Fault: the oldest entry's outcome changed after it was signed (what an attacker with the log store could do).</summary>
        public static long? Tamper(ModuleLayout l)
        {
            using (ModuleFirmware.ModuleLock(l))
            {
                var file = SignedNow(l, ModuleFirmware.ReadState(l).Esn);
                var e = file.Entries.FirstOrDefault();
                if (e == null) return null;
                e.Outcome = e.Outcome == LogOutcomes.Ok ? FirmwareErrorCodes.Fault : LogOutcomes.Ok;
                Write(l, file);
                return e.Seq;
            }
        }

        /// <summary>A new log key and its certificate by the identity key (at provisioning and at every factory reset).</summary>
        public static void NewLogKey(ModuleLayout l, string esn, SshKeyPair identity)
        {
            try { SignedNow(l, esn); } // what was written under the old key is signed by it
            catch (Exception) { /* the log never stops a reset */ }
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "log@" + esn);
            SecureFiles.WriteAtomic(l.LogKey, OpenSshPrivateKey.Encode(key, null), FileAccessScope.OwnerOnly);
            SecureFiles.WriteAtomic(l.LogKeyPub, key.PublicKey.ToAuthorizedKeysLine() + "\n", FileAccessScope.Public);
            SecureFiles.WriteAtomic(l.LogCertificate,
                TrustChain.MakeCertificate(identity, esn, ModuleLogSigning.CertificateService, key.PublicKey.Blob) + "\n", FileAccessScope.Public);
        }

        private static ModuleLogFile Read(ModuleLayout l)
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(l.LogFile); }
            catch (FileNotFoundException) { return new ModuleLogFile(); }
            try
            {
                var file = JsonSerializer.Deserialize(bytes, ModuleLogJson.Default.ModuleLogFile) ?? new ModuleLogFile();
                file.Entries ??= new List<LogRecord>();
                if (file.NextSeq <= 0) file.NextSeq = (file.Entries.Select(e => e.Seq ?? 0).DefaultIfEmpty(0).Max()) + 1;
                return file;
            }
            catch (JsonException) { return new ModuleLogFile(); } // a damaged log starts over rather than stopping the module
        }

        // Atomic but not durable (no fsync): the log is diagnostics rewritten on every command.
        private static void Write(ModuleLayout l, ModuleLogFile file) =>
            SecureFiles.WriteAtomic(l.LogFile, JsonSerializer.Serialize(file, ModuleLogJson.Default.ModuleLogFile) + "\n",
                FileAccessScope.Public, durable: false);

        private static string Bounded(string? text, int max) =>
            string.IsNullOrEmpty(text) ? "" : text!.Length <= max ? text : text.Substring(0, max);
    }

    /// <summary>log.json: the entries (oldest first), the next sequence number, and how many entries overflow lost.</summary>
    internal sealed class ModuleLogFile
    {
        public List<LogRecord> Entries { get; set; } = new List<LogRecord>();
        public long NextSeq { get; set; } = 1;
        public long Lost { get; set; }
        /// <summary>The highest entry number signing has dealt with: entries at or below it are never signed again.</summary>
        public long SignedThrough { get; set; }
    }

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonSerializable(typeof(ModuleLogFile))]
    internal sealed partial class ModuleLogJson : JsonSerializerContext
    {
    }
}
