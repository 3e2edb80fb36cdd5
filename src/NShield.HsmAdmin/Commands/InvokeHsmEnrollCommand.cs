using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
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

        protected override void ProcessRecord()
        {
            if (Esn != null) _esns.AddRange(Esn.Select(e => Engine(() => Store.Esn.Parse(e))));
        }

        protected override void EndProcessing()
        {
            using (var host = Engine(() => HsmHost.Open(ResolvedHostPath)))
            using (LockForChange(host.Store)) // a roll and an enroll never run side by side
            {
                // An open roll or restore journal: modules enrolled now would get keys the roll then removes.
                Engine(() => EnrollJournal.EnsureNoOpenRoll(host));
                var operation = new EnrollOperation(host)
                {
                    Algorithm = Engine(() => Keys.SshAlgorithmNames.Parse(Algorithm)),
                    Protection = Protection == null ? ProtectionSpec.Default : Engine(() => ProtectionSpec.Parse(Protection)),
                    AcceptedFingerprints = AcceptFingerprint?.ToList() ?? new List<string>(),
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
