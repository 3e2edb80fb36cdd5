using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Backup-HsmSshKey: the vendor's `hsmadmin keys backup [--passphrase]`; portable unless -HostTied is asked for.</summary>
    [Cmdlet(VerbsData.Backup, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PortableSet)]
    [OutputType(typeof(FileInfo))]
    public sealed class BackupHsmSshKeyCommand : HsmCmdlet
    {
        private const string PortableSet = "Portable";
        private const string HostTiedSet = "HostTied";

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>The portable backup's passphrase; asked for twice in an interactive host when not given.</summary>
        [Parameter(ParameterSetName = PortableSet)]
        public SecureString? Passphrase { get; set; }

        /// <summary>A verbatim copy of the key file with its protection (tied to this OS install with the default KFG).</summary>
        [Parameter(Mandatory = true, ParameterSetName = HostTiedSet)]
        public SwitchParameter HostTied { get; set; }

        /// <summary>Passphrase of the host's client keys (the current sshadmin key), if their protection includes P;
        /// prompted for when needed in an interactive host.</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>Results piped in (Invoke-HsmEnroll, Update-HsmSshKey, Restore-HsmSshKey ... | Backup-HsmSshKey):
        /// the backup is written once, after them.</summary>
        [Parameter(ValueFromPipeline = true)]
        public PSObject? InputObject { get; set; }

        protected override void EndProcessing() => Run(new BackupOperation(), new BackupRequest
        {
            Path = ResolvePath(Path), Passphrase = Passphrase, HostTied = HostTied, KeyPassphrase = KeyPassphrase, Force = Force,
        });

        /// <summary>The file as the FileSystem provider shows it now (mode, owner, size; PSPath), with what kind of backup it is.</summary>
        protected internal override object Output(object result)
        {
            if (!(result is KeyBackup.Written written)) return result;
            var output = InvokeProvider.Item.Get(new[] { written.Path }, force: true, literalPath: true).FirstOrDefault()
                ?? PSObject.AsPSObject(new FileInfo(written.Path));
            output.Properties.Add(new PSNoteProperty("BackupKind", written.Kind));
            output.Properties.Add(new PSNoteProperty("Protection", written.Protection));
            output.Properties.Add(new PSNoteProperty("BackupNote", written.Note));
            return output;
        }
    }
}
