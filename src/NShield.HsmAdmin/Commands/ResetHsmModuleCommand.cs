using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Reset-HsmModule: the vendor's `hsmadmin factorystate`.</summary>
    [Cmdlet(VerbsCommon.Reset, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmModuleInfo))]
    public sealed class ResetHsmModuleCommand : HsmCmdlet, IChangesHost
    {
        private readonly List<string> _esns = new List<string>();

        /// <summary>The modules to reset; without it, every module registered with the host (one confirmation lists them).</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[] Esn { get; set; } = new string[0];

        /// <summary>Seconds to wait for the module to return to factory state (3 to 120, default 30).</summary>
        [Parameter]
        [ValidateRange(3, 120)]
        public int Timeout { get; set; } = 30;

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void ProcessRecord() => _esns.AddRange(Esn.Select(e => Engine(() => Store.Esn.Parse(e))));

        protected override void EndProcessing()
        {
            var store = Engine(() => Store.HostStore.Open(ResolvedHostPath));
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                // An open roll or restore journal covers the modules: changing one under it breaks the roll.
                Engine(() => EnrollJournal.EnsureNoOpenRoll(host, "A factory reset mid-roll erases keys the roll is installing or cleaning, so nothing was reset."));
                KeyPassphrases.Verify(this, host, services);
                var modules = ModuleSelection.Select(this, Engine(() => host.Attached()), _esns);
                if (modules.Count == 0) return;
                WriteWarning(ResetOperation.MaintenanceAdvice);
                modules = _esns.Count == 0
                    ? (ShouldProcess(ResetOperation.DescribeAll(modules), ResetOperation.Action) ? modules : new List<Drivers.ModuleAddress>())
                    : modules.Where(m => ShouldProcess($"module {m.Esn}", ResetOperation.Action)).ToList();
                var reset = new ResetOperation(host);
                var fleet = new FleetRunner(this);
                fleet.Run(modules, m => m.Esn, async (m, ct) => fleet.WriteObject(await reset.ResetAsync(m, Timeout, ct).ConfigureAwait(false)),
                    ThrottleLimit, "Returning modules to factory state", Cancellation);
            }
        }
    }
}
