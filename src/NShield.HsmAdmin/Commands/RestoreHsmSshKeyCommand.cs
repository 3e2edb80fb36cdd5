using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restore-HsmSshKey: the vendor's `hsmadmin keys restore`.</summary>
    [Cmdlet(VerbsData.Restore, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmKeyRollResult))]
    public sealed class RestoreHsmSshKeyCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>The passphrase of a portable backup.</summary>
        [Parameter]
        public SecureString? Passphrase { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys, if their protection includes P; also opens a verbatim backup of a key
        /// protected with P (the restored key keeps P under it). Prompted for in an interactive host when needed.
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>sshadmin server key fingerprints confirmed out of band: pin modules the host has no pins for when no vendor root is configured.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? AcceptFingerprint { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void EndProcessing()
        {
            var path = ResolvePath(Path);
            var store = Engine(() => Store.HostStore.Open(ResolvedHostPath));
            var backupNeedsP = KeyBackup.VerbatimProtection(path)?.NeedsPassphrase == true;
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All, backupNeedsP ? "the verbatim backup" : null)))
            using (LockForChange(host.Store))
            {
                KeyPassphrases.Verify(this, host, ModuleServices.All);
                var roll = new RollOperation(host) { KeepCurrentProtection = true };
                var interrupted = Engine(() => roll.Interrupted);
                if (interrupted != null)
                {
                    WriteWarning($"Completing the {interrupted.Kind.ToLowerInvariant()} interrupted on {interrupted.StartedAt:u} first.");
                    if (ShouldProcess(host.Path, "Complete the interrupted key change"))
                    {
                        var completed = RollRunner.Run(this, host, roll, interrupted, ThrottleLimit, revert: false, Cancellation);
                        WriteObject(completed);
                        if (completed.Status == "Completed") BackupReminder.Warn(this);
                    }
                    return;
                }
                using (var backup = Engine(() => KeyBackup.Read(host.Store, path, Passphrase, host.KeyPassphrase, Cancellation)))
                {
                    var restore = new RestoreOperation(host) { AcceptedFingerprints = new HashSet<string>(AcceptFingerprint ?? new string[0]) };
                    Engine(() => EnrollJournal.EnsureNoOpenEnroll(host));
                    var current = Engine(() => restore.CurrentSshAdminKey(WriteWarning));
                    var candidates = Engine(() => host.Attached().Where(m => host.Store.GetModule(m.Esn)?.Status != Store.ModuleStatus.Released).ToList());
                    var checks = new List<RestoreOperation.ModuleCheck>();
                    var fleet = new FleetRunner(this);
                    fleet.Run(candidates, m => m.Esn, async (m, ct) =>
                    {
                        var check = await restore.CheckAsync(m, backup.Key, current, ct).ConfigureAwait(false);
                        lock (checks) checks.Add(check);
                    }, ThrottleLimit, "Checking the backup against the modules", Cancellation);
                    // The current key is kept unless every module that accepts it also accepts the backup.
                    var accepting = Engine(() => restore.Decide(checks, current, backup.Key, path));
                    foreach (var refused in checks.Where(c => !c.AcceptsBackup).OrderBy(c => c.Module.Esn))
                        Report(new HsmException(HsmErrorIds.RestoreKeyNotAccepted, HsmErrorKind.AuthenticationError,
                            $"Module {refused.Module.Esn} does not accept the sshadmin key in '{path}'; it is left as it is.", refused.Module.Esn));
                    if (!ShouldProcess(host.Path, $"Restore the sshadmin key from '{path}' and create new keys for every other service on {accepting.Count} module(s)")) return;
                    // Firmware 13.5+ refuses key changes while a module's clock is invalid: refuse before the host's key is replaced.
                    Engine(() => ModuleClock.RequireValidAsync(host, accepting, "the restore", Cancellation, backup.Key).GetAwaiter().GetResult());
                    Engine(() => restore.InstallSshAdminKey(backup));
                    var journal = Engine(() => roll.Begin(ModuleServices.All.Where(s => s != ModuleServices.SshAdmin), accepting, RollKinds.Restore));
                    var result = RollRunner.Run(this, host, roll, journal, ThrottleLimit, revert: false, Cancellation);
                    if (result.HardserverRestartNeeded)
                        WriteWarning("The ncoreapi client key is new: restart the hardserver (Restart-HsmHardserver) so it loads it.");
                    WriteObject(result);
                    if (result.Status == "Completed") BackupReminder.Warn(this);
                }
            }
        }
    }
}
