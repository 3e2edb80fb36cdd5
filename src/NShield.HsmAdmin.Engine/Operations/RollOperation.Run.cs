using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Operations
{
    sealed partial class RollOperation
    {
        /// <summary>
        /// Update-HsmSshKey: reverts, completes an interrupted roll, or plans, checks and begins a new one, then runs it.
        /// Null when there was nothing to do or the change was declined (ShouldProcess).
        /// </summary>
        public Task<HsmKeyRollResult?> UpdateAsync(UpdateSshKeyRequest request, IOperationReporter reporter, CancellationToken ct) =>
            UpdateAsync(request, Interrupted, reporter, ct);

        /// <summary>As <see cref="UpdateAsync(UpdateSshKeyRequest, IOperationReporter, CancellationToken)"/>, with the roll journal the
        /// command read (under the store lock) once.</summary>
        public async Task<HsmKeyRollResult?> UpdateAsync(UpdateSshKeyRequest request, RollJournal? journal, IOperationReporter reporter,
            CancellationToken ct)
        {
            var services = request.CanonicalServices();
            if (request.Revert)
            {
                if (journal == null)
                {
                    reporter.Warning("No key roll is in progress; nothing to revert.");
                    return null;
                }
                if (!reporter.ShouldProcess(_host.Path, "Revert the interrupted key roll")) return null;
                return await RunAsync(journal, revert: true, request.ThrottleLimit, reporter, ct).ConfigureAwait(false);
            }
            if (journal != null)
            {
                reporter.Warning($"Completing the key roll interrupted on {journal.StartedAt:u} ({string.Join(", ", journal.Services)}). " +
                    "Run Update-HsmSshKey again afterwards for a new roll.");
                var without = request.ExcludeEsns != null ? $" without {string.Join(", ", request.ExcludeEsns)}" : "";
                if (!reporter.ShouldProcess(_host.Path, "Complete the interrupted key roll" + without)) return null;
                if (request.ExcludeEsns != null)
                    foreach (var esn in Exclude(journal, request.ExcludeEsns))
                        reporter.Verbose($"Module {esn} is excluded from the roll.");
            }
            else
            {
                if (!_host.HasClientKeys)
                    throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                        $"This host ({_host.Path}) has no client keys to roll: enroll its modules first (Register-HsmModule, then " +
                        "Invoke-HsmEnroll), or check -HostPath.", _host.Path);
                // Every enrolled module on the host's list, reachable or not, except those explicitly excluded.
                var plan = Plan(request.ExcludeEsns);
                var excluding = plan.Excluded.Count > 0 ? $", excluding {string.Join(", ", plan.Excluded)}" : "";
                var what = $"Roll the client keys for {string.Join(", ", services)} on {plan.Included.Count} module(s){excluding}";
                if (!reporter.ShouldProcess(_host.Path, what)) return null;
                // Firmware 13.5+ refuses key changes while a module's clock is invalid: refuse before anything is staged
                // (modules that cannot be reached now are checked again when their keys are installed).
                var reachable = _host.Attached().Where(m => plan.Included.Contains(m.Esn.Value, StringComparer.Ordinal)).ToList();
                await ModuleClock.RequireValidAsync(_host, reachable, "the key roll", ct).ConfigureAwait(false);
                journal = Begin(services, plan.Included, RollKinds.Roll, plan.Excluded);
            }
            var result = await RunAsync(journal, revert: false, request.ThrottleLimit, reporter, ct).ConfigureAwait(false);
            if (result.HardserverRestartNeeded)
            {
                if (request.RestartHardserver)
                {
                    var hardserver = HardserverStatus.Restart(_host);
                    reporter.Verbose($"Restarted the hardserver ({hardserver.Description}).");
                    result.HardserverRestartNeeded = false;
                }
                else reporter.Warning("The ncoreapi client key changed. The hardserver still " +
                    "holds the old one and cannot reach the modules until it restarts: " +
                    "run Restart-HsmHardserver (or use -RestartHardserver next time).");
            }
            return result;
        }

        /// <summary>
        /// Drives a journaled roll (or restore) through its phases across the fleet: install everywhere, switch the host,
        /// clean up everywhere. This is where a roll decides to stop: before the switch, if any module lacks the new keys
        /// (Incomplete, RollIncomplete error), so no module is ever left without a key the host holds. A revert ends
        /// Reverted only when no module holds the new keys any more.
        /// </summary>
        public async Task<HsmKeyRollResult> RunAsync(RollJournal journal, bool revert, int throttleLimit, IOperationReporter reporter,
            CancellationToken ct)
        {
            _stop = ct;
            var attached = _host.Attached();
            foreach (var gone in ForgetDetached(journal, attached))
                reporter.Warning($"Module {gone} is no longer attached; the key restore goes on without it.");
            foreach (var joined in AdoptEnrolled(journal))
                reporter.Warning($"Module {joined} was enrolled after this key roll began; the roll now covers it too.");
            List<ModuleAddress> Modules() => attached.Where(m => journal.Modules.ContainsKey(m.Esn)).ToList();
            var result = new HsmKeyRollResult
            {
                Operation = journal.Kind,
                Services = journal.Services.ToArray(),
                NewFingerprints = journal.NewFingerprints,
                HostPath = _host.Path,
            };

            if (revert)
            {
                await FleetExecutor.RunAsync(Modules(), m => m.Esn, (m, c) => RevertAsync(journal, m, c), throttleLimit,
                    "Reverting key roll", reporter, ct).ConfigureAwait(false);
                if (journal.Modules.Values.All(v => v == ModuleRollState.Pending))
                {
                    FinishRevert(journal);
                    result.Status = RollStatus.Reverted;
                }
                else result.Status = RollStatus.Incomplete;
                return Summarize(result, journal);
            }

            if (journal.Phase == RollPhase.Installing)
            {
                var pendingModules = Modules().Where(m => journal.Modules[m.Esn] == ModuleRollState.Pending).ToList();
                await FleetExecutor.RunAsync(pendingModules, m => m.Esn, (m, c) => InstallAsync(journal, m, c), throttleLimit,
                    $"Installing new {string.Join(", ", journal.Services)} keys", reporter, ct).ConfigureAwait(false);
                if (journal.Modules.Values.Any(v => v == ModuleRollState.Pending))
                {
                    ReportNotInstalled(journal, attached, reporter);
                    result.Status = RollStatus.Incomplete;
                    return Summarize(result, journal);
                }
            }
            if (journal.Phase != RollPhase.Cleaning)
                Switch(journal);

            var toClean = Modules().Where(m => journal.Modules[m.Esn] != ModuleRollState.Cleaned).ToList();
            await FleetExecutor.RunAsync(toClean, m => m.Esn, (m, c) => CleanAsync(journal, m, c), throttleLimit,
                "Removing the old keys from the modules", reporter, ct).ConfigureAwait(false);
            if (TryFinish(journal))
            {
                result.Status = RollStatus.Completed;
                if (journal.Excluded.Count > 0)
                    reporter.Warning($"Excluded from the roll: {string.Join(", ", journal.Excluded.OrderBy(e => e))}. " +
                        "They still accept only the old keys, which this host keeps " +
                        $"(archived, owner-only, in {_host.Store.ArchivedClientKeysDirectory}) until " +
                        "Invoke-HsmEnroll or Update-HsmSshKey reaches them and installs the new keys.");
            }
            else
            {
                reporter.Warning("The host now uses the new keys and every module accepts them, but the old keys could not yet be removed from " +
                    string.Join(", ", journal.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key)) +
                        ". Run the command again to remove them.");
                result.Status = RollStatus.Incomplete;
            }
            return Summarize(result, journal);
        }

        /// <summary>The stop before the switch: one error per enrolled module that is not registered, then RollIncomplete.</summary>
        private void ReportNotInstalled(RollJournal journal, IReadOnlyList<ModuleAddress> attached, IOperationReporter reporter)
        {
            var pending = journal.Modules.Where(m => m.Value == ModuleRollState.Pending).Select(m => m.Key).OrderBy(e => e).ToList();
            foreach (var absent in pending.Where(e => !attached.Any(a => a.Esn.Value == e)))
                reporter.Error(new HsmException(HsmErrorIds.EnrolledModuleAbsent, HsmErrorKind.ObjectNotFound,
                    $"Module {absent} is enrolled with this host but not registered (Unregister-HsmModule), " +
                    "so it cannot get the new keys and the host keeps its old ones. " +
                    "Register it again (Register-HsmModule) and rerun, or exclude it explicitly " +
                    $"(Update-HsmSshKey -ExcludeEsn {absent}): the host then keeps its old keys, " +
                    "archived, until Invoke-HsmEnroll or Update-HsmSshKey brings the module up to date.", absent));
            reporter.Error(new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                $"The new keys could not be installed on every module ({string.Join(", ", pending)}). " +
                "The host still uses its old keys, which every module accepts. Run the command again to complete the roll, " +
                (journal.Kind == RollKinds.Roll ? $"exclude the modules that stay unreachable (-ExcludeEsn {string.Join(",", pending)}), " : "") +
                "or Update-HsmSshKey -Revert to abandon it.",
                _host.Path));
        }

        private static HsmKeyRollResult Summarize(HsmKeyRollResult result, RollJournal journal)
        {
            // Each module in exactly one list: done (new keys only), or still to be worked on by a rerun.
            result.ModulesUpdated = journal.Modules.Where(m => m.Value == ModuleRollState.Cleaned).Select(m => m.Key).OrderBy(e => e).ToArray();
            result.ModulesPending = journal.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key).OrderBy(e => e).ToArray();
            result.ModulesExcluded = journal.Excluded.OrderBy(e => e).ToArray();
            result.HardserverRestartNeeded = journal.Services.Contains(ModuleServices.NCoreApi) && result.Status == RollStatus.Completed;
            return result;
        }
    }

    /// <summary>The Status of an HsmKeyRollResult.</summary>
    public static class RollStatus
    {
        /// <summary>The host uses the new keys and every module holds only them (or the revert finished).</summary>
        public const string Completed = "Completed";
        /// <summary>Stopped before the switch (a module lacks the new keys) or after it (old keys not yet removed): rerun.</summary>
        public const string Incomplete = "Incomplete";
        /// <summary>An interrupted roll was abandoned: the new keys are gone from every module and the host.</summary>
        public const string Reverted = "Reverted";
    }
}
