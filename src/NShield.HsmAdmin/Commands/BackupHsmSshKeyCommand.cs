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
        private const string SharesSet = "Shares";

        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>
        /// The portable backup's passphrase; asked for twice in an interactive host when not given. With -Shares it is optional:
        /// the shares replace it (K custodians open the backup), and when given the backup inside is also encrypted under it.
        /// </summary>
        [Parameter(ParameterSetName = PortableSet)]
        [Parameter(ParameterSetName = SharesSet)]
        public SecureString? Passphrase { get; set; }

        /// <summary>
        /// Split custody: write this many share files (&lt;Path&gt;.&lt;i&gt;-of-&lt;N&gt;.share), any -Threshold of which restore the key.
        /// </summary>
        [Parameter(Mandatory = true, ParameterSetName = SharesSet)]
        public int Shares { get; set; }

        /// <summary>How many of the -Shares share files are needed to restore the key (2 or more).</summary>
        [Parameter(Mandatory = true, ParameterSetName = SharesSet)]
        public int Threshold { get; set; }

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
            Shares = ParameterSetName == SharesSet ? Shares : 0, Threshold = Threshold,
        });

        /// <summary>The file as the FileSystem provider shows it now (mode, owner, size; PSPath), with what kind of backup it is.</summary>
        protected internal override object Output(object result)
        {
            if (result is KeyBackup.Written written)
                return File(written.Path, ("BackupKind", written.Kind), ("Protection", written.Protection), ("BackupNote", written.Note));
            if (result is KeyShares.WrittenShare share)
                return File(share.Path, ("BackupKind", "Share"), ("ShareIndex", share.Index), ("Threshold", share.Threshold),
                    ("ShareCount", share.Count), ("BackupId", share.BackupId), ("Fingerprint", share.Fingerprint),
                    ("BackupNote", $"Share {share.Index} of {share.Count}: any {share.Threshold} shares of backup {share.BackupId} restore " +
                        "the key (Restore-HsmSshKey -SharePath, Move-HsmModule -SharePath). Give each share to a different custodian."));
            return result;
        }

        private PSObject File(string path, params (string Name, object Value)[] notes)
        {
            var output = InvokeProvider.Item.Get(new[] { path }, force: true, literalPath: true).FirstOrDefault()
                ?? PSObject.AsPSObject(new FileInfo(path));
            foreach (var (name, value) in notes) output.Properties.Add(new PSNoteProperty(name, value));
            return output;
        }
    }
}
