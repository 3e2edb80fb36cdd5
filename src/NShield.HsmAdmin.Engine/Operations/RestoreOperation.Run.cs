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
        /// Null when the change was declined (ShouldProcess). The request's key passphrase and host were resolved by the caller.
        /// </summary>
        public async Task<HsmKeyRollResult?> RestoreAsync(RestoreRequest request, IOperationReporter reporter, CancellationToken ct)
        {
            var backupPath = request.BackupDescription;
            var throttleLimit = request.ThrottleLimit;
            var accepted = new HashSet<string>(request.AcceptFingerprints, System.StringComparer.Ordinal);
            var roll = new RollOperation(_host, keepCurrentProtection: true);
            var interrupted = roll.Interrupted;
            if (interrupted != null)
            {
                reporter.Warning($"Completing the {interrupted.Kind.ToLowerInvariant()} interrupted on {interrupted.StartedAt:u} first.");
                if (!reporter.ShouldProcess(_host.Path, "Complete the interrupted key change")) return null;
                return await roll.RunAsync(interrupted, revert: false, throttleLimit, reporter, ct).ConfigureAwait(false);
            }
            // Nothing registered (a fresh host): said before the backup is opened or a passphrase asked for.
            var candidates = _host.Attached().Where(m => _host.Store.GetModule(m.Esn)?.Status != Store.ModuleStatus.Released).ToList();
            if (candidates.Count == 0)
                throw new HsmException(HsmErrorIds.NoModulesToRestore, HsmErrorKind.InvalidOperation,
                    $"The host store {_host.Path} has no registered modules, so the backup cannot be checked against any and nothing was changed. " +
                    "Register this host's modules first (Register-HsmModule -Esn <esn> -Address <address>), then run Restore-HsmSshKey again; " +
                    "or give -HostPath if the store is elsewhere.", _host.Path);
            using (var backup = OpenBackupAsking(backupPath, request.SharePaths, request.Passphrase, reporter, ct))
            {
                EnrollJournal.EnsureNoOpenEnroll(_host);
                var current = CurrentSshAdminKey(reporter.Warning);
                var checks = await FleetExecutor.CollectAsync(candidates, m => m.Esn,
                    async (m, c) => (IEnumerable<ModuleCheck>)new[] { await CheckAsync(m, backup.Key, current, accepted, c).ConfigureAwait(false) },
                    throttleLimit, "Checking the backup against the modules", reporter, ct).ConfigureAwait(false);
                // First contact: a person confirms the server keys of modules nothing else vouches for (as Invoke-HsmEnroll asks).
                var confirmedChecks = ConfirmFirstContact(checks, reporter);
                // The current key is kept unless every module that accepts it also accepts the backup.
                var accepting = Decide(confirmedChecks, current, backup.Key, backupPath);
                foreach (var refused in confirmedChecks.Where(c => !c.AcceptsBackup).OrderBy(c => c.Module.Esn))
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

        /// <summary>How many times a person may type a backup's passphrase before the restore stops with KeyWrongPassphrase.</summary>
        public const int PassphraseAttempts = 3;

        /// <summary>
        /// Opens the backup: with the passphrase given (-Passphrase), or, for a portable backup without one, with a passphrase
        /// asked of a person through the reporter (up to <see cref="PassphraseAttempts"/> tries). A passphrase that only opens
        /// the backup is never refused by the passphrase policy; a weak one gets a warning to make a new backup.
        /// </summary>
        private KeyBackup.Opened OpenBackupAsking(string path, IReadOnlyList<string>? sharePaths, SecureString? given, IOperationReporter reporter,
            CancellationToken ct)
        {
            if (given != null) return WarnIfWeak(OpenBackup(path, sharePaths, given, ct), given, reporter);
            try { return OpenBackup(path, sharePaths, null, ct); }
            catch (HsmException required) when (required.ErrorId == HsmErrorIds.KeyPassphraseRequired && KeyBackup.VerbatimProtection(path) == null)
            {
                for (int attempt = 1; ; attempt++)
                {
                    var typed = reporter.AskSecret(new SecretQuestion("Backup passphrase",
                        $"'{path}' is a portable backup protected with a passphrase. Type its passphrase to restore the sshadmin key from it.",
                        "Passphrase", "Passphrase"));
                    if (typed == null || typed.Length == 0)
                        throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                            $"'{path}' is a passphrase-protected backup and " +
                            (typed == null ? "this session cannot ask for its passphrase: " : "no passphrase was typed: ") +
                            "give it with -Passphrase (a SecureString). Nothing was changed.", path, required);
                    using (typed)
                    {
                        try { return WarnIfWeak(OpenBackup(path, sharePaths, typed, ct), typed, reporter); }
                        catch (HsmException wrong) when (wrong.ErrorId == HsmErrorIds.KeyWrongPassphrase && attempt < PassphraseAttempts)
                        {
                            reporter.Warning($"That passphrase does not open '{path}'. Try again ({PassphraseAttempts - attempt} more).");
                        }
                    }
                }
            }
        }

        private static KeyBackup.Opened WarnIfWeak(KeyBackup.Opened opened, SecureString passphrase, IOperationReporter reporter)
        {
            if (opened.Portable && Protection.PassphrasePolicy.IsWeak(passphrase))
                reporter.Warning($"This backup's passphrase is weaker than new passphrases may be ({Protection.PassphrasePolicy.Rule}). " +
                    "After the restore, make a new backup with Backup-HsmSshKey and destroy this one.");
            return opened;
        }
    }
}
