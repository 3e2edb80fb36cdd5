using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Operations
{
    // The fleet-wide forms of the per-module operations: what runs in parallel, what is asked first, what counts as done.

    sealed partial class ModuleInspection
    {
        /// <summary>
        /// Test-HsmConnection: every service of every module; failures are reported and returned. True overall only when
        /// every service of every selected module authenticated (and at least one module was tested).
        /// </summary>
        public async Task<IReadOnlyList<HsmConnectionTestResult>> TestAllAsync(IReadOnlyList<ModuleAddress> modules, IReadOnlyList<string> services,
            int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var results = await FleetExecutor.CollectAsync(modules, m => m.Esn, async (m, c) =>
            {
                var perService = await Task.WhenAll(services.Select(s => TestAsync(m, s, c))).ConfigureAwait(false);
                // The module itself cannot be reached (no service answers at all): one error for the module, not one per service.
                if (perService.Length > 1 && perService.All(r => r.Error != null && IsUnreachable(r.Error)))
                {
                    var first = perService[0].Error!;
                    reporter.Error(new HsmException(first.ErrorId, first.Kind,
                        $"Module {m.Esn} could not be reached on any of its {perService.Length} services ({m.Host}). {first.Message}", m.Esn, first));
                }
                else foreach (var r in perService.Where(r => r.Error != null)) reporter.Error(r.Error!);
                return (IEnumerable<HsmConnectionTestResult>)perService;
            }, throttleLimit, "Testing module channels", reporter, ct).ConfigureAwait(false);
            var order = ModuleServices.All.ToList();
            return results.OrderBy(r => r.Esn).ThenBy(r => order.IndexOf(r.Service)).ToList();
        }

        private static bool IsUnreachable(HsmException ex) =>
            ex.Kind == HsmErrorKind.ConnectionError || ex.Kind == HsmErrorKind.OperationTimeout;

        /// <summary>The overall answer of Test-HsmConnection without -Detailed.</summary>
        public static bool AllPassed(IReadOnlyCollection<ModuleAddress> modules, IReadOnlyCollection<string> services,
            IReadOnlyCollection<HsmConnectionTestResult> results) =>
            modules.Count > 0 && results.Count == modules.Count * services.Count && results.All(r => r.Success);

        /// <summary>
        /// Get-HsmModule: the status of each known module, sorted by ESN. A module that cannot be asked stays in the list
        /// (mode Unknown) beside its error, so a table never hides it.
        /// </summary>
        public async Task<IReadOnlyList<HsmModuleInfo>> StatusAllAsync(
            IReadOnlyList<(string Esn, ModuleAddress? Address, Store.ModuleRecord? Record)> known,
            bool live, int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var results = await FleetExecutor.CollectAsync(known, k => k.Esn, async (k, c) =>
            {
                HsmModuleInfo info;
                try { info = await StatusAsync(k.Esn, k.Address, k.Record, live, c).ConfigureAwait(false); }
                catch (HsmException ex)
                {
                    reporter.Error(ex);
                    info = await StatusAsync(k.Esn, k.Address, k.Record, live: false, c).ConfigureAwait(false);
                    // The connection itself failed: say so, rather than a status from the host's records only.
                    if (ex.Kind == HsmErrorKind.ConnectionError || ex.Kind == HsmErrorKind.OperationTimeout
                        || ex.Kind == HsmErrorKind.ResourceUnavailable)
                        info.Status = "Unreachable";
                }
                return (IEnumerable<HsmModuleInfo>)new[] { info };
            }, throttleLimit, "Reading module status", reporter, ct).ConfigureAwait(false);
            return results.OrderBy(r => r.Esn).ToList();
        }
    }

    sealed partial class ResetOperation
    {
        /// <summary>
        /// Reset-HsmModule: refuses under an open roll, warns to enter maintenance mode first, asks once for every module
        /// (<paramref name="allModules"/>: the vendor's factorystate without an ESN, the prompt lists the ESNs) or per named
        /// module, and resets the confirmed ones in parallel.
        /// </summary>
        public Task ResetAllAsync(IReadOnlyList<ModuleAddress> modules, bool allModules, int timeoutSeconds, int throttleLimit,
            IOperationReporter reporter, CancellationToken ct)
        {
            // An open roll or restore journal covers the modules: changing one under it breaks the roll.
            EnrollJournal.EnsureNoOpenRoll(_host, "A factory reset mid-roll erases keys the roll is installing or cleaning, so nothing was reset.");
            if (modules.Count == 0) return Task.CompletedTask;
            reporter.Warning(MaintenanceAdvice);
            // Destroys state: every question defaults to No. Without -Esn one question lists every ESN.
            var confirmed = new List<ModuleAddress>();
            if (allModules)
            {
                if (reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Return modules to factory state",
                        $"{Action} on {DescribeAll(modules)}?", DescribeAll(modules), Action)) == ConfirmAnswer.Yes)
                    confirmed.AddRange(modules);
            }
            else
            {
                var toAll = (ConfirmAnswer?)null;
                foreach (var m in modules)
                {
                    var answer = toAll ?? reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, $"Return module {m.Esn} to factory state",
                        $"{Action} on module {m.Esn}?", $"module {m.Esn}", Action) { OfferToAll = modules.Count > 1 });
                    if (answer == ConfirmAnswer.YesToAll || answer == ConfirmAnswer.NoToAll) toAll = answer;
                    if (answer == ConfirmAnswer.Yes || answer == ConfirmAnswer.YesToAll) confirmed.Add(m);
                }
            }
            if (confirmed.Count == 0) return Task.CompletedTask;
            // Nothing was locked while the person was asked: a roll may have begun meanwhile.
            EnrollJournal.EnsureNoOpenRoll(_host, "A factory reset mid-roll erases keys the roll is installing or cleaning, so nothing was reset.");
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await ResetAsync(m, timeoutSeconds, c).ConfigureAwait(false)),
                throttleLimit, "Returning modules to factory state", reporter, ct);
        }
    }

    sealed partial class MoveOperation
    {
        /// <summary>Move-HsmModule: refuses under an open roll, asks per module, hands the confirmed ones over in parallel.</summary>
        public Task MoveAllAsync(IReadOnlyList<ModuleAddress> modules, int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            // An open roll or restore journal covers the modules: changing one under it breaks the roll.
            EnrollJournal.EnsureNoOpenRoll(_host,
                "Handing a module over mid-roll would leave the roll waiting on a module that no longer accepts this host, so nothing was moved.");
            var confirmed = modules.Where(m => reporter.ShouldProcess($"module {m.Esn}",
                $"Hand over to the host whose sshadmin key is {_destination.PublicKey.Fingerprint} and release it from this host")).ToList();
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await MoveAsync(m, c).ConfigureAwait(false)),
                throttleLimit, "Moving modules to another host", reporter, ct);
        }
    }

    sealed partial class EnrollOperation
    {
        /// <summary>
        /// Invoke-HsmEnroll: enrolls the modules in parallel under the enroll journal (opened before the first module is
        /// touched, closed after the last: modules left half enrolled stay in it, and key rolls wait for them); one result per
        /// module. When every enrolled module was verified, the keys are recorded as proven (InstalledAt). True when keys were
        /// installed on some module (the backup reminder).
        /// </summary>
        public async Task<bool> EnrollAllAsync(IReadOnlyList<ModuleAddress> modules, FirstContactTrust trust, bool whatIf, int throttleLimit,
            IOperationReporter reporter, CancellationToken ct)
        {
            var installed = false;
            var verified = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            if (modules.Count > 0 && !whatIf) EnrollJournal.Begin(_host, modules);
            try
            {
                await FleetExecutor.RunAsync(modules, m => m.Esn, async (m, c) =>
                {
                    var result = await EnrollAsync(m, c, trust, reporter).ConfigureAwait(false);
                    if (result.Action == EnrollAction.Enrolled || result.Action == EnrollAction.Repaired) installed = true;
                    if (IsVerified(result)) verified[m.Esn] = true;
                    reporter.Result(result);
                }, throttleLimit, "Enrolling modules", reporter, ct).ConfigureAwait(false);
                if (modules.Count > 0 && !whatIf) RecordProvenKeys(modules.Select(m => m.Esn.Value).ToList(), verified.Keys.ToList());
                return installed;
            }
            finally
            {
                if (modules.Count > 0 && !whatIf)
                {
                    var open = EnrollJournal.End(_host);
                    if (open.Count > 0)
                        reporter.Warning($"Not finished: {string.Join(", ", open)} (server keys pinned, not " +
                            "yet enrolled). Run Invoke-HsmEnroll again; key rolls wait until then.");
                }
            }
        }

        /// <summary>The server keys of the modules that need a person's confirmation (no trusted vendor root), read-only, by ESN.</summary>
        public async Task<IReadOnlyList<FirstContactFingerprints>> InspectFirstContactAllAsync(IReadOnlyList<ModuleAddress> modules,
            IReadOnlyCollection<string> accepted, int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var gathered = await FleetExecutor.CollectAsync(modules, m => m.Esn, async (m, c) =>
            {
                var found = await InspectFirstContactAsync(m, accepted, c).ConfigureAwait(false);
                return found == null ? Enumerable.Empty<FirstContactFingerprints>() : new[] { found };
            }, throttleLimit, "Reading server keys to confirm", reporter, ct).ConfigureAwait(false);
            return gathered.OrderBy(p => p.Esn, StringComparer.Ordinal).ToList();
        }
    }
}
