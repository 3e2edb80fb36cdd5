using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;
using ProtectionSpec = NShield.HsmAdmin.Protection.ProtectionSpec;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What Invoke-HsmEnroll was asked.</summary>
    public sealed class EnrollRequest : ModulesRequest, IKeyChangeRequest
    {
        /// <summary>sshadmin server key fingerprints confirmed out of band, for hosts without a trusted vendor root.</summary>
        public IReadOnlyList<string> AcceptFingerprints { get; set; } = Array.Empty<string>();
        /// <summary>The algorithm of keys this run creates, as typed (e.g. Ed25519).</summary>
        public string Algorithm { get; set; } = "Ed25519";
        /// <summary>The protection of keys this run creates, as typed (null: the default).</summary>
        public string? Protection { get; set; }
        /// <summary>Forget the modules named that are on the host's list but no longer registered (nothing is enrolled).</summary>
        public bool Forget { get; set; }
        /// <summary>With <see cref="Forget"/>: without the second confirmation.</summary>
        public bool Force { get; set; }
        /// <summary>-WhatIf: nothing is written, not even the store's lock owner.</summary>
        public bool WhatIf { get; set; }
        /// <summary>The same pipeline backs the sshadmin key up next, so the backup reminder is not needed.</summary>
        public bool BackupFollows { get; set; }
    }

    /// <summary>
    /// Invoke-HsmEnroll (the vendor's hsmadmin enroll): creates the host's client keys where it has none (the passphrase
    /// policy: P asks for a new passphrase, typed twice; a passphrase without P is refused), drops modules released to
    /// another host, asks at first contact, then enrolls under the store lock, re-checking what a person was asked about.
    /// </summary>
    public sealed class EnrollModulesOperation : IHsmOperation<EnrollRequest>
    {
        public async Task RunAsync(EnrollRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            HostModules.WarnIfNoModules(store, request.Esns, "bring under this host's keys", reporter);
            var protection = request.Protection == null ? ProtectionSpec.Default : ProtectionSpec.Parse(request.Protection);
            var passphrase = Passphrase(store, request, protection, reporter);
            // No store lock while a person is asked (the forget and first-contact questions): the lock is taken for the
            // enrollment itself, and what was asked about is re-checked under it.
            using (var host = request.OpenHost(store, passphrase))
            {
                KeyPassphrases.Verify(host, ModuleServices.All);
                // An open roll or restore journal: modules enrolled now would get keys the roll then removes.
                EnrollJournal.EnsureNoOpenRoll(host);
                var operation = new EnrollOperation(host, Keys.SshAlgorithmNames.Parse(request.Algorithm), protection);
                var trust = new FirstContactTrust(request.AcceptFingerprints);
                var attached = host.Attached();
                if (request.Forget)
                {
                    foreach (var dropped in operation.ForgetAsked(request.Esns, attached, request.Force, reporter)) reporter.Result(dropped);
                    return;
                }
                var selected = HostModules.Select(store, attached, request.Esns, reporter);

                // Refresh the list first: modules released to another host and no longer registered are dropped. An enrolled
                // module that is merely unregistered stays (it still holds this host's keys): only -Forget drops it. Asked
                // only when there is something to drop (-WhatIf then names the modules); otherwise DropDetached only warns
                // about enrolled modules that are not registered, which -WhatIf skips (it takes the lock).
                var releasing = store.GetModules().Where(r => r.Status == ModuleStatus.Released && !attached.Any(a => a.Esn == r.Esn))
                    .Select(r => r.Esn).ToList();
                if (releasing.Count > 0
                        ? reporter.ShouldProcess(host.Path,
                            $"Drop {string.Join(", ", releasing)} (released to another host, no longer registered) from the host's list")
                        : !request.WhatIf)
                    foreach (var dropped in operation.DropDetached(reporter)) reporter.Result(dropped);

                var toEnroll = selected.Where(m => reporter.ShouldProcess($"module {m.Esn}",
                    "Enroll (verify and pin server keys, install this host's client keys)")).ToList();
                if (toEnroll.Count > 0 && store.GetTrustedRoots().Count == 0)
                {
                    var pending = await operation.InspectFirstContactAllAsync(toEnroll, trust.AcceptedFingerprints, request.ThrottleLimit, reporter,
                        cancellationToken).ConfigureAwait(false);
                    trust = new FirstContactTrust(request.AcceptFingerprints, EnrollOperation.ConfirmFirstContact(pending, reporter));
                }
                using (request.WhatIf ? null : store.AcquireLock(store.DefaultLockTimeout)) // a roll and an enroll never run side by side
                {
                    // Re-checked under the lock: a roll may have begun, or a module been unregistered, while a person was asked.
                    EnrollJournal.EnsureNoOpenRoll(host);
                    var (still, gone) = operation.StillRegistered(toEnroll);
                    foreach (var error in gone) reporter.Error(error);
                    var ncoreapiBefore = store.GetClientKey(ModuleServices.NCoreApi)?.Fingerprint;
                    var changed = await operation.EnrollAllAsync(still, trust, request.WhatIf, request.ThrottleLimit, reporter, cancellationToken)
                        .ConfigureAwait(false);
                    KeyBackupReminder.WarnIfChanged(request, changed, reporter);
                    HardserverWarning.WarnIfKeyNotLoaded(host, ncoreapiBefore, reporter);
                }
            }
        }

        /// <summary>
        /// Keys are created (with the request's protection) only for services the host has no key for yet: P then needs a
        /// new passphrase; a passphrase given for keys that need none is refused; else the existing keys' passphrase.
        /// </summary>
        private static System.Security.SecureString? Passphrase(HostStore store, EnrollRequest request, ProtectionSpec protection,
            IOperationReporter reporter)
        {
            var creating = ModuleServices.All.Any(s => store.GetClientKey(s) == null);
            // The passphrase is new (and meets the policy) only when no key of the host has P yet; otherwise it opens those.
            if (creating && protection.NeedsPassphrase && KeyPassphrases.Protected(store, ModuleServices.All).Count == 0)
            {
                var passphrase = KeyPassphrases.NewPassphrase(request.KeyPassphrase, KeyPassphrases.Parameter,
                    $"Invoke-HsmEnroll creates this host's client keys with protection {protection}.", reporter);
                reporter.Warning($"The ncoreapi client key gets protection {protection.ForService(ModuleServices.NCoreApi)}, without P: " +
                    "the hardserver loads it unattended at every start and cannot type a passphrase.");
                return passphrase;
            }
            if (creating && request.KeyPassphrase != null && KeyPassphrases.Protected(store, ModuleServices.All).Count == 0)
                throw new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                    $"A -KeyPassphrase was given but -Protection '{protection}' has no P: add P (e.g. KFGP) or leave -KeyPassphrase out. " +
                    "Nothing was changed.", request.Protection);
            return KeyPassphrases.Resolve(store, request.KeyPassphrase, ModuleServices.All, reporter);
        }
    }

    /// <summary>After a change that may have made a new ncoreapi key: the hardserver cannot reach the modules until it loads it.</summary>
    public static class HardserverWarning
    {
        /// <summary>
        /// When the host's ncoreapi key is not <paramref name="ncoreapiBefore"/> any more and the hardserver has not loaded it
        /// (it started before the key existed, or is not running), warns to run Restart-HsmHardserver.
        /// </summary>
        public static void WarnIfKeyNotLoaded(HsmHost host, string? ncoreapiBefore, IOperationReporter reporter)
        {
            var now = host.Store.GetClientKey(ModuleServices.NCoreApi);
            if (now == null || now.Fingerprint == ncoreapiBefore) return;
            bool? current;
            try { current = Hardserver.HardserverKeyState.IsKeyCurrent(host.Hardserver.GetState(), host.Store); }
            catch (HsmException ex)
            {
                reporter.Verbose($"Could not read the hardserver's state: {ex.Message}");
                return;
            }
            if (current == false)
                reporter.Warning("The ncoreapi client key is new and the hardserver has not loaded it (it started before the key was made, " +
                    "or is not running), so it cannot reach the modules yet: run Restart-HsmHardserver.");
        }
    }
}
