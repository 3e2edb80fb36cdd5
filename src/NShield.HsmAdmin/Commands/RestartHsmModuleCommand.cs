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

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new RestartModulesOperation(), Modules(new RestartRequest { Recovery = Recovery, KeyPassphrase = KeyPassphrase }, esns));
    }
}
