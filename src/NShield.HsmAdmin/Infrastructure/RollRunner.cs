using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Drives a journaled roll (Update-HsmSshKey, and the second half of Restore-HsmSshKey) through its
    /// phases across the fleet: install everywhere, switch the host, clean up everywhere. Stops before
    /// the switch if any module lacks the new keys, so no module is ever left without a key the host holds.
    /// </summary>
    internal static class RollRunner
    {
        public static HsmKeyRollResult Run(HsmCmdlet cmdlet, HsmHost host, RollOperation roll, RollJournal journal,
            int throttleLimit, bool revert, CancellationToken ct)
        {
            var fleet = new FleetRunner(cmdlet);
            var attached = host.Attached();
            foreach (var gone in roll.ForgetDetached(journal, attached))
                cmdlet.WriteWarning($"Module {gone} is no longer attached; the key restore goes on without it.");
            foreach (var joined in roll.AdoptEnrolled(journal))
                cmdlet.WriteWarning($"Module {joined} was enrolled after this key roll began; the roll now covers it too.");
            List<Drivers.ModuleAddress> Modules() => attached.Where(m => journal.Modules.ContainsKey(m.Esn)).ToList();
            var result = new HsmKeyRollResult
            {
                Operation = journal.Kind, Services = journal.Services.ToArray(), NewFingerprints = journal.NewFingerprints, HostPath = host.Path,
            };

            if (revert)
            {
                fleet.Run(Modules(), m => m.Esn, (m, c) => roll.RevertAsync(journal, m, c), throttleLimit, "Reverting key roll", ct);
                if (journal.Modules.Values.All(v => v == ModuleRollState.Pending))
                {
                    roll.FinishRevert(journal);
                    result.Status = "Reverted";
                }
                else result.Status = "Incomplete";
                return Finish(result, journal);
            }

            if (journal.Phase == RollPhase.Installing)
            {
                fleet.Run(Modules().Where(m => journal.Modules[m.Esn] == ModuleRollState.Pending).ToList(), m => m.Esn,
                    (m, c) => roll.InstallAsync(journal, m, c), throttleLimit, $"Installing new {string.Join(", ", journal.Services)} keys", ct);
                if (journal.Modules.Values.Any(v => v == ModuleRollState.Pending))
                {
                    var pending = journal.Modules.Where(m => m.Value == ModuleRollState.Pending).Select(m => m.Key).OrderBy(e => e).ToList();
                    foreach (var absent in pending.Where(e => !attached.Any(a => string.Equals(a.Esn, e, System.StringComparison.OrdinalIgnoreCase))))
                        cmdlet.WriteError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.EnrolledModuleAbsent, HsmErrorKind.ObjectNotFound,
                            $"Module {absent} is enrolled with this host but not registered (Unregister-HsmModule), so it cannot get the new keys and the host keeps its old ones. " +
                            $"Register it again (Register-HsmModule) and rerun, or exclude it explicitly (Update-HsmSshKey -ExcludeEsn {absent}): the host then keeps its old keys, " +
                            "archived, until Invoke-HsmEnroll or Update-HsmSshKey brings the module up to date.", absent)));
                    cmdlet.WriteError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.RollIncomplete, HsmErrorKind.InvalidOperation,
                        $"The new keys could not be installed on every module ({string.Join(", ", pending)}). " +
                        "The host still uses its old keys, which every module accepts. Run the command again to complete the roll, " +
                        (journal.Kind == RollKinds.Roll ? $"exclude the modules that stay unreachable (-ExcludeEsn {string.Join(",", pending)}), " : "") +
                        "or Update-HsmSshKey -Revert to abandon it.",
                        host.Path)));
                    result.Status = "Incomplete";
                    return Finish(result, journal);
                }
            }
            if (journal.Phase != RollPhase.Cleaning)
                cmdlet.Engine(() => roll.Switch(journal));

            fleet.Run(Modules().Where(m => journal.Modules[m.Esn] != ModuleRollState.Cleaned).ToList(), m => m.Esn,
                (m, c) => roll.CleanAsync(journal, m, c), throttleLimit, "Removing the old keys from the modules", ct);
            if (roll.TryFinish(journal))
            {
                result.Status = "Completed";
                if (journal.Excluded.Count > 0)
                    cmdlet.WriteWarning($"Excluded from the roll: {string.Join(", ", journal.Excluded.OrderBy(e => e))}. They still accept only the old keys, which this host keeps " +
                        $"(archived, owner-only, in {host.Store.ArchivedClientKeysDirectory}) until Invoke-HsmEnroll or Update-HsmSshKey reaches them and installs the new keys.");
            }
            else
            {
                cmdlet.WriteWarning("The host now uses the new keys and every module accepts them, but the old keys could not yet be removed from " +
                    string.Join(", ", journal.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key)) + ". Run the command again to remove them.");
                result.Status = "Incomplete";
            }
            return Finish(result, journal);
        }

        private static HsmKeyRollResult Finish(HsmKeyRollResult result, RollJournal journal)
        {
            result.ModulesUpdated = journal.Modules.Where(m => m.Value != ModuleRollState.Pending).Select(m => m.Key).OrderBy(e => e).ToArray();
            result.ModulesPending = journal.Modules.Where(m => m.Value != ModuleRollState.Cleaned).Select(m => m.Key).OrderBy(e => e).ToArray();
            result.ModulesExcluded = journal.Excluded.OrderBy(e => e).ToArray();
            result.HardserverRestartNeeded = journal.Services.Contains(ModuleServices.NCoreApi) && result.Status == "Completed";
            return result;
        }
    }
}
