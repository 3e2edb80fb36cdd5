using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Set-HsmModuleTime: the vendor's `hsmadmin settime [--adjust]`, from this host's UTC time.</summary>
    [Cmdlet(VerbsCommon.Set, "HsmModuleTime", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmModuleTimeResult))]
    public sealed class SetHsmModuleTimeCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>Slew the (valid) clock gradually instead of stepping it: for periodic use while the module is operational.</summary>
        [Parameter]
        public SwitchParameter Adjust { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "set the clock of");
            // A host without client keys reaches its (factory-state) modules with the factory credential only.
            var services = store.GetClientKey(ModuleServices.SshAdmin) == null ? new string[0] : new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var request = new SetModuleTimeRequest
                {
                    Modules = SelectModules(Engine(() => host.Attached()), esns), Adjust = Adjust, ThrottleLimit = ThrottleLimit,
                };
                var operation = new ModuleTimeOperation(host);
                RunOperation((reporter, ct) => operation.SetAllAsync(request, reporter, ct));
            }
        }
    }
}
