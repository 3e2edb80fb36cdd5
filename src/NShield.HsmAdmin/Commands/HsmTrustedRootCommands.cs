using System.IO;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>A vendor root this host trusts to vouch for module server keys (warrant and certificates).</summary>
    public sealed class HsmTrustedRootInfo
    {
        public string Name { get; set; } = "";
        public string Algorithm { get; set; } = "";
        public string Fingerprint { get; set; } = "";
        public string PublicKey { get; set; } = "";
        public string Path { get; set; } = "";
        /// <summary>The host store that trusts it (binds to -HostPath down the pipeline).</summary>
        public string HostPath { get; set; } = "";

        internal static HsmTrustedRootInfo From(TrustedRoot root) => new HsmTrustedRootInfo
        {
            Name = root.Name, Algorithm = root.PublicKey.Algorithm.ToString(), Fingerprint = root.PublicKey.Fingerprint,
            PublicKey = root.PublicKey.ToAuthorizedKeysLine(), Path = root.Path,
            HostPath = System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(root.Path)) ?? "",
        };
    }

    /// <summary>Get-HsmTrustedRoot: the vendor roots this host trusts.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmTrustedRoot")]
    [OutputType(typeof(HsmTrustedRootInfo))]
    public sealed class GetHsmTrustedRootCommand : HsmCmdlet
    {
        [Parameter(Position = 0)]
        [SupportsWildcards]
        public string Name { get; set; } = "*";

        protected override void ProcessRecord()
        {
            var pattern = new WildcardPattern(Name, WildcardOptions.IgnoreCase);
            foreach (var root in Engine(() => HostStore.OpenExisting(ResolvedHostPath).GetTrustedRoots()).Where(r => pattern.IsMatch(r.Name)))
                WriteObject(HsmTrustedRootInfo.From(root));
        }
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

        protected override void ProcessRecord()
        {
            var line = ParameterSetName == "File" ? Engine(() => ReadKeyFile(ResolvePath(PublicKeyFile))) : PublicKey;
            var key = Engine(() => SshPublicKey.Parse(line));
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            var added = RunOperation((reporter, ct) => Operations.TrustedRootOperation.AddAsync(store, Name, key, Force, reporter));
            if (added != null) WriteObject(HsmTrustedRootInfo.From(added));
        }

        private static string ReadKeyFile(string path) => File.Exists(path)
            ? File.ReadAllText(path).Trim()
            : throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound, $"'{path}' does not exist.", path);
    }

    /// <summary>Remove-HsmTrustedRoot: stop trusting a vendor root.</summary>
    [Cmdlet(VerbsCommon.Remove, "HsmTrustedRoot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    public sealed class RemoveHsmTrustedRootCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Name { get; set; } = "";

        protected override void ProcessRecord()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            RunOperation((reporter, ct) => Operations.TrustedRootOperation.RemoveAsync(store, Name, reporter));
        }
    }
}
