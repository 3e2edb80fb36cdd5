using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Threading.Tasks;
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
            WarnIfNoModules(store, esns, "bring under this host's keys");
            var protection = Protection == null ? ProtectionSpec.Default : Engine(() => ProtectionSpec.Parse(Protection));
            // Keys are generated (with -Protection) only for services the host has no key for yet.
            var creating = Engine(() => ModuleServices.All.Any(s => store.GetClientKey(s) == null));
            SecureString? passphrase;
            // The passphrase is new (and meets the policy) only when no key of the host has P yet; otherwise it opens those.
            if (creating && protection.NeedsPassphrase && Engine(() => KeyPassphrases.Protected(store, ModuleServices.All)).Count == 0)
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
                        $"A -KeyPassphrase was given but -Protection '{protection}' has no P: add P (e.g. " +
                        "KFGP) or leave -KeyPassphrase out. Nothing was changed.", Protection));
                passphrase = KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All);
            }
            // No store lock while a person is asked (the forget and first-contact questions): the lock is taken for the
            // enrollment itself, and what was asked about is re-checked under it.
            using (var host = OpenHost(store, passphrase))
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
                    var force = Force.IsPresent;
                    foreach (var dropped in RunOperation((reporter, ct) => Task.FromResult(operation.ForgetAsked(esns, attached, force, reporter))))
                        WriteObject(dropped);
                    return;
                }
                var selected = SelectModules(attached, esns);

                // Refresh the list first: modules released to another host and no longer registered are dropped. An
                // enrolled module that is merely unregistered stays (it still holds this host's keys): only -Forget drops it.
                // Asked only when there is something to drop (-WhatIf then names the modules); otherwise DropDetached only warns
                // about enrolled modules that are not registered, which -WhatIf skips (it takes the lock).
                var releasing = Engine(() => host.Store.GetModules()).Where(r => r.Status == ModuleStatus.Released
                    && !attached.Any(a => string.Equals(a.Esn, r.Esn, System.StringComparison.OrdinalIgnoreCase))).Select(r => r.Esn).ToList();
                if (releasing.Count > 0
                        ? ShouldProcess(host.Path,
                            $"Drop {string.Join(", ", releasing)} (released to another host, no longer registered) from the host's list")
                        : !IsWhatIf)
                    foreach (var dropped in Engine(() => operation.DropDetached()))
                        WriteObject(dropped);

                var toEnroll =
                    selected.Where(m => ShouldProcess($"module {m.Esn}",
                        "Enroll (verify and pin server keys, install this host's client keys)")).ToList();
                if (toEnroll.Count > 0 && Engine(() => host.Store.GetTrustedRoots().Count) == 0)
                {
                    var pending = RunOperation((reporter, ct) => operation.InspectFirstContactAllAsync(toEnroll, ThrottleLimit, reporter, ct));
                    operation.ConfirmedServerKeys = RunOperation((reporter, ct) => Task.FromResult(operation.ConfirmFirstContact(pending, reporter)));
                }
                var whatIf = IsWhatIf;
                using (LockForChange(host.Store)) // a roll and an enroll never run side by side
                {
                    // Re-checked under the lock: a roll may have begun, or a module been unregistered, while a person was asked.
                    Engine(() => EnrollJournal.EnsureNoOpenRoll(host));
                    var asked = toEnroll;
                    var (still, gone) = Engine(() => operation.StillRegistered(asked));
                    foreach (var error in gone) Report(error);
                    toEnroll = still;
                    var ncoreapiBefore = Engine(() => host.Store.GetClientKey(ModuleServices.NCoreApi))?.Fingerprint;
                    if (RunOperation((reporter, ct) => operation.EnrollAllAsync(toEnroll, whatIf, ThrottleLimit, reporter, ct)))
                        BackupReminder.Warn(this);
                    WarnHardserver(host, ncoreapiBefore);
                }
            }
        }

        /// <summary>
        /// As a roll and a restore do: when this run made the host's ncoreapi key and the hardserver has not loaded it (it
        /// started before the key existed, or is not running), the hardserver cannot reach the modules until it restarts.
        /// </summary>
        private void WarnHardserver(HsmHost host, string? ncoreapiBefore)
        {
            var now = Engine(() => host.Store.GetClientKey(ModuleServices.NCoreApi));
            if (now == null || now.Fingerprint == ncoreapiBefore) return;
            bool? current;
            try { current = Hardserver.HardserverKeyState.IsKeyCurrent(host.Hardserver.GetState(), host.Store); }
            catch (HsmException ex)
            {
                WriteVerbose($"Could not read the hardserver's state: {ex.Message}");
                return;
            }
            if (current == false)
                WriteWarning("The ncoreapi client key is new and the hardserver has not loaded " +
                    "it (it started before the key was made, or is not running), " +
                    "so it cannot reach the modules yet: run Restart-HsmHardserver.");
        }
    }
}
