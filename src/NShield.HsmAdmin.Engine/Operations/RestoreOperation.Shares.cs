using System.Collections.Generic;
using System.Security;
using System.Threading;

namespace NShield.HsmAdmin.Operations
{
    sealed partial class RestoreOperation
    {
        /// <summary>
        /// Split custody (issue 22): restore from these share files (any K of a Backup-HsmSshKey -Shares split) instead of a
        /// backup file; the backup path passed to RestoreAsync is then only how messages name the shares.
        /// </summary>
        public IReadOnlyList<string>? SharePaths { get; set; }

        /// <summary>The backup to restore: the share set when one was given, else the backup file.</summary>
        private KeyBackup.Opened OpenBackup(string backupPath, SecureString? backupPassphrase, CancellationToken ct) =>
            SharePaths != null && SharePaths.Count > 0
                ? KeyShares.Read(SharePaths, backupPassphrase, ct)
                : KeyBackup.Read(_host.Store, backupPath, backupPassphrase, _host.KeyPassphrase, ct);
    }
}
