using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `keys migrate --privkeyfile`, on the source host: the module is made to accept the
    /// destination's sshadmin key, the key is proven, then the source's own keys are removed. The
    /// destination's private key exists only in memory here.
    /// </summary>
    internal sealed partial class MoveOperation
    {
        private readonly HsmHost _host;
        private readonly SshKeyPair _destination;

        public MoveOperation(HsmHost host, SshKeyPair destinationSshAdminKey) { _host = host; _destination = destinationSshAdminKey; }

        public async Task<HsmMoveResult> MoveAsync(ModuleAddress module, CancellationToken ct)
        {
            var destinationKey = _destination.PublicKey;
            var destinationFingerprint = _destination.PublicKey.Fingerprint;
            if (_host.HasClientKeys && _host.ClientKey(ModuleServices.SshAdmin).PublicKey.Fingerprint == destinationFingerprint)
                throw new HsmException(HsmErrorIds.MigrationKeyRejected, HsmErrorKind.InvalidArgument,
                    "The key file holds this host's own sshadmin key. Use the backup made on the " +
                    "destination host (Backup-HsmSshKey -Passphrase there).", module.Esn);

            // Step 1: install the destination's key beside ours. Skipped when an earlier run got further.
            try
            {
                using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
                {
                    ModuleClock.RequireValidForKeyChange(module.Esn,
                        await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false), "the move");
                    await admin.AddKeyAsync(ModuleServices.SshAdmin, destinationKey, ct).ConfigureAwait(false);
                }
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed)
            {
                // Our key is no longer accepted: an earlier run may have released the module already; step 2 tells.
            }
            CrashPoints.Reach("move.added");

            // Step 2: prove the destination's key works, on the pinned server key; step 3: release the module.
            try
            {
                using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, _destination).ConfigureAwait(false))
                {
                    ModuleClock.RequireValidForKeyChange(module.Esn,
                        await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false), "the move");
                    CrashPoints.Reach("move.proven");
                    foreach (var service in ModuleServices.All.Where(s => s != ModuleServices.SshAdmin))
                        await admin.SetKeysAsync(service, Array.Empty<Keys.SshPublicKey>(), ct).ConfigureAwait(false);
                    CrashPoints.Reach("move.services-released");
                    await admin.SetKeysAsync(ModuleServices.SshAdmin, new[] { destinationKey }, ct).ConfigureAwait(false);
                }
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed)
            {
                throw new HsmException(HsmErrorIds.MigrationKeyRejected, HsmErrorKind.AuthenticationError,
                    $"Module {module.Esn} does not accept the destination's sshadmin key, so " +
                    "it was not released; it still works with this host's keys. " +
                    "Check that this host's keys are valid (Test-HsmConnection) and run Move-HsmModule again.", module.Esn, ex);
            }
            CrashPoints.Reach("move.released");

            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                var record = _host.Store.GetModule(module.Esn) ?? new ModuleRecord { Esn = module.Esn };
                record.Status = ModuleStatus.Released;
                record.ReleasedTo = destinationFingerprint;
                record.ReleasedAt = DateTimeOffset.UtcNow;
                _host.Store.UpsertModule(record);
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = "keys.migrate", Esn = module.Esn, Service = ModuleServices.SshAdmin, Result = "Released",
                    Fingerprints = new[] { destinationFingerprint },
                });
            }
            return new HsmMoveResult
            {
                Esn = module.Esn, Status = "Released", DestinationKeyFingerprint = destinationFingerprint, HostPath = _host.Path,
                Message = "The module now accepts only the destination's sshadmin key. Remove it " +
                    "from this host, run Invoke-HsmEnroll here to refresh the list, " +
                          "then install it in the destination and run Invoke-HsmEnroll there. It can wait as a cold standby meanwhile.",
            };
        }
    }
}
