namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// A request of a command that installs or changes the host's client keys (Invoke-HsmEnroll, Update-HsmSshKey,
    /// Restore-HsmSshKey): after a change the engine reminds the person to back up the sshadmin key
    /// (<see cref="KeyBackupReminder"/>), unless the same pipeline does so next.
    /// </summary>
    public interface IKeyChangeRequest
    {
        /// <summary>-WhatIf: nothing is written, and no store lock is taken.</summary>
        bool WhatIf { get; }
        /// <summary>The same pipeline backs the sshadmin key up next, so the backup reminder is not needed.</summary>
        bool BackupFollows { get; }
    }

    /// <summary>The vendor's advice after client keys changed: back up the sshadmin key.</summary>
    public static class KeyBackupReminder
    {
        public const string Text = "SSH client keys were installed or changed on this host: back up the sshadmin key now, " +
            "as the vendor recommends (Backup-HsmSshKey -Path <file>; portable, asks for a passphrase). A backup made before this " +
            "change may no longer match what the modules hold.";

        /// <summary>Warns with <see cref="Text"/> when keys <paramref name="changed"/> and the pipeline does not back up next.</summary>
        internal static void WarnIfChanged(IKeyChangeRequest request, bool changed, IOperationReporter reporter)
        {
            if (changed && !request.BackupFollows) reporter.Warning(Text);
        }
    }
}
