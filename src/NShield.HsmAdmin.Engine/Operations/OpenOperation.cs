using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// A key roll or restore that started and has not finished (its journal is open in the host store), told the way an
    /// operator needs it: what is left, and the exact command that finishes it (or reverts it, while that is still
    /// possible). Read-only: Get-HsmModule, Test-HsmConnection, Backup-HsmSshKey and a stopped command show it.
    /// </summary>
    internal sealed class OpenOperation
    {
        /// <summary>Roll or Restore.</summary>
        public string Kind { get; private set; } = "";
        public RollPhase Phase { get; private set; }
        public DateTimeOffset StartedAt { get; private set; }
        /// <summary>The services whose client keys it replaces.</summary>
        public IReadOnlyList<string> Services { get; private set; } = Array.Empty<string>();
        /// <summary>Modules a rerun still has to work on, sorted.</summary>
        public IReadOnlyList<string> PendingModules { get; private set; } = Array.Empty<string>();
        public string JournalPath { get; private set; } = "";
        /// <summary>The command that completes it.</summary>
        public string FinishCommand { get; private set; } = "";
        /// <summary>The command that abandons it; null once the host switched to the new keys (or for a restore).</summary>
        public string? RevertCommand { get; private set; }

        /// <summary>The open roll or restore of the store, or null.</summary>
        public static OpenOperation? Read(HostStore store)
        {
            var journal = store.ReadDocument<RollJournal>(RollJournal.DocumentName);
            if (journal == null) return null;
            var hostPath = Quote(store.Root);
            return new OpenOperation
            {
                Kind = journal.Kind,
                Phase = journal.Phase,
                StartedAt = journal.StartedAt,
                Services = journal.Services.ToList(),
                PendingModules = journal.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key)
                    .OrderBy(e => e, StringComparer.Ordinal).ToList(),
                JournalPath = store.DocumentPath(RollJournal.DocumentName),
                FinishCommand = $"Update-HsmSshKey -HostPath {hostPath}",
                RevertCommand = journal.Kind == RollKinds.Roll && journal.Phase == RollPhase.Installing
                    ? $"Update-HsmSshKey -HostPath {hostPath} -Revert" : null,
            };
        }

        /// <summary>Short form for a table column: "Roll (Installing)".</summary>
        public string Summary => $"{Kind} ({Phase})";

        /// <summary>One line: what was left and the command that finishes (or reverts) it.</summary>
        public string Describe() =>
            $"A key {Kind.ToLowerInvariant()} is open (phase {Phase}, started {StartedAt:u}" +
            (PendingModules.Count > 0 ? $", modules left: {string.Join(", ", PendingModules)}" : "") +
            $"). Finish it with: {FinishCommand}" + (RevertCommand != null ? $"  (or abandon it with: {RevertCommand})" : "");

        private static string Quote(string path) => "'" + path.Replace("'", "''") + "'";
    }
}
