using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Set-HsmSshKeyPermission: lets a group use one service's client key (the vendor's nfast group for
    /// ncoreapi), or makes it owner-only again.</summary>
    [Cmdlet(VerbsCommon.Set, "HsmSshKeyPermission", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium,
        DefaultParameterSetName = GrantSet)]
    [OutputType(typeof(HsmSshKeyInfo))]
    public sealed class SetHsmSshKeyPermissionCommand : HsmCmdlet, IChangesHost
    {
        private const string GrantSet = "Grant";
        private const string OwnerOnlySet = "OwnerOnly";

        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string Service { get; set; } = "";

        /// <summary>The group that may read the key (Linux: a group name or gid; Windows: a group account).</summary>
        [Parameter(Mandatory = true, ParameterSetName = GrantSet)]
        [ValidateNotNullOrEmpty]
        public string Group { get; set; } = "";

        /// <summary>Revokes the grant: the key becomes readable by its owner only.</summary>
        [Parameter(Mandatory = true, ParameterSetName = OwnerOnlySet)]
        public SwitchParameter OwnerOnly { get; set; }

        protected override void ProcessRecord() =>
            Run(new SetKeyPermissionOperation(), new KeyPermissionRequest { Service = Service, Group = OwnerOnly ? null : Group });
    }
}
