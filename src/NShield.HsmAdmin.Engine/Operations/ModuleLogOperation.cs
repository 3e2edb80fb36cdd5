using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>One command a module served, from its log (Get-HsmLog; the vendor's hsmadmin logs).</summary>
    public sealed class HsmLogEntry
    {
        public string Esn { get; set; } = "";
        /// <summary>When the module served the command (UTC, by the module's clock).</summary>
        public DateTimeOffset Time { get; set; }
        public string Service { get; set; } = "";
        public string Verb { get; set; } = "";
        /// <summary>SHA256 fingerprint of the client key that authenticated the command.</summary>
        public string KeyFingerprint { get; set; } = "";
        /// <summary>"ok", "dropped", or the module's error code (E_...).</summary>
        public string Outcome { get; set; } = "";
        /// <summary>The module's number for the entry (what -Clear clears by); null when the module numbers none.</summary>
        public long? Sequence { get; set; }
        /// <summary>The entry's signature verifies under the module's log key, which chains to a trusted vendor root.</summary>
        public bool Verified { get; set; }
        /// <summary>
        /// Verified, Tampered (the signature does not cover the entry), Unsigned, or KeyNotTrusted (the log key does not chain
        /// to a trusted root).
        /// </summary>
        public string Status { get; set; } = "";
        public string HostPath { get; set; } = "";
        public override string ToString() => $"{Esn} {Time:u} {Service} {Verb} {Outcome}";
    }

    /// <summary>
    /// Reads a module's command log over its monitor channel (pinned server key, the host's monitor key). The module
    /// filters by since/tail; the reply is still checked: its shape, at most as many entries as asked for, printable
    /// bounded text, and the filter applied again, so a module cannot hand the user more than was asked.
    /// </summary>
    internal sealed class ModuleLogOperation
    {
        private readonly HsmHost _host;

        public ModuleLogOperation(HsmHost host) { _host = host; }

        /// <summary>Most entries one log read returns (the module's own bound, and the largest -Tail).</summary>
        public const int MaxEntries = GetLogRequest.MaxTail;

        /// <summary>The cmdlet validates -Tail; this guards other callers.</summary>
        public static void ValidateTail(int? tail)
        {
            if (tail is int t && (t < 1 || t > MaxEntries))
                throw new ArgumentOutOfRangeException(nameof(tail), t, $"tail must be from 1 to {MaxEntries}");
        }

        public async Task<IReadOnlyList<HsmLogEntry>> ReadAsync(ModuleAddress module, DateTimeOffset? since, int? tail,
            CancellationToken ct)
        {
            ValidateTail(tail);
            IReadOnlyList<ModuleLogRecord> records;
            using (var monitor = await _host.OpenPinnedAsync(module, ModuleServices.Monitor, ct).ConfigureAwait(false))
                records = await monitor.GetLogsAsync(since?.ToUniversalTime(), tail, ct).ConfigureAwait(false);
            var signer = records.Select(r => r.Signer).FirstOrDefault(x => x != null);
            var verification = signer == null ? ModuleLogVerification.Untrusted("the module names no log key")
                : ModuleLogVerification.For(_host.Store, module.Esn, signer);
            return Filter(module.Esn, records, since, tail, _host.Path, verification);
        }

        /// <summary>Get-HsmLog: every selected module's log in parallel, sorted by module then time; a failing module is reported.</summary>
        public async Task<IReadOnlyList<HsmLogEntry>> ReadAllAsync(IReadOnlyList<ModuleAddress> modules, DateTimeOffset? since,
            int? tail, int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var entries = await FleetExecutor.CollectAsync(modules, m => m.Esn,
                async (m, c) => (IEnumerable<HsmLogEntry>)await ReadAsync(m, since, tail, c).ConfigureAwait(false),
                throttleLimit, "Reading module logs", reporter, ct).ConfigureAwait(false);
            // Said once per module, so one Tampered row among hundreds is not missed (shown, never dropped).
            foreach (var bad in entries.Where(e => !e.Verified).GroupBy(e => e.Esn))
                reporter.Warning((bad.Count() == 1 ? $"1 log entry of module {bad.Key} is" : $"{bad.Count()} log entries of module {bad.Key} are") +
                    $" not verified ({string.Join(", ", bad.Select(e => e.Status).Distinct())}); each is shown with its Status, never dropped.");
            return entries.OrderBy(e => e.Esn, StringComparer.Ordinal).ThenBy(e => e.Time).ToList();
        }

        /// <summary>
        /// What the user sees of a module's log, whatever adapter read it: at most as many entries as asked for
        /// (ProtocolError otherwise), none before <paramref name="since"/>, printable bounded text, oldest first.
        /// </summary>
        internal static IReadOnlyList<HsmLogEntry> Filter(string esn, IReadOnlyList<ModuleLogRecord> records, DateTimeOffset? since,
            int? tail, string hostPath, ModuleLogVerification? verification = null)
        {
            int cap = tail ?? MaxEntries;
            if (records.Count > cap)
                throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {esn} sent a log of {records.Count} entries, more than the {cap} asked for.", esn);
            var entries = new List<HsmLogEntry>(records.Count);
            foreach (var e in records)
            {
                if (since is DateTimeOffset s && e.Time < s) continue;
                entries.Add(new HsmLogEntry
                {
                    Esn = esn,
                    Time = e.Time.ToUniversalTime(),
                    Service = ModuleErrors.Printable(e.Service, 20),
                    Verb = ModuleErrors.Printable(e.Command, 40),
                    KeyFingerprint = ModuleErrors.Printable(e.KeyFingerprint, 80),
                    Outcome = ModuleErrors.Printable(e.Outcome, 40),
                    Sequence = e.Sequence,
                    // Checked on the module's own bytes, before anything is bounded for display; never dropped when it fails.
                    Status = (verification ?? ModuleLogVerification.Untrusted("no log key was read")).Check(esn, e),
                    HostPath = hostPath,
                });
                entries[entries.Count - 1].Verified = entries[entries.Count - 1].Status == ModuleLogVerification.Verified;
            }
            return entries.OrderBy(e => e.Time).ToList();
        }
    }
}
