using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;
using ProtectionSpec = NShield.HsmAdmin.Protection.ProtectionSpec;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What Update-HsmSshKey was asked: the whole roll request in one place.</summary>
    public sealed class UpdateSshKeyRequest : HostRequest, IKeyChangeRequest
    {
        /// <summary>The services whose keys a new roll replaces (empty: all six).</summary>
        public IReadOnlyList<string> Services { get; set; } = Array.Empty<string>();
        public string Algorithm { get; set; } = "Ed25519";
        /// <summary>The new keys' protection as typed; null: each new key keeps the protection of the key it replaces.</summary>
        public string? Protection { get; set; }
        /// <summary>The passphrase of the host's current client keys (protection P).</summary>
        public SecureString? KeyPassphrase { get; set; }
        /// <summary>A new passphrase for the new P keys (changes the passphrase).</summary>
        public SecureString? NewKeyPassphrase { get; set; }
        public bool RestartHardserver { get; set; }
        /// <summary>Abandon an interrupted roll that has not switched the host yet.</summary>
        public bool Revert { get; set; }
        /// <summary>Enrolled modules to leave out of the roll.</summary>
        public IReadOnlyList<string>? ExcludeEsns { get; set; }
        /// <summary>Modules piped in: each must be enrolled on this host (a roll always covers every enrolled module).</summary>
        public IReadOnlyList<string> Esns { get; set; } = Array.Empty<string>();
        public int ThrottleLimit { get; set; } = 16;
        /// <summary>-WhatIf: no store lock is taken.</summary>
        public bool WhatIf { get; set; }
        /// <summary>The same pipeline backs the sshadmin key up next, so the backup reminder is not needed.</summary>
        public bool BackupFollows { get; set; }

        /// <summary>The services a new roll replaces, canonical, each once (all six when none was named).</summary>
        internal string[] CanonicalServices() =>
            Services.Count == 0 ? ModuleServices.All.ToArray() : Services.Select(ModuleServices.Canonical).Distinct().ToArray();
    }

    /// <summary>
    /// Update-HsmSshKey (the vendor's hsmadmin keys roll): completes or reverts an interrupted roll, or begins a new one.
    /// The store lock is held for the whole command and the roll journal is read once, under it; the passphrase rules
    /// (P never on ncoreapi, one passphrase per host) are decided here.
    /// </summary>
    public sealed class UpdateSshKeyOperation : IHsmOperation<UpdateSshKeyRequest>
    {
        public async Task RunAsync(UpdateSshKeyRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var services = request.CanonicalServices();
            var protection = request.Protection == null ? ProtectionSpec.Default : ProtectionSpec.Parse(request.Protection);
            var store = HostStore.OpenExisting(request.HostPath);
            foreach (var esn in request.Esns.Distinct())
                if (store.GetModule(esn) == null)
                    throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"Module {esn} is not enrolled with the host store {store.Root}, so a key roll there does not reach it " +
                        "(another host: -HostPath). Nothing was changed.", esn);
            using (request.WhatIf ? null : store.AcquireLock(store.DefaultLockTimeout))
            {
                var journal = store.ReadDocument<RollJournal>(RollJournal.DocumentName);
                var newPassphrase = NewKeysPassphrase(store, journal, request, services, protection, reporter);
                using (var host = request.OpenHost(store, KeyPassphrases.Resolve(store, request.KeyPassphrase, ModuleServices.All, reporter)))
                {
                    // A passphrase-changing roll interrupted mid-switch leaves some current keys under the new passphrase: while
                    // its journal is open each key opens under either (HsmHost tries both), so Verify must know the new one.
                    if (journal != null) host.NewKeyPassphrase = newPassphrase;
                    KeyPassphrases.Verify(host, ModuleServices.All);
                    // The new keys' passphrase (null: they keep the host's): the roll stages and opens them with it.
                    host.NewKeyPassphrase = newPassphrase;
                    var roll = new RollOperation(host, Keys.SshAlgorithmNames.Parse(request.Algorithm), protection,
                        keepCurrentProtection: request.Protection == null);
                    var result = await roll.UpdateAsync(request, journal, reporter, cancellationToken).ConfigureAwait(false);
                    if (result == null) return;
                    reporter.Result(result);
                    KeyBackupReminder.WarnIfChanged(request, result.Status == RollStatus.Completed, reporter);
                }
            }
        }

        /// <summary>
        /// Checks the passphrase parameters of a new roll and returns the new keys' passphrase when it changes (null: new P
        /// keys keep the host's key passphrase). Without a protection each key keeps its own; P is never put on ncoreapi.
        /// </summary>
        private static SecureString? NewKeysPassphrase(HostStore store, RollJournal? journal, UpdateSshKeyRequest request, string[] services,
            ProtectionSpec protection, IOperationReporter reporter)
        {
            if (request.Revert || journal != null) return request.NewKeyPassphrase;
            var serviceGiven = request.Services.Count > 0;
            if (request.Protection != null && protection.NeedsPassphrase && serviceGiven && services.Contains(ModuleServices.NCoreApi))
                throw Invalid("Protection P is refused for ncoreapi: the hardserver loads that key unattended at every start and cannot " +
                    "type a passphrase. Roll ncoreapi without P (e.g. -Protection KFG). Nothing was changed.", ModuleServices.NCoreApi);
            bool newKeysNeedP = services.Any(s => request.Protection == null
                ? (store.GetClientKey(s)?.ProtectionSpec ?? protection.ForService(s)).NeedsPassphrase
                : protection.ForService(s).NeedsPassphrase);
            if (request.NewKeyPassphrase != null)
            {
                if (!newKeysNeedP)
                    throw Invalid("A -NewKeyPassphrase was given but none of the new keys has protection P: add P to -Protection " +
                        "(e.g. KFGP) or leave -NewKeyPassphrase out. Nothing was changed.", request.Protection);
                // One passphrase per host: a change must cover every key that has P.
                var left = KeyPassphrases.Protected(store, ModuleServices.All.Except(services));
                if (left.Count > 0)
                    throw Invalid($"Changing the passphrase must cover every client key protected with it, and {string.Join(", ", left)} " +
                        "would keep the old one: add them to -Service, or leave -Service out. Nothing was changed.", string.Join(",", left));
                return KeyPassphrases.NewPassphrase(request.NewKeyPassphrase, "NewKeyPassphrase", "", reporter);
            }
            if (newKeysNeedP && request.KeyPassphrase == null && KeyPassphrases.Protected(store, ModuleServices.All).Count == 0)
                return KeyPassphrases.NewPassphrase(null, "NewKeyPassphrase",
                    $"The new client keys for {string.Join(", ", services.Where(s => protection.ForService(s).NeedsPassphrase))} get protection P.",
                    reporter);
            if (request.Protection != null && protection.NeedsPassphrase && services.Contains(ModuleServices.NCoreApi))
                reporter.Warning($"The ncoreapi client key gets protection {protection.ForService(ModuleServices.NCoreApi)}, without P: " +
                    "the hardserver loads it unattended at every start and cannot type a passphrase.");
            return null;
        }

        private static HsmException Invalid(string message, object? target) =>
            new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument, message, target);
    }
}
