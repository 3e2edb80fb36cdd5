using System.Collections.Generic;
using System.Security;
using System.Threading;

namespace NShield.HsmAdmin.Operations
{
    sealed partial class RestoreOperation
    {
        /// <summary>
        /// The backup to restore: the share set when one was given (split custody, issue 22: any K of a Backup-HsmSshKey -Shares
        /// split; <paramref name="backupPath"/> then only names them in messages), else the backup file.
        /// </summary>
        private KeyBackup.Opened OpenBackup(string backupPath, IReadOnlyList<string>? sharePaths, SecureString? backupPassphrase,
            CancellationToken ct) =>
            sharePaths != null && sharePaths.Count > 0
                ? KeyShares.Read(sharePaths, backupPassphrase, ct)
                : KeyBackup.Read(_host.Store, backupPath, backupPassphrase, _host.KeyPassphrase, ct);
    }
}
