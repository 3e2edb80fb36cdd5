using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Operations
{
    sealed partial class RestoreOperation
    {
        /// <summary>
        /// Restore-HsmSshKey, in the order that keeps every module reachable: complete an interrupted key change first;
        /// otherwise check the backup against every module (accept-check), decide, confirm, check the clocks, and only then
        /// replace the host's sshadmin key, open the restore journal and roll every other service's key through it.
        /// Null when the change was declined (ShouldProcess).
        /// </summary>
        public async Task<HsmKeyRollResult?> RestoreAsync(string backupPath, SecureString? backupPassphrase, int throttleLimit,
            IOperationReporter reporter, CancellationToken ct)
        {
            var roll = new RollOperation(_host) { KeepCurrentProtection = true };
            var interrupted = roll.Interrupted;
            if (interrupted != null)
            {
                reporter.Warning($"Completing the {interrupted.Kind.ToLowerInvariant()} interrupted on {interrupted.StartedAt:u} first.");
                if (!reporter.ShouldProcess(_host.Path, "Complete the interrupted key change")) return null;
                return await roll.RunAsync(interrupted, revert: false, throttleLimit, reporter, ct).ConfigureAwait(false);
            }
            using (var backup = OpenBackup(backupPath, backupPassphrase, ct))
            {
                EnrollJournal.EnsureNoOpenEnroll(_host);
                var current = CurrentSshAdminKey(reporter.Warning);
                var candidates = _host.Attached().Where(m => _host.Store.GetModule(m.Esn)?.Status != Store.ModuleStatus.Released).ToList();
                var checks = await FleetExecutor.CollectAsync(candidates, m => m.Esn,
                    async (m, c) => (IEnumerable<ModuleCheck>)new[] { await CheckAsync(m, backup.Key, current, c).ConfigureAwait(false) },
                    throttleLimit, "Checking the backup against the modules", reporter, ct).ConfigureAwait(false);
                // The current key is kept unless every module that accepts it also accepts the backup.
                var accepting = Decide(checks, current, backup.Key, backupPath);
                foreach (var refused in checks.Where(c => !c.AcceptsBackup).OrderBy(c => c.Module.Esn))
                    reporter.Error(new HsmException(HsmErrorIds.RestoreKeyNotAccepted, HsmErrorKind.AuthenticationError,
                        $"Module {refused.Module.Esn} does not accept the sshadmin key in '{backupPath}'; it is left as it is.", refused.Module.Esn));
                var what = $"Restore the sshadmin key from '{backupPath}' and create new keys for every other service on {accepting.Count} module(s)";
                if (!reporter.ShouldProcess(_host.Path, what)) return null;
                CommitPins(accepting);
                // Firmware 13.5+ refuses key changes while a module's clock is invalid: refuse before the host's key is replaced.
                await ModuleClock.RequireValidAsync(_host, accepting, "the restore", ct, backup.Key).ConfigureAwait(false);
                InstallSshAdminKey(backup);
                var journal = roll.Begin(ModuleServices.All.Where(s => s != ModuleServices.SshAdmin), accepting, RollKinds.Restore);
                var result = await roll.RunAsync(journal, revert: false, throttleLimit, reporter, ct).ConfigureAwait(false);
                if (result.HardserverRestartNeeded)
                    reporter.Warning("The ncoreapi client key is new: restart the hardserver (Restart-HsmHardserver) so it loads it.");
                return result;
            }
        }
    }
}
