using System;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmSshKey: the vendor's `hsmadmin keys show`. Public keys only, read from the host store.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmSshKey", DefaultParameterSetName = "Host")]
    [OutputType(typeof(HsmSshKeyInfo), ParameterSetName = new[] { "Host" })]
    [OutputType(typeof(HsmModuleKeyInfo), ParameterSetName = new[] { "Module" })]
    public sealed class GetHsmSshKeyCommand : HsmModuleCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [SupportsWildcards]
        [EsnParameter(Wildcards = true)]
        public string[]? Esn { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>Only the host's client keys, or only the modules' server keys.</summary>
        [Parameter(ParameterSetName = "Host")]
        public HsmKeyRole[]? Role { get; set; }

        /// <summary>Ask each module which client keys it holds (keys.list) and compare them with the host's: Current, Stale, Missing.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Module")]
        public SwitchParameter Module { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (-Module opens the sshadmin key).</summary>
        [Parameter(ParameterSetName = "Module")]
        public System.Security.SecureString? KeyPassphrase { get; set; }

        protected override void ProcessRecord()
        {
            ValidateBoundEsns();
            Run(new GetSshKeyOperation(), new GetSshKeyRequest
            {
                Patterns = Esn, Services = Service ?? System.Array.Empty<string>(), Roles = Role, Module = Module, KeyPassphrase = KeyPassphrase,
            });
        }
    }
}
