using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using ProtectionSpec = NShield.HsmAdmin.Protection.ProtectionSpec;
using ProtectionInput = NShield.HsmAdmin.Protection.ProtectionInput;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Update-HsmSshKey: the vendor's `hsmadmin keys roll`.</summary>
    [Cmdlet(VerbsData.Update, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Roll")]
    [OutputType(typeof(HsmKeyRollResult))]
    public sealed class UpdateHsmSshKeyCommand : HsmParallelCmdlet, IChangesHost
    {
        [Parameter(ParameterSetName = "Roll", Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        [Parameter(ParameterSetName = "Roll")]
        [ArgumentCompleter(typeof(AlgorithmCompleter))]
        public string Algorithm { get; set; } = "Ed25519";

        [Parameter(ParameterSetName = "Roll")]
        [ArgumentCompleter(typeof(ProtectionCompleter))]
        public string? Protection { get; set; }

        /// <summary>The passphrase of this host's current client keys (protection P); new P keys keep it unless -NewKeyPassphrase is given.</summary>
        [Parameter]
        [Alias("Passphrase")]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>A new passphrase for the new keys whose protection includes P (changes the passphrase).</summary>
        [Parameter(ParameterSetName = "Roll")]
        public SecureString? NewKeyPassphrase { get; set; }

        [Parameter(ParameterSetName = "Roll")]
        public SwitchParameter RestartHardserver { get; set; }

        /// <summary>Abandon an interrupted roll that has not switched the host yet.</summary>
        [Parameter(ParameterSetName = "Revert", Mandatory = true)]
        public SwitchParameter Revert { get; set; }

        /// <summary>
        /// Enrolled modules to leave out of the roll (unreachable or away): the host keeps the keys they accept, archived,
        /// until Invoke-HsmEnroll or Update-HsmSshKey brings them up to date.
        /// </summary>
        [Parameter(ParameterSetName = "Roll")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[]? ExcludeEsn { get; set; }

        /// <summary>
        /// Modules piped in by their Esn property (Get-HsmModule -HostPath A | Update-HsmSshKey): they pick the host, and each
        /// must be enrolled on it. A roll always covers every enrolled module of the host, since they all hold the same
        /// client keys: leave modules out with -ExcludeEsn.
        /// </summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[]? Esn { get; set; }

        private readonly List<(string? HostPath, List<string> Esns)> _byHost = new List<(string?, List<string>)>();

        protected override void ProcessRecord()
        {
            var hostPath = ResolvedHostPath;
            var index = _byHost.FindIndex(h => string.Equals(h.HostPath, hostPath, System.StringComparison.Ordinal));
            if (index < 0)
            {
                _byHost.Add((hostPath, new List<string>()));
                index = _byHost.Count - 1;
            }
            if (Esn != null) _byHost[index].Esns.AddRange(ParseEsns(Esn));
        }

        protected override void EndProcessing()
        {
            if (_byHost.Count == 0) _byHost.Add((ResolvedHostPath, new List<string>()));
            foreach (var (hostPath, esns) in _byHost)
            {
                CurrentHostPath = hostPath;
                RollHost(hostPath, esns);
            }
        }

        private void RollHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).Distinct().ToArray() ?? ModuleServices.All.ToArray();
            var protection = Protection == null ? ProtectionSpec.Default : Engine(() => ProtectionSpec.Parse(Protection));
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            foreach (var esn in esns.Distinct(System.StringComparer.OrdinalIgnoreCase))
                if (Engine(() => store.GetModule(esn)) == null)
                    Fail(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"Module {esn} is not enrolled with the host store {store.Root}, so a key " +
                        "roll there does not reach it (another host: -HostPath). " +
                        "Nothing was changed.", esn));
            var newPassphrase = RollPassphrases(store, services, protection);

            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, ModuleServices.All)))
            using (LockForChange(host.Store))
            {
                // A passphrase-changing roll interrupted mid-switch leaves some current keys under the new passphrase: while
                // its journal is open, each key opens under either (HsmHost tries both), so Verify must know the new one first.
                if (Engine(() => store.ReadDocument<RollJournal>(RollJournal.DocumentName)) != null) host.NewKeyPassphrase = newPassphrase;
                KeyPassphrases.Verify(this, host, ModuleServices.All);
                var roll = new RollOperation(host)
                {
                    Algorithm = Engine(() => SshAlgorithmNames.Parse(Algorithm)),
                    Protection = protection,
                    NewKeyPassphrase = newPassphrase,
                    KeepCurrentProtection = Protection == null,
                };
                var request = new KeyRollRequest
                {
                    Services = services,
                    Exclude = ExcludeEsn,
                    Revert = Revert,
                    RestartHardserver = RestartHardserver,
                    ThrottleLimit = ThrottleLimit,
                };
                var result = RunOperation((reporter, ct) => roll.UpdateAsync(request, reporter, ct));
                if (result == null) return;
                WriteObject(result);
                if (result.Status == RollStatus.Completed) BackupReminder.Warn(this);
            }
        }

        /// <summary>
        /// Checks the passphrase parameters of a new roll and returns the new keys' passphrase when it changes (null: new P keys
        /// keep the host's key passphrase). Without -Protection each key keeps its protection; P is never put on ncoreapi.
        /// </summary>
        private SecureString? RollPassphrases(Store.HostStore store, string[] services, ProtectionSpec protection)
        {
            if (Revert || Engine(() => store.ReadDocument<RollJournal>(RollJournal.DocumentName)) != null) return NewKeyPassphrase;
            if (Protection != null && protection.NeedsPassphrase && Service != null && services.Contains(ModuleServices.NCoreApi))
                Fail(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                    "Protection P is refused for ncoreapi: the hardserver loads that key unattended at every start and cannot type a passphrase. " +
                    "Roll ncoreapi without P (e.g. -Protection KFG). Nothing was changed.", ModuleServices.NCoreApi));
            bool newKeysNeedP = services.Any(s => Protection == null
                ? (Engine(() => store.GetClientKey(s))?.ProtectionSpec ?? protection.ForService(s)).NeedsPassphrase
                : protection.ForService(s).NeedsPassphrase);
            if (NewKeyPassphrase != null)
            {
                if (!newKeysNeedP)
                    Fail(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                        "A -NewKeyPassphrase was given but none of the new keys has protection P: add P to -Protection " +
                        "(e.g. KFGP) or leave -NewKeyPassphrase out. Nothing was changed.", Protection));
                // One passphrase per host: a change must cover every key that has P.
                var left = Engine(() => KeyPassphrases.Protected(store, ModuleServices.All.Except(services)));
                if (left.Count > 0)
                    Fail(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                        "Changing the passphrase must cover every client key protected with it, " +
                        $"and {string.Join(", ", left)} would keep the old one: " +
                        "add them to -Service, or leave -Service out. Nothing was changed.", string.Join(",", left)));
                return KeyPassphrases.NewPassphrase(this, NewKeyPassphrase, nameof(NewKeyPassphrase), "");
            }
            if (newKeysNeedP && KeyPassphrase == null && Engine(() => KeyPassphrases.Protected(store, ModuleServices.All)).Count == 0)
                return KeyPassphrases.NewPassphrase(this, null, nameof(NewKeyPassphrase),
                    $"The new client keys for {string.Join(", ", services.Where(s => protection.ForService(s).NeedsPassphrase))} get protection P.");
            if (Protection != null && protection.NeedsPassphrase && services.Contains(ModuleServices.NCoreApi))
                WriteWarning($"The ncoreapi client key gets protection {protection.ForService(ModuleServices.NCoreApi)}, without P: " +
                    "the hardserver loads it unattended at every start and cannot type a passphrase.");
            return null;
        }
    }
}
