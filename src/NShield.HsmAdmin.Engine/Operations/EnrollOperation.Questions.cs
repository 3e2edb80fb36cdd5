using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Operations
{
    // Invoke-HsmEnroll's questions, asked by the engine through the reporter (No by default). The caller holds no store
    // lock while a person is asked: what was asked about is re-read and re-checked under the lock afterwards.
    sealed partial class EnrollOperation
    {
        /// <summary>
        /// The first-contact prompt (no trusted vendor root): the first question lists every module and every fingerprint
        /// read (read-only, beforehand), then one question per module, No by default; "Yes to All" is offered with the full
        /// list shown. Only a person's answer trusts a key: a host that cannot ask confirms nothing (FingerprintNotConfirmed
        /// follows for each module). What is confirmed is used only if the module presents exactly these keys at enrollment.
        /// </summary>
        public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ConfirmFirstContact(
            IReadOnlyList<FirstContactFingerprints> pending, IOperationReporter reporter)
        {
            var confirmed = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
            if (pending.Count == 0) return confirmed;
            var shown = new StringBuilder();
            shown.AppendLine("No trusted vendor root is configured on this host, so nothing has verified the server keys of " +
                $"{pending.Count} module(s).");
            shown.AppendLine("Compare every fingerprint with what the module itself displays before you trust it:");
            foreach (var p in pending)
            {
                shown.AppendLine($"  Module {p.Esn} at {p.Address} ({p.Mode})");
                foreach (var f in p.Fingerprints) shown.AppendLine($"    {f.Key,-9} {f.Value}");
            }
            try
            {
                for (int i = 0; i < pending.Count; i++)
                {
                    var p = pending[i];
                    var query = (i == 0 ? shown.ToString() : "") +
                        $"Trust module {p.Esn} at {p.Address}, sshadmin server key {p.Fingerprints[ModuleServices.SshAdmin]} (all six keys listed " +
                        $"{(i == 0 ? "above" : "in the first question")})? Answer Yes only if they match what the module itself displays.";
                    var caption = $"Confirm module server keys ({i + 1} of {pending.Count})";
                    var answer =
                        reporter.Confirm(new ConfirmQuestion(QuestionKind.PersonOnly, caption, query, $"module {p.Esn}", "Trust its server keys")
                    {
                        OfferToAll = true,
                    });
                    if (answer == ConfirmAnswer.NoToAll) break;
                    if (answer == ConfirmAnswer.Yes) confirmed[p.Esn] = p.Fingerprints;
                    if (answer == ConfirmAnswer.YesToAll)
                    {
                        foreach (var rest in pending.Skip(i)) confirmed[rest.Esn] = rest.Fingerprints;
                        break;
                    }
                }
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ConfirmationRequired)
            {
                // A host that cannot prompt never trusts silently: nothing confirmed.
                reporter.Verbose(ex.Message + " Nothing is trusted.");
                confirmed.Clear();
            }
            return confirmed;
        }

        /// <summary>
        /// Invoke-HsmEnroll -Forget: each named module that is on the list and not registered is forgotten after the change is
        /// accepted (-WhatIf) and, unless <paramref name="force"/>, a person's yes (No by default; -Confirm:$false does not
        /// answer it). Named modules still registered, or not on the list, are errors. The store is locked only afterwards,
        /// and each module is forgotten only if it is still as described when it was asked about.
        /// </summary>
        public IReadOnlyList<HsmEnrollResult> ForgetAsked(IReadOnlyList<string> esns, IReadOnlyList<ModuleAddress> attached, bool force,
            IOperationReporter reporter)
        {
            if (esns.Count == 0)
                throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.InvalidArgument,
                    "-Forget needs the modules to forget: name them with -Esn. Nothing was changed.", null);
            var toAll = (ConfirmAnswer?)null;
            var asked = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var esn in esns.Distinct(StringComparer.Ordinal))
            {
                var record = _host.Store.GetModule(esn);
                if (record == null)
                {
                    reporter.Error(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"Module {esn} is not on this host's list; nothing to forget.", esn));
                    continue;
                }
                if (attached.Any(m => m.Esn == record.Esn))
                {
                    reporter.Error(NotForgottenRegistered(esn));
                    continue;
                }
                var what = DescribeForget(record);
                if (!reporter.ShouldProcess($"module {esn}", $"Forget (no longer registered): {what}")) continue;
                if (!force)
                {
                    ConfirmAnswer answer;
                    try
                    {
                        answer = toAll ?? reporter.Confirm(new ConfirmQuestion(QuestionKind.PersonOnly, $"Forget module {esn}", what + " Forget it?",
                            $"module {esn}", "Forget it") { OfferToAll = esns.Count > 1 });
                    }
                    catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ConfirmationRequired)
                    {
                        reporter.Error(new HsmException(HsmErrorIds.ConfirmationRequired, HsmErrorKind.InvalidOperation,
                            $"Module {esn} was not forgotten: this session cannot ask for confirmation. {what} " +
                            "Add -Force to forget it without asking.", esn));
                        continue;
                    }
                    if (answer == ConfirmAnswer.YesToAll || answer == ConfirmAnswer.NoToAll) toAll = answer;
                    if (answer != ConfirmAnswer.Yes && answer != ConfirmAnswer.YesToAll) continue;
                }
                asked[esn] = what;
            }
            return asked.Count == 0 ? Array.Empty<HsmEnrollResult>() : Forget(asked, reporter);
        }

        /// <summary>
        /// Under the store lock, after the questions: the modules of <paramref name="modules"/> still registered (at their
        /// current address); each one no longer registered gets StateChangedWhileAsked in Gone.
        /// </summary>
        public (List<ModuleAddress> Still, List<HsmException> Gone) StillRegistered(IReadOnlyList<ModuleAddress> modules)
        {
            var gone = new List<HsmException>();
            if (modules.Count == 0) return (new List<ModuleAddress>(), gone);
            var now = _host.Attached().ToDictionary(m => m.Esn.Value, StringComparer.Ordinal);
            var still = new List<ModuleAddress>();
            foreach (var m in modules)
            {
                if (now.TryGetValue(m.Esn, out var current)) still.Add(current);
                else gone.Add(new HsmException(HsmErrorIds.StateChangedWhileAsked, HsmErrorKind.InvalidOperation,
                    $"Module {m.Esn} was unregistered from this host while you were asked; it was not enrolled.", m.Esn));
            }
            return (still, gone);
        }

        private static HsmException NotForgottenRegistered(string esn) => new HsmException(HsmErrorIds.ModuleAlreadyRegistered,
            HsmErrorKind.InvalidOperation, $"Module {esn} is registered with this host, so it is not forgotten. " +
            "Unregister it first (Unregister-HsmModule) if you mean to forget it.", esn);

        /// <summary>
        /// Forgets the modules a person agreed to forget, under the store lock: each is re-read and forgotten only if it is
        /// still unregistered and still as described in the question (StateChangedWhileAsked otherwise).
        /// </summary>
        private IReadOnlyList<HsmEnrollResult> Forget(IReadOnlyDictionary<string, string> asked, IOperationReporter reporter)
        {
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                var attached = new HashSet<string>(_host.Attached().Select(m => m.Esn.Value), StringComparer.Ordinal);
                var still = new List<string>();
                foreach (var pair in asked)
                {
                    var record = _host.Store.GetModule(pair.Key);
                    if (record != null && attached.Contains(record.Esn)) reporter.Error(NotForgottenRegistered(pair.Key));
                    else if (record == null || DescribeForget(record) != pair.Value)
                        reporter.Error(new HsmException(HsmErrorIds.StateChangedWhileAsked, HsmErrorKind.InvalidOperation,
                            $"Module {pair.Key} was not forgotten: its entry on this host changed while you were asked " +
                            $"({(record == null ? "it is no longer on the list" : DescribeForget(record))}). " +
                            $"Run Invoke-HsmEnroll -Esn {pair.Key} -Forget again.",
                            pair.Key));
                    else still.Add(pair.Key);
                }
                return still.Count == 0 ? Array.Empty<HsmEnrollResult>() : Forget(still);
            }
        }
    }
}
