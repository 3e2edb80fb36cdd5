using System.Management.Automation;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmTrustedRoot: the vendor roots this host trusts.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmTrustedRoot")]
    [OutputType(typeof(HsmTrustedRootInfo))]
    public sealed class GetHsmTrustedRootCommand : HsmCmdlet
    {
        [Parameter(Position = 0)]
        [SupportsWildcards]
        public string Name { get; set; } = "*";

        protected override void ProcessRecord() => Run(new GetTrustedRootOperation(), new GetTrustedRootRequest { Name = Name });
    }

    /// <summary>Add-HsmTrustedRoot: trust a vendor root public key (authorized_keys line or a .pub file).</summary>
    [Cmdlet(VerbsCommon.Add, "HsmTrustedRoot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmTrustedRootInfo))]
    public sealed class AddHsmTrustedRootCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidatePattern("^[A-Za-z0-9._-]{1,64}$")]
        public string Name { get; set; } = "";

        [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Key")]
        [ValidateNotNullOrEmpty]
        public string PublicKey { get; set; } = "";

        [Parameter(Mandatory = true, ParameterSetName = "File")]
        [ValidateNotNullOrEmpty]
        public string PublicKeyFile { get; set; } = "";

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessRecord() => Run(new AddTrustedRootOperation(), new AddTrustedRootRequest
        {
            Name = Name,
            PublicKey = ParameterSetName == "File" ? null : PublicKey,
            PublicKeyFile = ParameterSetName == "File" ? ResolvePath(PublicKeyFile) : null,
            Force = Force,
        });
    }

    /// <summary>Remove-HsmTrustedRoot: stop trusting a vendor root.</summary>
    [Cmdlet(VerbsCommon.Remove, "HsmTrustedRoot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    public sealed class RemoveHsmTrustedRootCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; } = "";

        protected override void ProcessRecord() => Run(new RemoveTrustedRootOperation(), new RemoveTrustedRootRequest { Name = Name });
    }
}
