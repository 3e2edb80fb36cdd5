using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restore-HsmSshKey: the vendor's `hsmadmin keys restore`.</summary>
    [Cmdlet(VerbsData.Restore, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "File")]
    [OutputType(typeof(HsmKeyRollResult))]
    public sealed class RestoreHsmSshKeyCommand : HsmParallelCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = "File")]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>Split custody: any K share files of one Backup-HsmSshKey -Shares N -Threshold K split, instead of -Path.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Shares")]
        [ValidateNotNullOrEmpty]
        public string[] SharePath { get; set; } = new string[0];

        /// <summary>The passphrase of a portable backup.</summary>
        [Parameter]
        public SecureString? Passphrase { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys, if their protection includes P; also opens a verbatim backup of a key
        /// protected with P (the restored key keeps P under it). Prompted for in an interactive host when needed.
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>sshadmin server key fingerprints confirmed out of band: pin modules the host has no pins for when
        /// no vendor root is configured.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? AcceptFingerprint { get; set; }

        protected override void EndProcessing()
        {
            var shares = ParameterSetName == "Shares" ? SharePath.Select(ResolvePath).ToList() : null;
            var path = shares != null ? KeyShares.Describe(shares) : ResolvePath(Path);
            var store = Engine(() => Store.HostStore.Open(ResolvedHostPath));
            var backupNeedsP = KeyBackup.VerbatimProtection(path)?.NeedsPassphrase == true;
            using (var host = OpenHost(store,
                KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All, backupNeedsP ? "the verbatim backup" : null)))
            using (LockForChange(host.Store))
            {
                KeyPassphrases.Verify(this, host, ModuleServices.All);
                var restore = new RestoreOperation(host)
                {
                    AcceptedFingerprints = new HashSet<string>(AcceptFingerprint ?? new string[0]), SharePaths = shares,
                };
                var result = RunOperation((reporter, ct) => restore.RestoreAsync(path, Passphrase, ThrottleLimit, reporter, ct));
                if (result == null) return;
                WriteObject(result);
                if (result.Status == RollStatus.Completed) BackupReminder.Warn(this);
            }
        }
    }
}
