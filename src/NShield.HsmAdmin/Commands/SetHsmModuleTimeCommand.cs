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

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new SetModuleTimeOperation(), Modules(new SetTimeRequest { Adjust = Adjust, KeyPassphrase = KeyPassphrase }, esns));
    }
}
