using System.IO;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Backup-HsmSshKey: the vendor's `hsmadmin keys backup [--passphrase]`.</summary>
    [Cmdlet(VerbsData.Backup, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(FileInfo))]
    public sealed class BackupHsmSshKeyCommand : HsmCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>Makes a portable backup under this passphrase instead of the host-tied verbatim copy.</summary>
        [Parameter]
        public SecureString? Passphrase { get; set; }

        /// <summary>Passphrase of the host's client keys (the current sshadmin key), if their protection includes P; prompted for when needed in an interactive host.</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void EndProcessing()
        {
            var path = ResolvePath(Path);
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            var what = Passphrase != null ? "Write a portable, passphrase-protected backup of the sshadmin client key" : "Write a verbatim (host-tied) backup of the sshadmin client key";
            if (!ShouldProcess(path, what)) return;
            // Only a portable backup decrypts the key; a verbatim one copies the file as it is, P included.
            var keyPassphrase = Passphrase == null ? KeyPassphrase : KeyPassphrases.Resolve(this, store, KeyPassphrase, new[] { ModuleServices.SshAdmin });
            Engine(() => KeyBackup.Write(store, path, Passphrase, Force, keyPassphrase));
            WriteObject(new FileInfo(path));
        }
    }
}
