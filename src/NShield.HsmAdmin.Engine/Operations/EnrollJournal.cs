using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The record of an Invoke-HsmEnroll run (enroll-journal.json in the host store), and the rule that keeps enroll and
    /// a key roll apart. An enroll run writes it before touching any module and, when it ends, keeps only the modules it
    /// left half enrolled (server keys pinned and keys possibly installed, but not on the host's list), so a roll never
    /// switches the host while such a module holds only the old keys. Enroll refuses while a roll journal is open.
    /// </summary>
    public sealed class EnrollJournal
    {
        public const string DocumentName = "enroll-journal.json";

        public string Id { get; set; } = Guid.NewGuid().ToString("N");
        public DateTimeOffset StartedAt { get; set; } = DateTimeOffset.UtcNow;
        /// <summary>The modules this run (or an interrupted earlier one) set out to enroll.</summary>
        public List<string> Modules { get; set; } = new List<string>();

        /// <summary>Enroll refuses to run while a key roll or restore is open: the modules it enrolls would get keys the roll then removes.</summary>
        public static void EnsureNoOpenRoll(HsmHost host, string? refused = null)
        {
            var roll = host.Store.ReadDocument<RollJournal>(RollJournal.DocumentName);
            if (roll == null) return;
            var pending = roll.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key).ToList();
            throw new HsmException(HsmErrorIds.RollInProgress, HsmErrorKind.InvalidOperation,
                $"A key {roll.Kind.ToLowerInvariant()} started on {roll.StartedAt:u} is not " +
                $"finished ({host.Store.DocumentPath(RollJournal.DocumentName)}, " +
                $"phase {roll.Phase}{(pending.Count > 0 ? ", modules " + string.Join(", ", pending) : "")}). " +
                (refused ?? "Enrolling now would give modules keys the roll then removes, so nothing was enrolled.") +
                " Finish it first with Update-HsmSshKey (or abandon it with Update-HsmSshKey -Revert before the host " +
                $"switched), then run {(refused == null ? "Invoke-HsmEnroll" : "the command")} again.",
                host.Store.DocumentPath(RollJournal.DocumentName));
        }

        /// <summary>Opens (or joins an interrupted) enroll journal for the modules about to be enrolled.</summary>
        public static void Begin(HsmHost host, IEnumerable<ModuleAddress> modules)
        {
            EnsureNoOpenRoll(host);
            var journal = host.Store.ReadDocument<EnrollJournal>(DocumentName) ?? new EnrollJournal();
            foreach (var esn in modules.Select(m => m.Esn))
                if (!journal.Modules.Contains(esn, StringComparer.OrdinalIgnoreCase)) journal.Modules.Add(esn);
            host.Store.WriteDocument(DocumentName, journal);
            CrashPoints.Reach("enroll.journaled");
        }

        /// <summary>Closes the journal, keeping the modules the run left half enrolled (a later roll refuses until they are finished).</summary>
        public static IReadOnlyList<string> End(HsmHost host)
        {
            var journal = host.Store.ReadDocument<EnrollJournal>(DocumentName);
            if (journal == null) return Array.Empty<string>();
            var open = HalfEnrolled(host, journal);
            if (open.Count == 0) host.Store.DeleteDocument(DocumentName);
            else
            {
                journal.Modules = open.ToList();
                host.Store.WriteDocument(DocumentName, journal);
            }
            return open;
        }

        /// <summary>A roll or restore refuses while an enroll left modules half enrolled.</summary>
        public static void EnsureNoOpenEnroll(HsmHost host)
        {
            var journal = host.Store.ReadDocument<EnrollJournal>(DocumentName);
            if (journal == null) return;
            var open = HalfEnrolled(host, journal);
            if (open.Count == 0) return;
            throw new HsmException(HsmErrorIds.EnrollInProgress, HsmErrorKind.InvalidOperation,
                $"Invoke-HsmEnroll started on {journal.StartedAt:u} did not finish enrolling " +
                $"{string.Join(", ", open)} ({host.Store.DocumentPath(DocumentName)}): " +
                "their server keys are pinned but they are not yet on the host's list, so a key " +
                "change now could leave them with keys the host no longer has. " +
                $"Nothing was changed. Run Invoke-HsmEnroll -Esn {string.Join(",", open)} to " +
                "finish; a module gone for good: Unregister-HsmModule it first.",
                host.Store.DocumentPath(DocumentName));
        }

        /// <summary>Journal modules that are still registered and have a pinned sshadmin key, but are not on the host's list.</summary>
        private static IReadOnlyList<string> HalfEnrolled(HsmHost host, EnrollJournal journal)
        {
            var registered = new HashSet<string>(host.Attached().Select(m => m.Esn), StringComparer.OrdinalIgnoreCase);
            return journal.Modules.Where(esn => registered.Contains(esn)
                                                && host.Store.GetPin(esn, ModuleServices.SshAdmin) != null
                                                && host.Store.GetModule(esn) == null).ToList();
        }
    }
}
