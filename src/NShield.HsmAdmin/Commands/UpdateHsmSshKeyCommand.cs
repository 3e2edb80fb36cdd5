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
    public sealed class UpdateHsmSshKeyCommand : HsmCmdlet
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

        /// <summary>The user passphrase for protection P (and to open current keys protected with P).</summary>
        [Parameter]
        public SecureString? Passphrase { get; set; }

        [Parameter(ParameterSetName = "Roll")]
        public SwitchParameter RestartHardserver { get; set; }

        /// <summary>Abandon an interrupted roll that has not switched the host yet.</summary>
        [Parameter(ParameterSetName = "Revert", Mandatory = true)]
        public SwitchParameter Revert { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void EndProcessing()
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).Distinct().ToArray() ?? ModuleServices.All.ToArray();
            var protection = Protection == null ? ProtectionSpec.Default : Engine(() => ProtectionSpec.Parse(Protection));
            if (protection.Contains(ProtectionInput.UserPassphrase) && Passphrase == null)
                Fail(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                    "Protection P needs the passphrase: give it with -Passphrase.", Protection));
            if (protection.Contains(ProtectionInput.UserPassphrase) && services.Contains(ModuleServices.NCoreApi))
                WriteWarning("The ncoreapi key will need a typed passphrase, but the hardserver loads it unattended at every start.");

            using (var host = Engine(() => HsmHost.Open(ResolvedHostPath, Passphrase)))
            using (LockForChange(host.Store))
            {
                var roll = new RollOperation(host)
                {
                    Algorithm = Engine(() => SshAlgorithmNames.Parse(Algorithm)), Protection = protection, NewKeyPassphrase = Passphrase,
                };
                var journal = Engine(() => roll.Interrupted);
                if (Revert)
                {
                    if (journal == null) { WriteWarning("No key roll is in progress; nothing to revert."); return; }
                    if (!ShouldProcess(host.Path, "Revert the interrupted key roll")) return;
                    WriteObject(RollRunner.Run(this, host, roll, journal, ThrottleLimit, revert: true, Cancellation));
                    return;
                }
                if (journal != null)
                {
                    WriteWarning($"Completing the key roll interrupted on {journal.StartedAt:u} ({string.Join(", ", journal.Services)}). Run Update-HsmSshKey again afterwards for a new roll.");
                    if (!ShouldProcess(host.Path, "Complete the interrupted key roll")) return;
                }
                else
                {
                    if (!host.HasClientKeys)
                        Fail(new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                            $"This host ({host.Path}) has no client keys to roll. Run Invoke-HsmEnroll first.", host.Path));
                    var modules = Engine(() => host.Attached().Where(m => host.Store.GetModule(m.Esn)?.Status == Store.ModuleStatus.Enrolled).ToList());
                    if (!ShouldProcess(host.Path, $"Roll the client keys for {string.Join(", ", services)} on {modules.Count} module(s)")) return;
                    // Firmware 13.5+ refuses key changes while a module's clock is invalid: refuse before anything is staged.
                    Engine(() => ModuleClock.RequireValidAsync(host, modules, "the key roll", Cancellation).GetAwaiter().GetResult());
                    journal = Engine(() => roll.Begin(services, modules, RollKinds.Roll));
                }
                var result = RollRunner.Run(this, host, roll, journal, ThrottleLimit, revert: false, Cancellation);
                if (result.HardserverRestartNeeded)
                {
                    if (RestartHardserver)
                    {
                        var hardserver = Engine(() => Hardserver.HardserverStatus.Restart(host));
                        WriteVerbose($"Restarted the hardserver ({hardserver.Description}).");
                        result.HardserverRestartNeeded = false;
                    }
                    else WriteWarning("The ncoreapi client key changed. The hardserver still holds the old one and cannot reach the modules until it restarts: " +
                        "run Restart-HsmHardserver (or use -RestartHardserver next time).");
                }
                WriteObject(result);
            }
        }
    }
}
