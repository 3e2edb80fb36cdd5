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

        protected override void ProcessRecord()
        {
            var store = Engine(() => HostStore.OpenForKeyPermissions(ResolvedHostPath));
            var service = Engine(() => ModuleServices.Canonical(Service));
            var what = OwnerOnly ? "Make the client key readable by its owner only" : $"Let group '{Group}' read the client key";
            if (!ShouldProcess($"{service} client key in {store.Root}", what)) return;
            if (OwnerOnly)
            {
                if (!Engine(() => store.RevokeKeyAccess(service))) WriteWarning($"The {service} client key had no group grant; it is owner-only.");
            }
            else Engine(() => store.GrantKeyAccess(service, Group));
            foreach (var key in Engine(() => KeyInventory.ClientKeys(store).Where(k => k.Service == service).ToList()))
                WriteObject(key);
        }
    }
}
