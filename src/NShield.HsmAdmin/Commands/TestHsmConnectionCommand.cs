using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Test-HsmConnection: per module and service, the pin matches and the host's key authenticates.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "HsmConnection", DefaultParameterSetName = "Default")]
    [OutputType(typeof(bool))]
    [OutputType(typeof(HsmConnectionTestResult), ParameterSetName = new[] { "Detailed" })]
    public sealed class TestHsmConnectionCommand : HsmFleetCmdlet
    {
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>One object per module and service instead of a single $true/$false.</summary>
        [Parameter(ParameterSetName = "Detailed")]
        public SwitchParameter Detailed { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new TestConnectionOperation(), Modules(new TestConnectionRequest
            {
                Services = Service ?? Array.Empty<string>(), Detailed = Detailed, KeyPassphrase = KeyPassphrase,
            }, esns));
    }
}
