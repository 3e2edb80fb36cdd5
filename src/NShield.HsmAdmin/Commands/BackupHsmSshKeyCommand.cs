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

        protected override void EndProcessing()
        {
            var path = ResolvePath(Path);
            var store = Engine(() => HostStore.OpenExisting(ResolvedHostPath));
            var what = HostTied ? "Write a verbatim (host-tied) backup of the sshadmin client key"
                : "Write a portable, passphrase-protected backup of the sshadmin client key";
            // A roll that replaces the sshadmin key makes this backup stale when it finishes (issue 21).
            if (OpenOperations.Read(store) is { } open && open.Services.Contains(ModuleServices.SshAdmin))
                WriteWarning("This backs up the sshadmin key in use now, which the open key " +
                    $"{open.Kind.ToLowerInvariant()} replaces when it finishes: " +
                    "back it up again afterwards. " + open.Describe());
            if (ParameterSetName == SharesSet)
            {
                WriteShares(store, path);
                return;
            }
            if (!ShouldProcess(path, what)) return;
            // Refusals that need no passphrase come before the prompt.
            Engine(() => KeyBackup.CheckTarget(store, path, Force));
            SecureString? passphrase = null, keyPassphrase = KeyPassphrase;
            if (!HostTied)
            {
                passphrase = KeyPassphrases.NewBackupPassphrase(this, Passphrase, nameof(Passphrase),
                    "Type the passphrase that will protect the portable backup of the sshadmin key (you need it to restore the backup).",
                    ", or ask for a verbatim copy tied to this OS install with -HostTied");
                // Only a portable backup decrypts the key; a verbatim one copies the file as it is, P included.
                keyPassphrase = KeyPassphrases.Resolve(this, store, KeyPassphrase, new[] { ModuleServices.SshAdmin });
            }
            var result = Engine(() => KeyBackup.Write(store, path, passphrase, Force, keyPassphrase));
            if (result.TiedToThisInstall) WriteWarning(result.Note);
            // The file as the FileSystem provider shows it now (mode, owner, size; PSPath), not an object made before it was written.
            var output = InvokeProvider.Item.Get(new[] { path }, force: true, literalPath: true).FirstOrDefault()
                ?? PSObject.AsPSObject(new FileInfo(path));
            output.Properties.Add(new PSNoteProperty("BackupKind", result.Kind));
            output.Properties.Add(new PSNoteProperty("Protection", result.Protection));
            output.Properties.Add(new PSNoteProperty("BackupNote", result.Note));
            WriteObject(output);
        }

        /// <summary>-Shares N -Threshold K: N owner-only share files of a portable backup; no passphrase prompt (the shares replace it).</summary>
        private void WriteShares(HostStore store, string path)
        {
            var target = $"{path}.1-of-{Shares}{KeyShares.FileSuffix} ... {path}.{Shares}-of-{Shares}{KeyShares.FileSuffix}";
            var what = $"Split a portable backup of the sshadmin client key into {Shares} shares, any {Threshold} of which restore it";
            if (!ShouldProcess(target, what)) return;
            Engine(() => KeyShares.CheckTarget(store, path, Shares, Threshold, Force));
            var keyPassphrase = KeyPassphrases.Resolve(this, store, KeyPassphrase, new[] { ModuleServices.SshAdmin });
            var written = Engine(() => KeyShares.Write(store, path, Shares, Threshold, Passphrase, Force, keyPassphrase));
            foreach (var share in written)
            {
                var output = InvokeProvider.Item.Get(new[] { share.Path }, force: true, literalPath: true).FirstOrDefault()
                    ?? PSObject.AsPSObject(new FileInfo(share.Path));
                output.Properties.Add(new PSNoteProperty("BackupKind", "Share"));
                output.Properties.Add(new PSNoteProperty("ShareIndex", share.Index));
                output.Properties.Add(new PSNoteProperty("Threshold", share.Threshold));
                output.Properties.Add(new PSNoteProperty("ShareCount", share.Count));
                output.Properties.Add(new PSNoteProperty("BackupId", share.BackupId));
                output.Properties.Add(new PSNoteProperty("Fingerprint", share.Fingerprint));
                output.Properties.Add(new PSNoteProperty("BackupNote",
                    $"Share {share.Index} of {share.Count}: any {share.Threshold} shares of backup {share.BackupId} restore the key " +
                    "(Restore-HsmSshKey -SharePath, Move-HsmModule -SharePath). Give each share to a different custodian."));
                WriteObject(output);
            }
        }
    }
}
