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
    public sealed class MoveHsmModuleCommand : HsmCmdlet, IChangesHost
    {
        private readonly List<string> _esns = new List<string>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[] Esn { get; set; } = new string[0];

        /// <summary>The destination host's portable sshadmin backup (Backup-HsmSshKey -Passphrase on the destination).</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string PrivateKeyFile { get; set; } = "";

        [Parameter(Mandatory = true)]
        public SecureString Passphrase { get; set; } = new SecureString();

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void ProcessRecord() => _esns.AddRange(Esn.Select(e => Engine(() => Store.Esn.Parse(e))));

        protected override void EndProcessing()
        {
            var path = ResolvePath(PrivateKeyFile);
            var store = Engine(() => Store.HostStore.Open(ResolvedHostPath));
            var services = new[] { ModuleServices.SshAdmin };
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            using (var backup = Engine(() => KeyBackup.Read(host.Store, path, Passphrase, Cancellation)))
            {
                // An open roll or restore journal covers the modules: changing one under it breaks the roll.
                Engine(() => EnrollJournal.EnsureNoOpenRoll(host, "Handing a module over mid-roll would leave the roll waiting on a module that no longer accepts this host, so nothing was moved."));
                KeyPassphrases.Verify(this, host, services);
                if (!backup.Portable)
                    Fail(new HsmException(HsmErrorIds.NotAnOpenSshKey, HsmErrorKind.InvalidArgument,
                        $"'{path}' is a verbatim backup. A move needs the destination's portable backup: run Backup-HsmSshKey -Passphrase on the destination host.", path));
                var modules = ModuleSelection.Select(this, Engine(() => host.Attached()), _esns)
                    .Where(m => ShouldProcess($"module {m.Esn}", $"Hand over to the host whose sshadmin key is {backup.Key.PublicKey.Fingerprint} and release it from this host")).ToList();
                var move = new MoveOperation(host, backup.Key);
                var fleet = new FleetRunner(this);
                fleet.Run(modules, m => m.Esn, async (m, ct) => fleet.WriteObject(await move.MoveAsync(m, ct).ConfigureAwait(false)),
                    ThrottleLimit, "Moving modules to another host", Cancellation);
            }
        }
    }
}
