using System;
using System.Collections.Generic;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The record of a key roll in progress (roll-journal.json in the host store). With it, a roll that was
    /// interrupted at any point is completed or reverted by the next run: until the host switches, every
    /// module accepts the old keys; from the switch on, every module accepts the new ones.
    /// </summary>
    public sealed class RollJournal
    {
        public const string DocumentName = "roll-journal.json";

        public string Id { get; set; } = Guid.NewGuid().ToString("N");
        public DateTimeOffset StartedAt { get; set; } = DateTimeOffset.UtcNow;
        /// <summary>Roll (old keys known, removed at the end) or Restore (old keys lost, replaced wholesale).</summary>
        public string Kind { get; set; } = RollKinds.Roll;
        public RollPhase Phase { get; set; }
        public List<string> Services { get; set; } = new List<string>();
        /// <summary>Fingerprints of the keys being replaced, per service (empty for a restore).</summary>
        public Dictionary<string, string> OldFingerprints { get; set; } = new Dictionary<string, string>();
        public Dictionary<string, string> NewFingerprints { get; set; } = new Dictionary<string, string>();
        /// <summary>Every module the roll must reach, with how far each got.</summary>
        public Dictionary<string, ModuleRollState> Modules { get; set; } = new Dictionary<string, ModuleRollState>(StringComparer.Ordinal);
        /// <summary>
        /// Enrolled modules the administrator excluded (Update-HsmSshKey -ExcludeEsn): the roll switches without them, and
        /// the keys they still accept are archived on the host until they are brought up to date (<see cref="Store.ModuleRecord.OldKeys"/>).
        /// </summary>
        public List<string> Excluded { get; set; } = new List<string>();
    }

    public static class RollKinds
    {
        public const string Roll = "Roll";
        public const string Restore = "Restore";
    }

    public enum RollPhase
    {
        /// <summary>New keys staged on the host; being installed beside the old ones on every module.</summary>
        Installing,
        /// <summary>Every module accepts the new keys; the host is switching (promoting the staged keys).</summary>
        Switching,
        /// <summary>The host uses the new keys; the old ones are being removed from the modules.</summary>
        Cleaning,
    }

    public enum ModuleRollState { Pending, Installed, Cleaned }
}
