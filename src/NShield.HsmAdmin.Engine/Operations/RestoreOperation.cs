using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `keys restore`, first half: the sshadmin key from a backup is proven against the
    /// modules and made the host's; the second half (new keys for every other service, installed through
    /// sshadmin) is a <see cref="RollOperation"/> of kind Restore.
    /// </summary>
    public sealed class RestoreOperation
    {
        private readonly HsmHost _host;
        public RestoreOperation(HsmHost host) { _host = host; }

        /// <summary>True when the module accepts the key on sshadmin; pins the module first if the host lost its pins (chain-verified).</summary>
        public async Task<bool> AcceptsAsync(ModuleAddress module, SshKeyPair key, CancellationToken ct)
        {
            try
            {
                if (_host.Store.GetPin(module.Esn, ModuleServices.SshAdmin) == null)
                    return await PinFromCertificateAsync(module, key, ct).ConfigureAwait(false);
                using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct, key).ConfigureAwait(false))
                    await ModuleIdentity.ReadAsync(admin, ct).ConfigureAwait(false);
                return true;
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed) { return false; }
        }

        private async Task<bool> PinFromCertificateAsync(ModuleAddress module, SshKeyPair key, CancellationToken ct)
        {
            using (var admin = await _host.TransportFor(module).OpenAsync(module, ModuleServices.SshAdmin, key, ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false))
            {
                var identity = await ModuleIdentity.ReadAsync(admin, ct).ConfigureAwait(false);
                var reason = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, admin.ServerKey);
                if (reason != null)
                    throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                        $"This host has no pins for module {module.Esn} and its server keys cannot be verified ({reason}); nothing was changed. " +
                        "Configure the vendor root (Add-HsmTrustedRoot) or enroll the module.", module.Esn);
                _host.Store.SetPins(module.Esn, identity.ServerKeys);
                if (_host.Store.GetModule(module.Esn) == null)
                    _host.Store.UpsertModule(new ModuleRecord { Esn = module.Esn, Status = ModuleStatus.Enrolled, EnrolledAt = DateTimeOffset.UtcNow });
                return true;
            }
        }

        /// <summary>Makes the backup's key the host's sshadmin key (unless it already is).</summary>
        public void InstallSshAdminKey(KeyBackup.Opened backup)
        {
            var current = _host.Store.GetClientKey(ModuleServices.SshAdmin);
            if (current != null && current.Fingerprint == backup.Key.PublicKey.Fingerprint) return;
            // A verbatim backup keeps its protection, P included (under the host's key passphrase); a portable one gets the default.
            var protection = backup.Protection ?? ProtectionSpec.Default;
            if (protection.NeedsPassphrase && _host.KeyPassphrase == null)
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    "The backed-up sshadmin key is protected with a passphrase (P): give it with -KeyPassphrase.", ModuleServices.SshAdmin);
            _host.Store.SaveClientKey(ModuleServices.SshAdmin, backup.Key, protection, protection.NeedsPassphrase ? _host.KeyPassphrase : null);
            _host.ForgetClientKey(ModuleServices.SshAdmin);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = "keys.restore", Service = ModuleServices.SshAdmin, Result = "Success",
                Fingerprints = new[] { backup.Key.PublicKey.Fingerprint }, Detail = backup.Portable ? "portable backup" : "verbatim backup",
            });
        }
    }
}
