using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Move-HsmModule: the vendor's `hsmadmin keys migrate --privkeyfile`, run on the source host.</summary>
    [Cmdlet(VerbsCommon.Move, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "File")]
    [OutputType(typeof(HsmMoveResult))]
    public sealed class MoveHsmModuleCommand : HsmFleetCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public override string[]? Esn { get; set; }

        /// <summary>The destination host's portable sshadmin backup (Backup-HsmSshKey -Passphrase on the destination).</summary>
        [Parameter(Mandatory = true, ParameterSetName = "File")]
        [ValidateNotNullOrEmpty]
        public string PrivateKeyFile { get; set; } = "";

        /// <summary>Split custody: any K share files of the destination's Backup-HsmSshKey -Shares split, instead of -PrivateKeyFile.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Shares")]
        [ValidateNotNullOrEmpty]
        public string[] SharePath { get; set; } = new string[0];

        /// <summary>The portable backup's passphrase; with -SharePath only when the split was made with -Passphrase.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "File")]
        [Parameter(ParameterSetName = "Shares")]
        public SecureString? Passphrase { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var shares = ParameterSetName == "Shares" ? SharePath.Select(ResolvePath).ToList() : null;
            var path = shares != null ? KeyShares.Describe(shares) : ResolvePath(PrivateKeyFile);
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            using (var backup = Engine(() => shares != null
                       ? KeyShares.Read(shares, Passphrase, Cancellation)
                       : KeyBackup.Read(host.Store, path, Passphrase, Cancellation)))
            {
                KeyPassphrases.Verify(this, host, services);
                if (!backup.Portable)
                    Fail(new HsmException(HsmErrorIds.NotAnOpenSshKey, HsmErrorKind.InvalidArgument,
                        $"'{path}' is a verbatim backup. A move needs the destination's portable backup: " +
                        "run Backup-HsmSshKey -Passphrase on the destination host.", path));
                // The passphrase only opens the destination's existing backup: never refused by the policy, but a weak one is said.
                if (Passphrase != null && Protection.PassphrasePolicy.IsWeak(Passphrase))
                    WriteWarning($"The passphrase of '{path}' is weaker than new passphrases may be " +
                        $"({Protection.PassphrasePolicy.Rule}). " +
                        "After the move, delete the transfer file; for the next one, back up with a passphrase that meets the policy.");
                var modules = SelectModules(Engine(() => host.Attached()), esns);
                var move = new MoveOperation(host, backup.Key);
                RunOperation((reporter, ct) => move.MoveAllAsync(modules, ThrottleLimit, reporter, ct));
            }
        }
    }
}
