using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Restart-HsmModule: the vendor's `hsmadmin reset` (reboot), waiting until each module answers again.</summary>
    [Cmdlet(VerbsLifecycle.Restart, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmModuleRestartResult))]
    public sealed class RestartHsmModuleCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>
        /// Boot the recovery image, as with the recovery button held (the vendor's way into Recovery mode): a factory reset
        /// into Recovery mode; the host forgets the module's pins.
        /// </summary>
        [Parameter]
        public SwitchParameter Recovery { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "restart");
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var request = new RestartModuleRequest
                {
                    Modules = SelectModules(Engine(() => host.Attached()), esns), Recovery = Recovery, TimeoutSeconds = Timeout,
                    ThrottleLimit = ThrottleLimit,
                };
                var operation = new RestartOperation(host);
                RunOperation((reporter, ct) => operation.RestartAllAsync(request, reporter, ct));
            }
        }
    }
}
