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
    public sealed class ResetHsmModuleCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>The modules to reset; without it, every module registered with the host (one confirmation lists them).</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public override string[]? Esn { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "reset");
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var modules = SelectModules(Engine(() => host.Attached()), esns);
                var reset = new ResetOperation(host);
                RunOperation((reporter, ct) => reset.ResetAllAsync(modules, esns.Count == 0, Timeout, ThrottleLimit, reporter, ct));
            }
        }
    }
}
