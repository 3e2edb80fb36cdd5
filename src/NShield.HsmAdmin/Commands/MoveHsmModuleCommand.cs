using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Move-HsmModule: the vendor's `hsmadmin keys migrate --privkeyfile`, run on the source host.</summary>
    [Cmdlet(VerbsCommon.Move, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmMoveResult))]
    public sealed class MoveHsmModuleCommand : HsmFleetCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public override string[]? Esn { get; set; }

        /// <summary>The destination host's portable sshadmin backup (Backup-HsmSshKey -Passphrase on the destination).</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string PrivateKeyFile { get; set; } = "";

        [Parameter(Mandatory = true)]
        public SecureString Passphrase { get; set; } = new SecureString();

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var path = ResolvePath(PrivateKeyFile);
            var store = Engine(() => Store.HostStore.OpenExisting(hostPath));
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            using (var backup = Engine(() => KeyBackup.Read(host.Store, path, Passphrase, Cancellation)))
            {
                KeyPassphrases.Verify(this, host, services);
                if (!backup.Portable)
                    Fail(new HsmException(HsmErrorIds.NotAnOpenSshKey, HsmErrorKind.InvalidArgument,
                        $"'{path}' is a verbatim backup. A move needs the destination's portable backup: " +
                        "run Backup-HsmSshKey -Passphrase on the destination host.", path));
                // The passphrase only opens the destination's existing backup: never refused by the policy, but a weak one is said.
                if (Protection.PassphrasePolicy.IsWeak(Passphrase))
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
