using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What Backup-HsmSshKey was asked: where (a full path), portable (with a passphrase) or host-tied.</summary>
    public sealed class BackupRequest : HostRequest
    {
        public string Path { get; set; } = "";
        /// <summary>The portable backup's passphrase; asked for twice when not given.</summary>
        public SecureString? Passphrase { get; set; }
        /// <summary>A verbatim copy of the key file with its protection.</summary>
        public bool HostTied { get; set; }
        /// <summary>The passphrase of the host's current sshadmin key, if its protection includes P.</summary>
        public SecureString? KeyPassphrase { get; set; }
        /// <summary>Replace an existing file.</summary>
        public bool Force { get; set; }
        /// <summary>Split custody: write this many share files instead of one backup (0: one backup file).</summary>
        public int Shares { get; set; }
        /// <summary>How many of the shares restore the key.</summary>
        public int Threshold { get; set; }
    }

    /// <summary>
    /// Backup-HsmSshKey (the vendor's hsmadmin keys backup): warns while an open roll will replace the key, refuses a target
    /// before asking for any passphrase, then writes the backup owner-only. Reports the written backup
    /// (<see cref="KeyBackup.Written"/>).
    /// </summary>
    public sealed class BackupOperation : IHsmOperation<BackupRequest>
    {
        public Task RunAsync(BackupRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            var what = request.HostTied ? "Write a verbatim (host-tied) backup of the sshadmin client key"
                : "Write a portable, passphrase-protected backup of the sshadmin client key";
            // A roll that replaces the sshadmin key makes this backup stale when it finishes (issue 21).
            if (OpenOperations.Read(store) is { } open && open.Services.Contains(ModuleServices.SshAdmin))
                reporter.Warning("This backs up the sshadmin key in use now, which the open key " +
                    $"{open.Kind.ToLowerInvariant()} replaces when it finishes: back it up again afterwards. " + open.Describe());
            if (request.Shares > 0)
            {
                WriteShares(store, request, reporter);
                return Task.CompletedTask;
            }
            if (!reporter.ShouldProcess(request.Path, what)) return Task.CompletedTask;
            // Refusals that need no passphrase come before the prompt.
            KeyBackup.CheckTarget(store, request.Path, request.Force);
            SecureString? passphrase = null, keyPassphrase = request.KeyPassphrase;
            if (!request.HostTied)
            {
                passphrase = KeyPassphrases.NewBackupPassphrase(request.Passphrase, "Passphrase",
                    "Type the passphrase that will protect the portable backup of the sshadmin key (you need it to restore the backup).",
                    ", or ask for a verbatim copy tied to this OS install with -HostTied", reporter);
                // Only a portable backup decrypts the key; a verbatim one copies the file as it is, P included.
                keyPassphrase = KeyPassphrases.Resolve(store, request.KeyPassphrase, new[] { ModuleServices.SshAdmin }, reporter);
            }
            var written = KeyBackup.Write(store, request.Path, passphrase, request.Force, keyPassphrase);
            if (written.TiedToThisInstall) reporter.Warning(written.Note);
            reporter.Result(written);
            return Task.CompletedTask;
        }

        /// <summary>Shares N, threshold K: N owner-only share files of a portable backup; no passphrase prompt (the shares replace it).</summary>
        private static void WriteShares(HostStore store, BackupRequest request, IOperationReporter reporter)
        {
            var (path, n, k) = (request.Path, request.Shares, request.Threshold);
            var target = $"{path}.1-of-{n}{KeyShares.FileSuffix} ... {path}.{n}-of-{n}{KeyShares.FileSuffix}";
            var what = $"Split a portable backup of the sshadmin client key into {n} shares, any {k} of which restore it";
            if (!reporter.ShouldProcess(target, what)) return;
            KeyShares.CheckTarget(store, path, n, k, request.Force);
            var keyPassphrase = KeyPassphrases.Resolve(store, request.KeyPassphrase, new[] { ModuleServices.SshAdmin }, reporter);
            foreach (var share in KeyShares.Write(store, path, n, k, request.Passphrase, request.Force, keyPassphrase))
                reporter.Result(share);
        }
    }

    /// <summary>What Restore-HsmSshKey was asked.</summary>
    public sealed class RestoreRequest : HostRequest, IKeyChangeRequest
    {
        /// <summary>The backup file (a full path).</summary>
        public string Path { get; set; } = "";
        /// <summary>Split custody: any K share files (full paths) of one split, instead of <see cref="Path"/>.</summary>
        public IReadOnlyList<string>? SharePaths { get; set; }
        /// <summary>The passphrase of a portable backup.</summary>
        public SecureString? Passphrase { get; set; }
        /// <summary>The passphrase of the host's client keys (P); also opens a verbatim backup of a key protected with P.</summary>
        public SecureString? KeyPassphrase { get; set; }
        /// <summary>sshadmin server key fingerprints confirmed out of band.</summary>
        public IReadOnlyList<string> AcceptFingerprints { get; set; } = Array.Empty<string>();
        public int ThrottleLimit { get; set; } = 16;
        /// <summary>-WhatIf: no store lock is taken.</summary>
        public bool WhatIf { get; set; }
        /// <summary>The same pipeline backs the sshadmin key up next, so the backup reminder is not needed.</summary>
        public bool BackupFollows { get; set; }

        /// <summary>How messages name the backup: the file, or the share files.</summary>
        internal string BackupDescription => SharePaths != null ? KeyShares.Describe(SharePaths) : Path;
    }

    /// <summary>Restore-HsmSshKey (the vendor's hsmadmin keys restore): puts a backed-up sshadmin key back on the host and its modules.</summary>
    public sealed class RestoreKeyOperation : IHsmOperation<RestoreRequest>
    {
        public async Task RunAsync(RestoreRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.Open(request.HostPath);
            var backupNeedsP = KeyBackup.VerbatimProtection(request.BackupDescription)?.NeedsPassphrase == true;
            var passphrase = KeyPassphrases.Resolve(store, request.KeyPassphrase, ModuleServices.All, reporter,
                backupNeedsP ? "the verbatim backup" : null);
            using (var host = request.OpenHost(store, passphrase))
            using (request.WhatIf ? null : store.AcquireLock(store.DefaultLockTimeout))
            {
                KeyPassphrases.Verify(host, ModuleServices.All);
                var result = await new RestoreOperation(host).RestoreAsync(request, reporter, cancellationToken).ConfigureAwait(false);
                if (result == null) return;
                reporter.Result(result);
                KeyBackupReminder.WarnIfChanged(request, result.Status == RollStatus.Completed, reporter);
            }
        }
    }

    /// <summary>What Move-HsmModule was asked: the modules, and the destination host's portable sshadmin backup.</summary>
    public sealed class MoveRequest : ModulesRequest
    {
        /// <summary>The destination's portable backup (a full path).</summary>
        public string PrivateKeyFile { get; set; } = "";
        /// <summary>Split custody: any K share files (full paths) of the destination's split, instead of the file.</summary>
        public IReadOnlyList<string>? SharePaths { get; set; }
        public SecureString? Passphrase { get; set; }
    }

    /// <summary>
    /// Move-HsmModule (the vendor's hsmadmin keys migrate): installs the destination's sshadmin key on each module and
    /// releases it from this host. Only a portable backup can be the destination's key.
    /// </summary>
    public sealed class MoveModuleOperation : IHsmOperation<MoveRequest>
    {
        public async Task RunAsync(MoveRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            var services = new[] { ModuleServices.SshAdmin };
            using (var opened = HostModules.Open(store, request, services, "move", reporter))
            using (var backup = request.SharePaths != null
                       ? KeyShares.Read(request.SharePaths.ToList(), request.Passphrase, cancellationToken)
                       : KeyBackup.Read(store, request.PrivateKeyFile, request.Passphrase, cancellationToken))
            {
                // The passphrase only opens the destination's existing backup: never refused by the policy, but a weak one is said.
                if (request.Passphrase != null && PassphrasePolicy.IsWeak(request.Passphrase))
                    reporter.Warning($"The passphrase of '{request.PrivateKeyFile}' is weaker than new passphrases may be " +
                        $"({PassphrasePolicy.Rule}). After the move, delete the transfer file; for the next one, back up with a passphrase " +
                        "that meets the policy.");
                if (!backup.Portable)
                    throw new HsmException(HsmErrorIds.NotAnOpenSshKey, HsmErrorKind.InvalidArgument,
                        $"'{request.PrivateKeyFile}' is a verbatim backup. A move needs the destination's portable backup: " +
                        "run Backup-HsmSshKey -Passphrase on the destination host.", request.PrivateKeyFile);
                await new MoveOperation(opened.Host, backup.Key)
                    .MoveAllAsync(opened.Modules.ToList(), request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
