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
    public sealed class InvokeHsmEnrollCommand : HsmCmdlet
    {
        private readonly List<string> _esns = new List<string>();

        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[]? Esn { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

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

        protected override void ProcessRecord()
        {
            if (Esn != null) _esns.AddRange(Esn.Select(e => Engine(() => Store.Esn.Parse(e))));
        }

        protected override void EndProcessing()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
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
                var selected = ModuleSelection.Select(this, attached, _esns);

                // Refresh the list first: modules no longer registered are dropped.
                if (ShouldProcess(host.Path, "Drop modules that are no longer registered from the host's list"))
                    foreach (var dropped in Engine(() => operation.DropDetached(_esns.Count > 0 ? _esns : null)))
                        WriteObject(dropped);

                var toEnroll = selected.Where(m => ShouldProcess($"module {m.Esn}", "Enroll (verify and pin server keys, install this host's client keys)")).ToList();
                var fleet = new FleetRunner(this);
                operation.Warn = fleet.WriteWarning;
                operation.ConfirmFingerprints = (esn, fingerprints) => fleet.Ask(() =>
                {
                    var lines = string.Join("\n", fingerprints.Select(f => $"  {f.Key,-9} {f.Value}"));
                    try
                    {
                        return ShouldContinue($"No trusted vendor root vouches for module {esn}. Its server keys are:\n{lines}\n" +
                            "Trust these keys only if they match what the module itself shows. Trust them?", "Confirm module server keys");
                    }
                    catch (PSInvalidOperationException) { return false; } // non-interactive: never silent trust
                });
                if (toEnroll.Count > 0 && !IsWhatIf) Engine(() => EnrollJournal.Begin(host, toEnroll));
                try
                {
                    fleet.Run(toEnroll, m => m.Esn, async (m, ct) => fleet.WriteObject(await operation.EnrollAsync(m, ct).ConfigureAwait(false)),
                        ThrottleLimit, "Enrolling modules", Cancellation);
                }
                finally
                {
                    if (toEnroll.Count > 0 && !IsWhatIf)
                    {
                        var open = EnrollJournal.End(host);
                        if (open.Count > 0)
                            WriteWarning($"Not finished: {string.Join(", ", open)} (server keys pinned, not yet enrolled). Run Invoke-HsmEnroll again; key rolls wait until then.");
                    }
                }
            }
        }
    }
}
