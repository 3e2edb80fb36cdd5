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

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new ResetModuleOperation(), Modules(new ResetModuleRequest { KeyPassphrase = KeyPassphrase }, esns));
    }
}
