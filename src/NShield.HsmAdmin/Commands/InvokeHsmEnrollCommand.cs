using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;
using ProtectionSpec = NShield.HsmAdmin.Protection.ProtectionSpec;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Invoke-HsmEnroll: the vendor's `hsmadmin enroll`.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "HsmEnroll", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmEnrollResult))]
    public sealed class InvokeHsmEnrollCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>sshadmin server key fingerprints confirmed out of band, for hosts without a trusted vendor root.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? AcceptFingerprint { get; set; }

        [Parameter]
        [ArgumentCompleter(typeof(AlgorithmCompleter))]
        public string Algorithm { get; set; } = "Ed25519";

        [Parameter]
        [ArgumentCompleter(typeof(ProtectionCompleter))]
        public string? Protection { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys when their protection includes P: opens existing keys, and protects
        /// new ones when -Protection has P (prompted for, twice, in an interactive host when not given).
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>
        /// Forget the modules named by -Esn that are on the host's list but no longer registered: list entry, pins and any
        /// client keys archived for them are deleted. Says what is forgotten and asks (ConfirmImpact High) unless -Force.
        /// Nothing is enrolled in that run.
        /// </summary>
        [Parameter]
        public SwitchParameter Forget { get; set; }

        /// <summary>With -Forget: forget without the second confirmation (ShouldContinue).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "enroll");
            var protection = Protection == null ? ProtectionSpec.Default : Engine(() => ProtectionSpec.Parse(Protection));
            // Keys are generated (with -Protection) only for services the host has no key for yet.
            var creating = Engine(() => ModuleServices.All.Any(s => store.GetClientKey(s) == null));
            SecureString? passphrase;
            if (creating && protection.NeedsPassphrase)
            {
                passphrase = KeyPassphrases.NewPassphrase(this, KeyPassphrase, KeyPassphrases.Parameter,
                    $"Invoke-HsmEnroll creates this host's client keys with protection {protection}.");
                WriteWarning($"The ncoreapi client key gets protection {protection.ForService(ModuleServices.NCoreApi)}, without P: " +
                    "the hardserver loads it unattended at every start and cannot type a passphrase.");
            }
            else
            {
                if (creating && KeyPassphrase != null && Engine(() => KeyPassphrases.Protected(store, ModuleServices.All)).Count == 0)
                    Fail(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                        $"A -KeyPassphrase was given but -Protection '{protection}' has no P: add P (e.g. KFGP) or leave -KeyPassphrase out. Nothing was changed.", Protection));
                passphrase = KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All);
            }
            using (var host = new HsmHost(store, passphrase))
            using (LockForChange(host.Store)) // a roll and an enroll never run side by side
            {
                KeyPassphrases.Verify(this, host, ModuleServices.All);
                // An open roll or restore journal: modules enrolled now would get keys the roll then removes.
                Engine(() => EnrollJournal.EnsureNoOpenRoll(host));
                var operation = new EnrollOperation(host)
                {
                    Algorithm = Engine(() => Keys.SshAlgorithmNames.Parse(Algorithm)),
                    Protection = protection,
                    AcceptedFingerprints = AcceptFingerprint?.ToList() ?? new List<string>(),
                    Warn = WriteWarning,   // on this thread until the fleet runs (then through the fleet, below)
                };
                var attached = Engine(() => host.Attached());
                if (Forget)
                {
                    ForgetModules(host, operation, attached, esns);
                    return;
                }
                var selected = SelectModules(attached, esns);

                // Refresh the list first: modules released to another host and no longer registered are dropped. An
                // enrolled module that is merely unregistered stays (it still holds this host's keys): only -Forget drops it.
                if (ShouldProcess(host.Path, "Drop modules released to another host and no longer registered from the host's list"))
                    foreach (var dropped in Engine(() => operation.DropDetached()))
                        WriteObject(dropped);

                var toEnroll = selected.Where(m => ShouldProcess($"module {m.Esn}", "Enroll (verify and pin server keys, install this host's client keys)")).ToList();
                if (toEnroll.Count > 0 && Engine(() => host.Store.GetTrustedRoots().Count) == 0)
                {
                    var pending = RunOperation((reporter, ct) => operation.InspectFirstContactAllAsync(toEnroll, ThrottleLimit, reporter, ct));
                    operation.ConfirmedServerKeys = ConfirmFirstContact(pending);
                }
                var whatIf = IsWhatIf;
                if (RunOperation((reporter, ct) => operation.EnrollAllAsync(toEnroll, whatIf, ThrottleLimit, reporter, ct)))
                    BackupReminder.Warn(this);
            }
        }

        /// <summary>
        /// -Forget: each named module that is on the list and not registered is forgotten after ShouldProcess and (unless
        /// -Force) ShouldContinue, both saying what is thrown away. Named modules still registered, or not on the list, are errors.
        /// </summary>
        private void ForgetModules(HsmHost host, EnrollOperation operation, IReadOnlyList<Drivers.ModuleAddress> attached, IReadOnlyList<string> esns)
        {
            if (esns.Count == 0)
                Fail(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.InvalidArgument,
                    "-Forget needs the modules to forget: name them with -Esn. Nothing was changed.", null));
            bool yesToAll = false, noToAll = false;
            var confirmed = new List<string>();
            foreach (var esn in esns.Distinct(System.StringComparer.OrdinalIgnoreCase))
            {
                var record = Engine(() => host.Store.GetModule(esn));
                if (record == null)
                {
                    WriteError(ToErrorRecord(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"Module {esn} is not on this host's list; nothing to forget.", esn)));
                    continue;
                }
                if (attached.Any(m => string.Equals(m.Esn, esn, System.StringComparison.OrdinalIgnoreCase)))
                {
                    WriteError(ToErrorRecord(new HsmException(HsmErrorIds.ModuleAlreadyRegistered, HsmErrorKind.InvalidOperation,
                        $"Module {esn} is registered with this host, so it is not forgotten. Unregister it first (Unregister-HsmModule) if you mean to forget it.", esn)));
                    continue;
                }
                var what = Engine(() => operation.DescribeForget(record));
                if (!ShouldProcess($"module {esn}", $"Forget (no longer registered): {what}")) continue;
                if (!Force && !AskToForget(esn, what, ref yesToAll, ref noToAll)) continue;
                confirmed.Add(esn);
            }
            if (confirmed.Count == 0) return;
            foreach (var dropped in Engine(() => operation.Forget(confirmed)))
                WriteObject(dropped);
        }

        /// <summary>The second confirmation; a host that cannot prompt forgets nothing (the error names -Force).</summary>
        private bool AskToForget(string esn, string what, ref bool yesToAll, ref bool noToAll)
        {
            try { return ShouldContinue(what + " Forget it?", $"Forget module {esn}", ref yesToAll, ref noToAll); }
            catch (System.Exception ex) when (ex is PSInvalidOperationException || ex is System.Management.Automation.Host.HostException || ex is System.NotImplementedException)
            {
                WriteError(ToErrorRecord(new HsmException(HsmErrorIds.ConfirmationRequired, HsmErrorKind.InvalidOperation,
                    $"Module {esn} was not forgotten: this session cannot ask for confirmation. {what} Add -Force to forget it without asking.", esn)));
                return false;
            }
        }

        private static readonly string[] ChoiceLabels = { "&Yes", "Yes to &All", "&No", "No to A&ll" };
        private const int ChoiceYes = 0, ChoiceYesToAll = 1, ChoiceNo = 2, ChoiceNoToAll = 3;

        /// <summary>
        /// The first-contact prompt (no trusted vendor root): first gathers, read-only, the server keys of every module that
        /// needs a person's confirmation, shows them all, then asks per module with the default No; "Yes to All" is offered
        /// only once every fingerprint has been shown. A host that cannot prompt confirms nothing (FingerprintNotConfirmed).
        /// </summary>
        private IDictionary<string, IReadOnlyDictionary<string, string>> ConfirmFirstContact(IReadOnlyList<FirstContactFingerprints> pending)
        {
            var confirmed = new Dictionary<string, IReadOnlyDictionary<string, string>>(System.StringComparer.OrdinalIgnoreCase);
            if (pending.Count == 0) return confirmed;

            var ui = Host?.UI;
            if (ui == null) return confirmed;
            try
            {
                var shown = new System.Text.StringBuilder();
                shown.AppendLine($"No trusted vendor root is configured on this host, so nothing has verified the server keys of {pending.Count} module(s).");
                shown.AppendLine("Compare every fingerprint with what the module itself displays before you trust it:");
                foreach (var p in pending)
                {
                    shown.AppendLine($"  Module {p.Esn} at {p.Address} ({p.Mode})");
                    foreach (var f in p.Fingerprints) shown.AppendLine($"    {f.Key,-9} {f.Value}");
                }
                ui.WriteLine(shown.ToString());

                var choices = new System.Collections.ObjectModel.Collection<System.Management.Automation.Host.ChoiceDescription>(
                    ChoiceLabels.Select((label, i) => new System.Management.Automation.Host.ChoiceDescription(label, i switch
                    {
                        ChoiceYes => "Trust this module's server keys.",
                        ChoiceYesToAll => "Trust the server keys of this and every remaining module listed above.",
                        ChoiceNo => "Do not trust this module's server keys; it is not enrolled.",
                        _ => "Trust none of the remaining modules.",
                    })).ToList());
                for (int i = 0; i < pending.Count; i++)
                {
                    var p = pending[i];
                    var choice = ui.PromptForChoice($"Confirm module server keys ({i + 1} of {pending.Count})",
                        $"Trust module {p.Esn} at {p.Address}, sshadmin server key {p.Fingerprints[ModuleServices.SshAdmin]} (all six keys listed above)? " +
                        "Answer Yes only if they match what the module itself displays.", choices, ChoiceNo);
                    if (choice == ChoiceNoToAll) break;
                    if (choice == ChoiceYes) confirmed[p.Esn] = p.Fingerprints;
                    if (choice == ChoiceYesToAll)
                    {
                        foreach (var rest in pending.Skip(i)) confirmed[rest.Esn] = rest.Fingerprints;
                        break;
                    }
                }
            }
            // A host that cannot prompt (non-interactive) never trusts silently: nothing confirmed.
            catch (PSInvalidOperationException) { confirmed.Clear(); }
            catch (System.Management.Automation.Host.HostException) { confirmed.Clear(); }
            catch (System.NotImplementedException) { confirmed.Clear(); }
            // The console host fails inside PromptForChoice when stdin is at end of file (pwsh < /dev/null): an answer
            // that cannot be read is a No, never a Yes.
            catch (System.Exception ex) when (!(ex is PipelineStoppedException))
            {
                WriteVerbose($"The host could not ask for the fingerprint confirmation ({ex.GetType().Name}); nothing is trusted.");
                confirmed.Clear();
            }
            return confirmed;
        }
    }
}
