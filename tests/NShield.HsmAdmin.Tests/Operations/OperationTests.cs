using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.Tests.Operations
{
    /// <summary>
    /// Issue 11: the operations decide everything themselves, driven here directly over the in-process transport with a
    /// recording reporter: every phase and outcome of a roll, restore, move, enroll (each Action) and reset. The module
    /// side is asserted from the modules' own authorized_keys.
    /// </summary>
    public class OperationTests
    {
        private static UpdateSshKeyRequest AllServices(int throttle = 16) => new UpdateSshKeyRequest { ThrottleLimit = throttle };

        private static HsmKeyRollResult Roll(OperationFleet fleet, RecordingReporter reporter, UpdateSshKeyRequest? request = null,
            CancellationToken ct = default) =>
            new RollOperation(fleet.Host, keepCurrentProtection: true).UpdateAsync(request ?? AllServices(), reporter, ct).GetAwaiter().GetResult()!;

        [Fact]
        public void EnrollReportsEnrolledThenNoActionThenRepairedAndTheModulesHoldTheHostKeys()
        {
            using var fleet = new OperationFleet(2);
            var first = fleet.Enroll();
            Assert.Equal(new[] { EnrollAction.Enrolled, EnrollAction.Enrolled }, first.Select(r => r.Action).ToArray());
            Assert.Equal(fleet.Esns, first.Select(r => r.Esn).ToArray());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
            Assert.Null(fleet.Host.Store.ReadDocument<EnrollJournal>(EnrollJournal.DocumentName));

            Assert.Equal(new[] { EnrollAction.NoAction, EnrollAction.NoAction }, fleet.Enroll().Select(r => r.Action).ToArray());

            // A key removed behind the host's back: the module is repaired, the other one left alone.
            var broken = fleet.Esns[0];
            var setup = fleet.HostKeys()[ModuleServices.Setup];
            using (var admin = fleet.Host.OpenPinnedAsync(fleet.Host.FindAttached(broken)!, ModuleServices.SshAdmin, default).GetAwaiter().GetResult())
                admin.RemoveKeyAsync(ModuleServices.Setup, setup, default).GetAwaiter().GetResult();
            Assert.Empty(fleet.ModuleKeys(broken, ModuleServices.Setup));
            var repaired = fleet.Enroll();
            Assert.Equal(new[] { EnrollAction.Repaired, EnrollAction.NoAction }, repaired.Select(r => r.Action).ToArray());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void EnrollReportsAwaitingRemovalForAMovedModuleAndDropsItOnceUnregistered()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var moved = fleet.Esns[1];
            using var destination = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "destination");
            var reporter = new RecordingReporter();
            new MoveOperation(fleet.Host, destination).MoveAllAsync(new[] { fleet.Host.FindAttached(moved)! }, 16, reporter, default).GetAwaiter().GetResult();
            Assert.Empty(reporter.Errors);

            var results = fleet.Enroll();
            Assert.Equal(new[] { EnrollAction.NoAction, EnrollAction.AwaitingRemoval }, results.Select(r => r.Action).ToArray());
            // The enroll left the moved module alone: its sshadmin holds only the destination's key.
            Assert.Equal(new[] { destination.PublicKey.Fingerprint }, fleet.ModuleKeys(moved, ModuleServices.SshAdmin));
            fleet.AssertModulesHoldExactlyHostKeys(new[] { fleet.Esns[0] });

            Assert.True(fleet.Host.Store.UnregisterModule(moved));
            var dropped = new EnrollOperation(fleet.Host).DropDetached(new RecordingReporter());
            Assert.Equal(moved, Assert.Single(dropped).Esn);
            Assert.Equal(EnrollAction.Dropped, dropped[0].Action);
            Assert.Null(fleet.Host.Store.GetModule(moved));
            Assert.Empty(fleet.Host.Store.GetPins(moved));
        }

        [Fact]
        public void RollCompletesAndEveryModuleHoldsOnlyTheNewKeys()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            var reporter = new RecordingReporter();
            var result = Roll(fleet, reporter);
            Assert.Empty(reporter.Errors);
            Assert.Equal(RollStatus.Completed, result.Status);
            Assert.Equal(fleet.Esns, result.ModulesUpdated);
            Assert.Empty(result.ModulesPending);
            Assert.True(result.HardserverRestartNeeded);
            Assert.Null(fleet.Journal);
            var after = fleet.HostKeys();
            Assert.All(ModuleServices.All, s => Assert.NotEqual(before[s], after[s]));
            Assert.All(ModuleServices.All, s => Assert.Equal(after[s], result.NewFingerprints[s]));
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
            // The phases, in order, as the reporter saw them.
            var activities = reporter.ProgressSeen.Where(p => p.Completed && p.ParentId == -1).Select(p => p.Activity).ToArray();
            Assert.Equal(new[] { "Installing new sshadmin, ncoreapi, setup, updater, monitor, launcher keys", "Removing the old keys from the modules" }, activities);
        }

        [Fact]
        public void RollStopsBeforeTheSwitchWhenAModuleLacksTheNewKeysThenCompletesOnTheRerun()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            var (ok, failing) = (fleet.Esns[0], fleet.Esns[1]);
            fleet.Sim.InjectFault(failing, FaultKind.FailAt, "keys.add");

            var reporter = new RecordingReporter();
            var result = Roll(fleet, reporter);
            Assert.Equal(RollStatus.Incomplete, result.Status);
            // Each module in exactly one list (issue 21): ok holds the new keys beside the old ones, so it is pending too.
            Assert.Empty(result.ModulesUpdated);
            Assert.Equal(fleet.Esns, result.ModulesPending);
            // Exactly: the module's refusal (the injected E_FAULT), then the roll's stop naming the host.
            Assert.Equal(new[] { HsmErrorIds.ModuleError, HsmErrorIds.RollIncomplete }, reporter.ErrorIds);
            var refused = Assert.IsType<ModuleErrorException>(reporter.Errors.First());
            Assert.Equal(failing, refused.Target);
            Assert.Equal(FirmwareErrorCodes.Fault, refused.FirmwareCode);
            Assert.Equal(HsmErrorKind.DeviceError, refused.Kind);
            Assert.Contains(FirmwareVerbs.KeysAdd, refused.Message);
            Assert.Equal(fleet.Host.Path, reporter.Errors.Last().Target);
            Assert.Contains(failing, reporter.Errors.Last().Message);
            Assert.Equal(0, fleet.Sim.GetModule(failing).PendingFaults);
            Assert.False(result.HardserverRestartNeeded);
            // Stopped before the switch: the host keeps its old keys, which both modules still accept.
            Assert.Equal(RollPhase.Installing, fleet.Journal!.Phase);
            Assert.Equal(ModuleRollState.Installed, fleet.Journal.Modules[ok]);
            Assert.Equal(ModuleRollState.Pending, fleet.Journal.Modules[failing]);
            Assert.Equal(before, fleet.HostKeys());
            foreach (var s in ModuleServices.All)
            {
                Assert.Equal(new[] { before[s], result.NewFingerprints[s] }.OrderBy(k => k), fleet.ModuleKeys(ok, s));
                Assert.Equal(new[] { before[s] }, fleet.ModuleKeys(failing, s));
            }

            fleet.Reopen();
            var rerun = new RecordingReporter();
            var completed = Roll(fleet, rerun);
            Assert.Empty(rerun.Errors);
            Assert.Equal(RollStatus.Completed, completed.Status);
            Assert.Contains(rerun.Warnings, w => w.StartsWith("Completing the key roll interrupted", StringComparison.Ordinal));
            Assert.Equal(result.NewFingerprints, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void RevertOfARollStoppedBeforeTheSwitchRemovesTheNewKeysEverywhere()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            fleet.Sim.InjectFault(fleet.Esns[1], FaultKind.FailAt, "keys.add");
            Assert.Equal(RollStatus.Incomplete, Roll(fleet, new RecordingReporter()).Status);

            fleet.Reopen();
            var reporter = new RecordingReporter();
            var reverted = Roll(fleet, reporter, new UpdateSshKeyRequest { Revert = true });
            Assert.Empty(reporter.Errors);
            Assert.Equal(RollStatus.Reverted, reverted.Status);
            Assert.Null(fleet.Journal);
            Assert.Empty(fleet.Host.Store.GetPendingClientKeys());
            Assert.Equal(before, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);

            // Nothing left to revert: a warning, no change.
            var again = new RecordingReporter();
            Assert.Null(new RollOperation(fleet.Host).UpdateAsync(new UpdateSshKeyRequest { Revert = true }, again, default)
                .GetAwaiter().GetResult());
            Assert.Equal("No key roll is in progress; nothing to revert.", Assert.Single(again.Warnings));
        }

        [Fact]
        public void RollThatCannotRemoveAnOldKeyAfterTheSwitchIsIncompleteAndTheRerunCleansUp()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            var lagging = fleet.Esns[1];
            fleet.Sim.InjectFault(lagging, FaultKind.FailAt, "keys.remove");

            var reporter = new RecordingReporter();
            var result = Roll(fleet, reporter);
            Assert.Equal(RollStatus.Incomplete, result.Status);
            Assert.Equal(new[] { lagging }, result.ModulesPending);
            Assert.Equal(new[] { fleet.Esns[0] }, result.ModulesUpdated);
            var refused = Assert.IsType<ModuleErrorException>(Assert.Single(reporter.Errors));
            Assert.Equal(HsmErrorIds.ModuleError, refused.ErrorId);
            Assert.Equal(lagging, refused.Target);
            Assert.Equal(FirmwareErrorCodes.Fault, refused.FirmwareCode);
            Assert.Contains(FirmwareVerbs.KeysRemove, refused.Message);
            Assert.Equal(0, fleet.Sim.GetModule(lagging).PendingFaults);
            Assert.Equal(ModuleRollState.Installed, fleet.Journal!.Modules[lagging]);
            Assert.Equal(ModuleRollState.Cleaned, fleet.Journal.Modules[fleet.Esns[0]]);
            Assert.Contains(reporter.Warnings, w => w.Contains("old keys could not yet be removed from " + lagging));
            // Switched: the host uses the new keys, which every module accepts; the lagging one still has an old key too.
            Assert.Equal(RollPhase.Cleaning, fleet.Journal!.Phase);
            Assert.Equal(result.NewFingerprints, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(new[] { fleet.Esns[0] });
            Assert.All(ModuleServices.All, s => Assert.Contains(result.NewFingerprints[s], fleet.ModuleKeys(lagging, s)));
            Assert.Contains(fleet.ModuleKeys(lagging, ModuleServices.All[0]).Concat(ModuleServices.All.Skip(1).SelectMany(s => fleet.ModuleKeys(lagging, s))),
                k => before.Values.Contains(k));

            fleet.Reopen();
            Assert.Equal(RollStatus.Completed, Roll(fleet, new RecordingReporter()).Status);
            Assert.Null(fleet.Journal);
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void AStopInsideTheRollEndsWithCancelledAndLeavesTheJournalResumable()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            using var stop = new CancellationTokenSource();
            // One module at a time; the stop lands as the first module's install is reported done, before the second starts.
            var reporter = new RecordingReporter
            {
                OnProgress = p =>
                {
                    if (p.Activity.StartsWith("Installing", StringComparison.Ordinal) && !p.Completed && p.Status.EndsWith("finished)", StringComparison.Ordinal))
                        stop.Cancel();
                },
            };
            var error = Assert.Throws<HsmException>(() => Roll(fleet, reporter, AllServices(throttle: 1), stop.Token));
            Assert.Equal(HsmErrorIds.Cancelled, error.ErrorId);
            Assert.Equal(HsmErrorKind.OperationStopped, error.Kind);

            var journal = fleet.Journal!;
            Assert.Equal(RollPhase.Installing, journal.Phase);
            Assert.Equal(2, journal.Modules.Count);
            Assert.Single(journal.Modules, m => m.Value == ModuleRollState.Installed);
            var installed = journal.Modules.Single(m => m.Value == ModuleRollState.Installed).Key;
            var untouched = journal.Modules.Single(m => m.Value == ModuleRollState.Pending).Key;
            Assert.Equal(before, fleet.HostKeys());
            foreach (var s in ModuleServices.All)
            {
                Assert.Equal(new[] { before[s], journal.NewFingerprints[s] }.OrderBy(k => k), fleet.ModuleKeys(installed, s));
                Assert.Equal(new[] { before[s] }, fleet.ModuleKeys(untouched, s));
            }

            fleet.Reopen();
            var completed = Roll(fleet, new RecordingReporter());
            Assert.Equal(RollStatus.Completed, completed.Status);
            Assert.Equal(journal.NewFingerprints, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void AStopInsideAModuleCommandEndsWithCancelledAndTheModuleKeepsOnlyItsOldKeys()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            using var stop = new CancellationTokenSource();
            using var recorder = InProcessModuleTransport.StartRecording();
            var esns = fleet.Esns.ToHashSet();
            string? first = null, second = null;
            // One module at a time. When the second module's first keys.add starts, it gets a long delay fault and the
            // stop lands while that command is in flight (inside the module, not between modules).
            recorder.Starting = (esn, service, verb, ct) =>
            {
                if (!esns.Contains(esn) || verb != FirmwareVerbs.KeysAdd) return Task.CompletedTask;
                first ??= esn;
                if (esn != first && second == null)
                {
                    second = esn;
                    fleet.Sim.SetDelay(esn, 600_000);
                    stop.Cancel();
                }
                return Task.CompletedTask;
            };
            var error = Assert.Throws<HsmException>(() => Roll(fleet, new RecordingReporter(), AllServices(throttle: 1), stop.Token));
            Assert.Equal(HsmErrorIds.Cancelled, error.ErrorId);
            Assert.Equal(HsmErrorKind.OperationStopped, error.Kind);
            Assert.StartsWith("Stopped while installing new ", error.Message);
            Assert.Contains("of 2 modules had finished", error.Message);
            Assert.NotNull(second);
            Assert.Equal(600_000, fleet.Sim.GetModule(second!).DelayMs);
            fleet.Sim.ClearFaults(second!);

            var journal = fleet.Journal!;
            Assert.Equal(RollPhase.Installing, journal.Phase);
            Assert.Equal(ModuleRollState.Installed, journal.Modules[first!]);
            Assert.Equal(ModuleRollState.Pending, journal.Modules[second!]);
            Assert.Equal(before, fleet.HostKeys());
            foreach (var s in ModuleServices.All)
            {
                Assert.Equal(new[] { before[s], journal.NewFingerprints[s] }.OrderBy(k => k), fleet.ModuleKeys(first!, s));
                // The module side: the stopped keys.add never reached the firmware.
                Assert.Equal(new[] { before[s] }, fleet.ModuleKeys(second!, s));
            }
            Assert.DoesNotContain(recorder.Commands, c => c.Esn == second && c.Verb == FirmwareVerbs.KeysAdd);

            fleet.Reopen();
            Assert.Equal(RollStatus.Completed, Roll(fleet, new RecordingReporter()).Status);
            Assert.Equal(journal.NewFingerprints, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void RestoreFromAVerbatimBackupKeepsSshAdminAndRollsEveryOtherServiceOnTheModules()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var before = fleet.HostKeys();
            var backup = System.IO.Path.Combine(fleet.Dir, "sshadmin.backup");
            KeyBackup.Write(fleet.Host.Store, backup, null, force: false);

            var reporter = new RecordingReporter();
            var result = new RestoreOperation(fleet.Host).RestoreAsync(new RestoreRequest { Path = backup }, reporter, default)
                .GetAwaiter().GetResult()!;
            Assert.Empty(reporter.Errors);
            Assert.Equal(RollKinds.Restore, result.Operation);
            Assert.Equal(RollStatus.Completed, result.Status);
            Assert.Equal(fleet.Esns, result.ModulesUpdated);
            Assert.DoesNotContain(ModuleServices.SshAdmin, result.Services);
            // The order the operation asked in: the accept-check ran first, then one confirmation, then the roll.
            Assert.Equal("Checking the backup against the modules", reporter.ProgressSeen.First().Activity);
            Assert.StartsWith("Restore the sshadmin key from", Assert.Single(reporter.Asked).Action);
            var after = fleet.HostKeys();
            Assert.Equal(before[ModuleServices.SshAdmin], after[ModuleServices.SshAdmin]);
            Assert.All(ModuleServices.All.Where(s => s != ModuleServices.SshAdmin), s => Assert.NotEqual(before[s], after[s]));
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void RestoreOfAKeyNoModuleAcceptsChangesNothing()
        {
            using var fleet = new OperationFleet(1);
            fleet.Enroll();
            var before = fleet.HostKeys();
            // A backup of another host's sshadmin key (portable, so it opens here).
            var otherPath = System.IO.Path.Combine(fleet.Dir, "other-host");
            var other = HostStore.Open(otherPath);
            using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "other"))
                other.SaveClientKey(ModuleServices.SshAdmin, key, NShield.HsmAdmin.Protection.ProtectionSpec.None, null);
            var backup = System.IO.Path.Combine(fleet.Dir, "other.backup");
            var passphrase = new System.Security.SecureString();
            foreach (var c in "correct horse") passphrase.AppendChar(c);
            KeyBackup.Write(other, backup, passphrase, force: false);

            var reporter = new RecordingReporter();
            var error = Assert.Throws<HsmException>(() =>
                new RestoreOperation(fleet.Host).RestoreAsync(new RestoreRequest { Path = backup, Passphrase = passphrase }, reporter, default)
                    .GetAwaiter().GetResult());
            Assert.Equal(HsmErrorIds.RestoreKeyNotAccepted, error.ErrorId);
            Assert.Empty(reporter.Asked);
            Assert.Null(fleet.Journal);
            Assert.Equal(before, fleet.HostKeys());
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
        }

        [Fact]
        public void MoveHandsTheModuleToTheDestinationKeyAndReleasesIt()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var (stays, moved) = (fleet.Esns[0], fleet.Esns[1]);
            using var destination = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "destination");
            var reporter = new RecordingReporter();
            new MoveOperation(fleet.Host, destination).MoveAllAsync(new[] { fleet.Host.FindAttached(moved)! }, 16, reporter, default).GetAwaiter().GetResult();
            Assert.Empty(reporter.Errors);
            var result = Assert.IsType<HsmMoveResult>(Assert.Single(reporter.Results));
            Assert.Equal(moved, result.Esn);
            Assert.Equal(new[] { destination.PublicKey.Fingerprint }, fleet.ModuleKeys(moved, ModuleServices.SshAdmin));
            Assert.DoesNotContain(fleet.HostKeys()[ModuleServices.SshAdmin], fleet.ModuleKeys(moved, ModuleServices.SshAdmin));
            Assert.Equal(ModuleStatus.Released, fleet.Host.Store.GetModule(moved)!.Status);
            fleet.AssertModulesHoldExactlyHostKeys(new[] { stays });
        }

        [Fact]
        public void ResetReturnsTheConfirmedModulesToFactoryStateAndForgetsTheirPins()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var (reset, declined) = (fleet.Esns[0], fleet.Esns[1]);
            var declinedPins = fleet.Host.Store.GetPins(declined).ToDictionary(p => p.Key, p => p.Value.Fingerprint);
            Assert.Equal(ModuleServices.All.Count, declinedPins.Count);
            var reporter = new RecordingReporter { Confirm = (target, _) => target == $"module {reset}" };
            new ResetOperation(fleet.Host).ResetAllAsync(fleet.Host.Attached(), false, 30, 16, reporter, default).GetAwaiter().GetResult();
            Assert.Empty(reporter.Errors);
            Assert.Equal(2, reporter.Asked.Count);
            var info = Assert.IsType<HsmModuleInfo>(Assert.Single(reporter.Results));
            Assert.Equal(reset, info.Esn);
            Assert.Equal(NShield.HsmAdmin.Modules.ModuleMode.FactoryState, fleet.Sim.GetModule(reset).Mode);
            // Factory state: only the vendor's default credential on sshadmin, no client key of this host anywhere.
            Assert.Equal(new[] { NShield.HsmAdmin.Firmware.DefaultCredential.Fingerprint }, fleet.ModuleKeys(reset, ModuleServices.SshAdmin));
            Assert.All(ModuleServices.All.Skip(1), s => Assert.Empty(fleet.ModuleKeys(reset, s)));
            Assert.Empty(fleet.Host.Store.GetPins(reset));
            // The declined module: untouched on both sides (its pins kept, its keys unchanged).
            Assert.Equal(new[] { $"module {reset}", $"module {declined}" }, reporter.Asked.Select(a => a.Target).OrderBy(t => t));
            Assert.Equal(declinedPins, fleet.Host.Store.GetPins(declined).ToDictionary(p => p.Key, p => p.Value.Fingerprint));
            Assert.NotEqual(NShield.HsmAdmin.Modules.ModuleMode.FactoryState, fleet.Sim.GetModule(declined).Mode);
            fleet.AssertModulesHoldExactlyHostKeys(new[] { declined });
        }

        [Fact]
        public void ResetOfAllModulesAsksOnceNamingEveryModuleAndWarnsAboutMaintenanceMode()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var modules = fleet.Host.Attached();

            // Declined: one question, nothing reset.
            var declined = new RecordingReporter { Confirm = (_, _) => false };
            new ResetOperation(fleet.Host).ResetAllAsync(modules, true, 30, 16, declined, default).GetAwaiter().GetResult();
            var asked = Assert.Single(declined.Asked);
            Assert.Equal(ResetOperation.Action, asked.Action);
            Assert.Empty(declined.Results);
            fleet.AssertModulesHoldExactlyHostKeys(fleet.Esns);
            Assert.All(fleet.Esns, e => Assert.NotEmpty(fleet.Host.Store.GetPins(e)));

            var reporter = new RecordingReporter();
            new ResetOperation(fleet.Host).ResetAllAsync(modules, true, 30, 16, reporter, default).GetAwaiter().GetResult();
            Assert.Empty(reporter.Errors);
            // Exactly one confirmation, whose target lists every ESN.
            var question = Assert.Single(reporter.Asked);
            Assert.Equal(ResetOperation.Action, question.Action);
            Assert.All(fleet.Esns, e => Assert.Contains(e, question.Target));
            Assert.Equal(ResetOperation.DescribeAll(modules), question.Target);
            Assert.Equal(ResetOperation.MaintenanceAdvice, Assert.Single(reporter.Warnings));
            Assert.Contains("maintenance mode", reporter.Warnings.Single());
            Assert.Equal(fleet.Esns, reporter.Results.Cast<HsmModuleInfo>().Select(i => i.Esn).OrderBy(e => e));
            foreach (var esn in fleet.Esns)
            {
                Assert.Equal(NShield.HsmAdmin.Modules.ModuleMode.FactoryState, fleet.Sim.GetModule(esn).Mode);
                Assert.Equal(new[] { NShield.HsmAdmin.Firmware.DefaultCredential.Fingerprint }, fleet.ModuleKeys(esn, ModuleServices.SshAdmin));
                Assert.All(ModuleServices.All.Skip(1), s => Assert.Empty(fleet.ModuleKeys(esn, s)));
                Assert.Empty(fleet.Host.Store.GetPins(esn));
            }
        }

        [Fact]
        public void ResetAndMoveRefuseUnderAnOpenRollAndAskNothing()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            fleet.Sim.InjectFault(fleet.Esns[1], FaultKind.FailAt, "keys.add");
            Assert.Equal(RollStatus.Incomplete, Roll(fleet, new RecordingReporter()).Status);
            string[][] ModuleSide() => fleet.Esns.SelectMany(e => ModuleServices.All.Select(s => fleet.ModuleKeys(e, s))).ToArray();
            var keysBefore = ModuleSide();
            var reporter = new RecordingReporter();
            var reset = Assert.Throws<HsmException>(() =>
                new ResetOperation(fleet.Host).ResetAllAsync(fleet.Host.Attached(), false, 30, 16, reporter, default).GetAwaiter().GetResult());
            Assert.Equal(HsmErrorIds.RollInProgress, reset.ErrorId);
            using var destination = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "destination");
            var move = Assert.Throws<HsmException>(() =>
                new MoveOperation(fleet.Host, destination).MoveAllAsync(fleet.Host.Attached(), 16, reporter, default).GetAwaiter().GetResult());
            Assert.Equal(HsmErrorIds.RollInProgress, move.ErrorId);
            Assert.Empty(reporter.Asked);
            Assert.Empty(reporter.Results);
            Assert.Equal(keysBefore, ModuleSide());
            Assert.All(fleet.Esns, e => Assert.NotEqual(NShield.HsmAdmin.Modules.ModuleMode.FactoryState, fleet.Sim.GetModule(e).Mode));
        }

        [Fact]
        public void ConnectionTestPassesForEveryServiceAfterEnrollAndFailsForAModuleThatLostAKey()
        {
            using var fleet = new OperationFleet(2);
            fleet.Enroll();
            var modules = fleet.Host.Attached();
            var reporter = new RecordingReporter();
            var results = new ModuleInspection(fleet.Host).TestAllAsync(modules, ModuleServices.All, 16, reporter, default).GetAwaiter().GetResult();
            Assert.Equal(12, results.Count);
            Assert.True(ModuleInspection.AllPassed(modules, ModuleServices.All, results));

            var esn = fleet.Esns[0];
            using (var admin = fleet.Host.OpenPinnedAsync(fleet.Host.FindAttached(esn)!, ModuleServices.SshAdmin, default).GetAwaiter().GetResult())
                admin.RemoveKeyAsync(ModuleServices.Monitor, fleet.HostKeys()[ModuleServices.Monitor], default).GetAwaiter().GetResult();
            var failing = new RecordingReporter();
            results = new ModuleInspection(fleet.Host).TestAllAsync(modules, ModuleServices.All, 16, failing, default).GetAwaiter().GetResult();
            Assert.False(ModuleInspection.AllPassed(modules, ModuleServices.All, results));
            var bad = Assert.Single(results, r => !r.Success);
            Assert.Equal((esn, ModuleServices.Monitor), (bad.Esn, bad.Service));
            Assert.Equal(HsmErrorIds.AuthenticationFailed, Assert.Single(failing.Errors).ErrorId);
        }
    }

    /// <summary>The parallel executor on its own: error mapping and stopping.</summary>
    public class FleetExecutorTests
    {
        [Fact]
        public async Task AJobFailingWithAnUnexpectedExceptionIsReportedAsUnexpectedErrorAndTheOthersGoOn()
        {
            var reporter = new RecordingReporter();
            var done = new System.Collections.Concurrent.ConcurrentBag<string>();
            await FleetExecutor.RunAsync(new[] { "a", "b", "c" }, x => x, async (x, ct) =>
            {
                await Task.Yield();
                if (x == "b") throw new InvalidOperationException("boom");
                done.Add(x);
            }, 2, "Testing", reporter, default);
            Assert.Equal(new[] { "a", "c" }, done.OrderBy(x => x).ToArray());
            var error = Assert.Single(reporter.Errors);
            Assert.Equal(HsmErrorIds.UnexpectedError, error.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidOperation, error.Kind);
            Assert.Equal("b", error.Target);
            Assert.Contains("InvalidOperationException: boom", error.Message);
        }

        [Fact(Timeout = 60000)]
        public async Task AStopEndsTheRunWithCancelledEvenWhenAJobIgnoresTheToken()
        {
            var reporter = new RecordingReporter();
            using var stop = new CancellationTokenSource();
            var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var never = new TaskCompletionSource<bool>();
            var run = FleetExecutor.RunAsync(new[] { "stuck", "queued" }, x => x, (x, ct) =>
            {
                started.TrySetResult(true);
                return never.Task; // ignores the token
            }, 1, "Waiting on a module", reporter, stop.Token);
            await started.Task;
            stop.Cancel();
            var error = await Assert.ThrowsAsync<HsmException>(() => run);
            Assert.Equal(HsmErrorIds.Cancelled, error.ErrorId);
            Assert.Equal(HsmErrorKind.OperationStopped, error.Kind);
            Assert.Contains("0 of 2 modules had finished", error.Message);
            Assert.Empty(reporter.Errors);
        }

        [Fact]
        public void TheStopGraceIsShort() => Assert.True(FleetExecutor.StopGrace <= TimeSpan.FromSeconds(1), FleetExecutor.StopGrace.ToString());
    }
}
