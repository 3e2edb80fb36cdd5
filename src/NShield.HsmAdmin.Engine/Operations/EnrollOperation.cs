using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The vendor's `hsmadmin enroll`: make every registered module trust this host's client keys, after
    /// verifying and pinning its server keys; leave modules whose keys are already valid alone.
    /// </summary>
    internal sealed partial class EnrollOperation
    {
        private readonly HsmHost _host;
        private readonly SemaphoreSlim _keyGeneration = new SemaphoreSlim(1, 1);

        /// <param name="host">The host whose modules are enrolled.</param>
        /// <param name="algorithm">Algorithm for client keys generated when the host has none.</param>
        /// <param name="protection">Protection of client keys generated when the host has none (default KFG).</param>
        public EnrollOperation(HsmHost host, SshKeyAlgorithm algorithm = SshKeyAlgorithm.Ed25519, ProtectionSpec? protection = null)
        {
            _host = host;
            Algorithm = algorithm;
            Protection = protection ?? ProtectionSpec.Default;
        }

        /// <summary>Algorithm for client keys generated when the host has none.</summary>
        public SshKeyAlgorithm Algorithm { get; }
        public ProtectionSpec Protection { get; }

        /// <summary>
        /// Refreshes the host's list. A module released to another host (Move-HsmModule) and no longer registered is
        /// dropped. An enrolled module that is merely unregistered is never dropped here: it still holds this host's keys,
        /// so a roll must keep covering it (EnrolledModuleAbsent) until the admin registers it again, excludes it, or
        /// forgets it explicitly (<see cref="Forget"/>, Invoke-HsmEnroll -Forget). Dropping it silently would lock it out
        /// at the next roll.
        /// </summary>
        public IReadOnlyList<HsmEnrollResult> DropDetached(IOperationReporter reporter)
        {
            var attached = new HashSet<string>(_host.Attached().Select(m => m.Esn.Value), StringComparer.Ordinal);
            var results = new List<HsmEnrollResult>();
            // A registry that is missing (not empty) is more likely lost than meant: forgetting every pin on that basis
            // would throw trust away. Drop only against a registry that exists.
            if (!_host.Store.HasRegistry && _host.Discovery is Discovery.RegistryDiscovery)
            {
                if (_host.Store.GetModules().Count > 0)
                    reporter.Warning($"This host has no module registry ({_host.Store.RegistryPath}), so no enrolled module was dropped " +
                                     "from its list. " +
                                 "Register the modules (Register-HsmModule), or forget them one by one (Invoke-HsmEnroll -Esn <esn> -Forget).");
                return results;
            }
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                foreach (var record in _host.Store.GetModules())
                {
                    if (attached.Contains(record.Esn)) continue;
                    if (record.Status != ModuleStatus.Released)
                    {
                        reporter.Warning($"Module {record.Esn} is enrolled but not registered. It " +
                            "stays on the host's list, still holding this host's keys" +
                            (ExcludedModules.IsBehind(record) ? " (old keys archived for it: it was excluded from a key roll)" : "") +
                            $", and key rolls stop on it until it is back: register it again (Register-HsmModule) and run Invoke-HsmEnroll, " +
                            $"exclude it from a roll (Update-HsmSshKey -ExcludeEsn {record.Esn}), or forget " +
                            $"it for good (Invoke-HsmEnroll -Esn {record.Esn} -Forget).");
                        continue;
                    }
                    results.Add(Drop(record, "Moved to another host; dropped from this host's list.", "released and no longer registered"));
                }
                if (results.Count > 0) _host.Store.PruneArchivedClientKeys();
            }
            return results;
        }

        /// <summary>What forgetting a module on the host's list throws away, for the confirmation prompt.</summary>
        public string DescribeForget(ModuleRecord record)
        {
            var what = new List<string> { "its entry on this host's list", $"its {_host.Store.GetPins(record.Esn).Count} pinned server key(s)" };
            if (ExcludedModules.IsBehind(record))
                what.Add($"the old client keys archived for it ({string.Join(", ", record.OldKeys!.Select(k => $"{k.Key} {k.Value}"))}): " +
                         "it accepts only those, so after this only a factory reset brings it back");
            var status = record.Status == ModuleStatus.Released ? "released to another host" : "enrolled (it still holds this host's keys)";
            return $"Module {record.Esn} is {status}. Forgetting it deletes {string.Join("; ", what)}. " +
                   "Key rolls will no longer cover it: if it comes back, it keeps only keys this host no longer uses.";
        }

        /// <summary>
        /// Explicitly forgets modules on the host's list that are not registered (after the caller's confirmation): list
        /// entry and pins dropped, archived keys only it needed deleted. A module that is registered is skipped (the caller
        /// reports it: unregister it first).
        /// </summary>
        public IReadOnlyList<HsmEnrollResult> Forget(IEnumerable<string> esns)
        {
            var attached = new HashSet<string>(_host.Attached().Select(m => m.Esn.Value), StringComparer.Ordinal);
            var results = new List<HsmEnrollResult>();
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                foreach (var esn in esns.Distinct(StringComparer.Ordinal))
                {
                    var record = _host.Store.GetModule(esn);
                    if (record == null || attached.Contains(record.Esn)) continue;
                    results.Add(Drop(record, record.Status == ModuleStatus.Released
                            ? "Moved to another host; dropped from this host's list."
                            : "Forgotten on request: dropped from this host's list, its pins and any keys archived for it deleted.",
                        record.Status == ModuleStatus.Released ? "released and no longer registered"
                            : "forgotten on request (Invoke-HsmEnroll -Forget)"));
                }
                if (results.Count > 0) _host.Store.PruneArchivedClientKeys();
            }
            return results;
        }

        private HsmEnrollResult Drop(ModuleRecord record, string message, string detail)
        {
            _host.Store.RemoveModule(record.Esn);
            _host.Store.RemovePins(record.Esn);
            _host.Store.AppendAudit(new AuditEntry { Operation = "enroll.drop", Esn = record.Esn, Result = "Dropped", Detail = detail });
            return new HsmEnrollResult { Esn = record.Esn, Action = EnrollAction.Dropped, Mode = "Detached", HostPath = _host.Path,
                Message = message };
        }

        /// <summary>
        /// Enrolls one module (or checks and repairs an enrolled one). <paramref name="trust"/>: what vouches for server keys at
        /// first contact without a trusted vendor root (none: only a vendor root or existing pins); <paramref name="reporter"/>
        /// gets the warnings (none: they are dropped).
        /// </summary>
        public async Task<HsmEnrollResult> EnrollAsync(ModuleAddress module, CancellationToken ct, FirstContactTrust? trust = null,
            IOperationReporter? reporter = null)
        {
            trust ??= FirstContactTrust.None;
            var record = _host.Store.GetModule(module.Esn);
            if (record != null && record.Status == ModuleStatus.Released)
                return Result(module, EnrollAction.AwaitingRemoval, "Unknown", "Pinned",
                    $"Released to another host (sshadmin key {record.ReleasedTo}); remove it " +
                    "from this host and run Invoke-HsmEnroll again to drop it.");

            HsmException? pinnedFailure = null;
            if (ExcludedModules.IsBehind(record) && _host.Store.GetPin(module.Esn, ModuleServices.SshAdmin) != null && _host.HasClientKeys)
            {
                // Excluded from a key roll: it accepts the old keys the host archived for it. Bring it up to date first.
                var caughtUp = await new ExcludedModules(_host).CatchUpAsync(module, ct).ConfigureAwait(false);
                var checkedNow = await CheckEnrolledAsync(module, reporter, ct).ConfigureAwait(false);
                checkedNow.Action = EnrollAction.Repaired;
                checkedNow.Message =
                    "Brought up to date after it was excluded from a key roll: current keys " +
                    $"installed for {string.Join(", ", caughtUp)}, old keys removed.";
                return checkedNow;
            }
            var pins = _host.Store.GetPins(module.Esn);
            if (pins.ContainsKey(ModuleServices.SshAdmin) && _host.HasClientKeys)
            {
                try { return await CheckEnrolledAsync(module, reporter, ct).ConfigureAwait(false); }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ServerKeyChanged || ex.ErrorId == HsmErrorIds.AuthenticationFailed)
                {
                    // Either the module went back to factory state (recovery button: new server keys,
                    // default credential) or someone is in the middle. First contact decides, using only
                    // the public default credential, and re-pins only what the certificate chain vouches for
                    // (never a fingerprint confirmation: see VerifyServerKeysAsync).
                    pinnedFailure = ex;
                }
            }
            return await EnrollNewAsync(module, pins, pinnedFailure, trust, reporter, ct).ConfigureAwait(false);
        }

        /// <summary>An enrolled module: verify every channel; install any of the host's keys it lacks.</summary>
        private async Task<HsmEnrollResult> CheckEnrolledAsync(ModuleAddress module, IOperationReporter? reporter, CancellationToken ct)
        {
            ModuleIdentity identity;
            var installedNow = new List<string>();
            string[] verified;
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
            {
                identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                var installed = await admin.ListKeysAsync(ct).ConfigureAwait(false);
                var missing = ModuleServices.All.Where(service =>
                    !(installed.TryGetValue(service, out var set) && set.Contains(_host.ClientKey(service).PublicKey.Fingerprint))).ToList();
                if (missing.Count > 0) ModuleClock.RequireValidForKeyChange(module.Esn, identity, "installing this host's missing keys");
                foreach (var service in missing)
                {
                    var mine = _host.ClientKey(service).PublicKey;
                    await admin.AddKeyAsync(service, mine, ct).ConfigureAwait(false);
                    installedNow.Add(service);
                }
                verified = await VerifyChannelsAsync(module, identity, reporter, ct, admin).ConfigureAwait(false);
            }
            var wasListed = _host.Store.GetModule(module.Esn)?.Status == ModuleStatus.Enrolled;
            if (!wasListed || installedNow.Count > 0)
                RecordEnrolled(module,
                    installedNow.Count > 0 ? "repaired: installed " + string.Join(",", installedNow) : "listed: keys already valid");
            if (installedNow.Count > 0)
                return Result(module, EnrollAction.Repaired, identity.Mode.ToString(), "Pinned",
                    $"Installed this host's missing keys for {string.Join(", ", installedNow)}.", verified);
            return Result(module, EnrollAction.NoAction, identity.Mode.ToString(), "Pinned", "Keys already valid; nothing changed.", verified);
        }

        /// <summary>First contact: a factory-state/recovery module, or one moved here from another host.</summary>
        private async Task<HsmEnrollResult> EnrollNewAsync(ModuleAddress module, IReadOnlyDictionary<string, SshPublicKey> pins,
            HsmException? pinnedFailure, FirstContactTrust trust, IOperationReporter? reporter, CancellationToken ct)
        {
            _host.TransportFor(module); // UnknownTransport before anything is opened
            IModuleSession? admin = null;
            bool factory = true;
            try
            {
                try
                {
                    admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(),
                        ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false);
                }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed
                    || ex.ErrorId == HsmErrorIds.FactoryCredentialNotConfigured)
                {
                    // Not in factory state (or no factory credential here to tell). With a stale pin, stop: our own key goes only to a pinned key.
                    if (pinnedFailure != null) throw pinnedFailure;
                    if (!_host.HasClientKeys && ex.ErrorId == HsmErrorIds.FactoryCredentialNotConfigured) throw;
                    if (!_host.HasClientKeys)
                        throw new HsmException(HsmErrorIds.AuthenticationFailed, HsmErrorKind.AuthenticationError,
                            $"Module {module.Esn} is not in factory state and this host has no client keys it could accept. " +
                            "Return it to factory state on the host that manages it (Reset-HsmModule), or move it here with Move-HsmModule.",
                            module.Esn, ex);
                    factory = false;
                    try
                    {
                        // A module moved here by Move-HsmModule accepts our sshadmin key. No pin exists yet, so
                        // the server key is checked against its certificate before anything else is sent.
                        admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.ClientKey(ModuleServices.SshAdmin),
                            ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false);
                    }
                    catch (HsmException ex2) when (ex2.ErrorId == HsmErrorIds.AuthenticationFailed)
                    {
                        if (ex.ErrorId == HsmErrorIds.FactoryCredentialNotConfigured) throw ex;
                        throw new HsmException(HsmErrorIds.MigrationKeyRejected, HsmErrorKind.AuthenticationError,
                            $"Module {module.Esn} accepts neither the factory default credential nor this host's sshadmin key " +
                            $"({_host.ClientKey(ModuleServices.SshAdmin).PublicKey.Fingerprint}). " +
                            "If it was moved here with Move-HsmModule, this host's " +
                            "sshadmin key changed after the backup used for the move: restore that " +
                            "backup with Restore-HsmSshKey, or return the module " +
                            "to factory state on its previous host.", module.Esn, ex2);
                    }
                }

                var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                var verification = VerifyServerKeys(module, identity, admin.ServerKey, factory, pins, pinnedFailure, trust);
                ModuleClock.RequireValidForKeyChange(module.Esn, identity, "enrollment");

                // Pin before installing anything: if the reply to 'enroll' is lost, the rerun finds the module by its pins.
                using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                {
                    _host.Store.SetPins(module.Esn, identity.ServerKeys);
                    _host.Store.AppendAudit(new AuditEntry
                    {
                        Operation = "enroll.pin", Esn = module.Esn, Result = "Pinned", Detail = "verified by " + verification,
                        Fingerprints = identity.ServerKeys.Select(k => $"{k.Key}={k.Value.Fingerprint}").ToList(),
                    });
                }
                CrashPoints.Reach("enroll.pinned");
                await EnsureClientKeysAsync(ct).ConfigureAwait(false);

                if (factory)
                {
                    var keys = ModuleServices.All.ToDictionary(s => s, s => _host.ClientKey(s).PublicKey);
                    await admin.EnrollAsync(keys, ct).ConfigureAwait(false);
                }
                else
                {
                    // Moved here: make our keys the only ones, which also ends the source host's access.
                    foreach (var service in ModuleServices.All.Reverse())
                        await admin.SetKeysAsync(service, new[] { _host.ClientKey(service).PublicKey }, ct).ConfigureAwait(false);
                }
                CrashPoints.Reach("enroll.installed");
                // sshadmin is proven on a new connection: in factory state the open one authenticated with the default
                // credential; moved here, keys.set has just replaced the sshadmin keys, and only a new login shows that the
                // module kept this host's key (the source host's access is already gone).
                admin.Dispose();
                admin = null;
                var verified = await VerifyChannelsAsync(module, identity, reporter, ct).ConfigureAwait(false);
                RecordEnrolled(module, factory ? $"enrolled from {identity.Mode}" : "enrolled: moved from another host");
                return Result(module, EnrollAction.Enrolled,
                    (identity.Mode == ModuleMode.FactoryState ? ModuleMode.Operational : identity.Mode).ToString(), verification,
                    factory ? $"Enrolled from {identity.Mode}: server keys pinned, client keys installed, default credential replaced."
                            : "Moved from another host: server keys pinned, this host's keys are now the only ones installed.", verified);
            }
            finally
            {
                admin?.Dispose();
            }
        }

        /// <summary>
        /// How the presented server keys are trusted, or why not. A module this host has pins for keeps them unless it is in
        /// factory state or recovery (it accepted the factory credential and says so) and a trusted vendor root vouches for the
        /// new keys; -AcceptFingerprint and the prompt never replace a pin (Update-HsmServerKeyPin does, explicitly).
        /// </summary>
        private string VerifyServerKeys(ModuleAddress module, ModuleIdentity identity, SshPublicKey presentedAdminKey, bool factory,
            IReadOnlyDictionary<string, SshPublicKey> pins, HsmException? pinnedFailure, FirstContactTrust trust)
        {
            var shape = TrustVerification.CheckShape(identity, presentedAdminKey);
            if (shape != null)
                throw pinnedFailure ?? new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                    $"Module {module.Esn}: {shape}. Something is between this host and the module; it was not enrolled.", module.Esn);

            if (pins.Count > 0)
            {
                var changed =
                    ModuleServices.All.Where(s => !pins.TryGetValue(s, out var pin) || !pin.Blob.SequenceEqual(identity.ServerKeys[s].Blob)).ToList();
                if (changed.Count == 0) return "Pinned"; // the keys this host already trusts (e.g. an enroll interrupted after pinning)
                var resetModule = factory && (identity.Mode == ModuleMode.FactoryState || identity.Mode == ModuleMode.Recovery);
                var reason = !resetModule
                    ? $"it is in mode {identity.Mode}, not in factory state or recovery"
                    : _host.Store.GetTrustedRoots().Count == 0
                        ? "no trusted vendor root is configured to vouch for its new keys"
                        : TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, presentedAdminKey);
                if (reason == null) return "Certificate";
                if (pinnedFailure != null && pinnedFailure.ErrorId == HsmErrorIds.ServerKeyChanged)
                    throw new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                        pinnedFailure.Message + $" The pins were not replaced: {reason}.", module.Esn, pinnedFailure);
                var service = changed[0];
                var refusal = pins.TryGetValue(service, out var old)
                    ? ChannelErrors.ServerKeyChanged(module, service, ServerKeyPolicy.Pinned(old, _host.Store.KnownHostsPath),
                        service == ModuleServices.SshAdmin ? presentedAdminKey : identity.ServerKeys[service])
                    : null;
                throw new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                    (refusal?.Message ?? $"Module {module.Esn} has no pin for {service} but pins for other services.") +
                    $" The pins were not replaced: {reason}.", module.Esn, pinnedFailure);
            }

            if (_host.Store.GetTrustedRoots().Count > 0)
            {
                var reason = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, presentedAdminKey);
                if (reason == null) return "Certificate";
                throw pinnedFailure ?? new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                    $"Module {module.Esn}'s server keys are not vouched for by a trusted vendor root ({reason}). " +
                    "It was not enrolled and nothing was pinned.", module.Esn);
            }

            var fingerprints = identity.ServerKeys.ToDictionary(k => k.Key, k => k.Value.Fingerprint);
            if (trust.AcceptedFingerprints.Contains(fingerprints[ModuleServices.SshAdmin])) return "Fingerprint";
            if (trust.ConfirmedServerKeys.TryGetValue(module.Esn, out var confirmed)
                && ModuleServices.All.All(s => confirmed.TryGetValue(s, out var fp) && fp == fingerprints[s])) return "Fingerprint";
            throw new HsmException(HsmErrorIds.FingerprintNotConfirmed, HsmErrorKind.SecurityError,
                $"No trusted vendor root is configured on this host, so module {module.Esn}'s server keys need your confirmation. " +
                $"Its sshadmin server key is {fingerprints[ModuleServices.SshAdmin]}. Compare it with the module's own display, then run " +
                $"Invoke-HsmEnroll -HostPath '{_host.Path.Replace("'", "''")}' -Esn {module.Esn} " +
                $"-AcceptFingerprint '{fingerprints[ModuleServices.SshAdmin]}', " +
                "or add the vendor root with Add-HsmTrustedRoot. Nothing was changed.", module.Esn);
        }

        /// <summary>
        /// Read-only: the server keys a module would present at first contact when only a person can vouch for them (no
        /// trusted vendor root, no pins, not already accepted with -AcceptFingerprint); null otherwise or when the module
        /// cannot be asked (enrolling it then reports why). Nothing is sent but 'identity'.
        /// </summary>
        public async Task<FirstContactFingerprints?> InspectFirstContactAsync(ModuleAddress module, IReadOnlyCollection<string> accepted,
            CancellationToken ct)
        {
            if (_host.Store.GetTrustedRoots().Count > 0 || _host.Store.GetPins(module.Esn).Count > 0) return null;
            if (_host.Store.GetModule(module.Esn)?.Status == ModuleStatus.Released) return null;
            _host.TransportFor(module); // UnknownTransport before anything is opened
            try
            {
                IModuleSession admin;
                try
                {
                    admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(), ServerKeyPolicy.FirstContact(),
                        ct).ConfigureAwait(false);
                }
                catch (HsmException ex) when ((ex.ErrorId == HsmErrorIds.AuthenticationFailed
                    || ex.ErrorId == HsmErrorIds.FactoryCredentialNotConfigured) && _host.HasClientKeys)
                {
                    admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.ClientKey(ModuleServices.SshAdmin),
                        ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false);
                }
                using (admin)
                {
                    var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                    if (TrustVerification.CheckShape(identity, admin.ServerKey) != null) return null;
                    var fingerprints = ModuleServices.All.ToDictionary(s => s, s => identity.ServerKeys[s].Fingerprint);
                    if (accepted.Contains(fingerprints[ModuleServices.SshAdmin])) return null;
                    return new FirstContactFingerprints
                    {
                        Esn = module.Esn, Address = module.Endpoint(ModuleServices.SshAdmin), Mode = identity.Mode.ToString(),
                        Fingerprints = fingerprints,
                    };
                }
            }
            catch (HsmException) { return null; }
        }

        /// <summary>
        /// Opens every service with the host's key on the pinned server key and pings it. An sshadmin channel already open
        /// with the host's key on the pinned server key is pinged instead of opening another connection.
        /// </summary>
        internal async Task<string[]> VerifyChannelsAsync(ModuleAddress module, ModuleIdentity identity, IOperationReporter? reporter,
            CancellationToken ct, IModuleSession? openAdmin = null)
        {
            // Each service is its own endpoint: check them side by side rather than one after another.
            var checks = ModuleServices.All.Select(async service =>
            {
                try
                {
                    if (openAdmin != null && service == ModuleServices.SshAdmin)
                        await openAdmin.PingAsync(ct).ConfigureAwait(false);
                    else
                        await _host.PingAsync(module, service, ct).ConfigureAwait(false);
                    return service;
                }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ServiceNotRunning && service == ModuleServices.NCoreApi
                    && identity.Mode == ModuleMode.Recovery)
                {
                    reporter?.Warning($"Module {module.Esn} is in recovery mode: its keys are installed but ncoreapi runs only after a normal boot.");
                    return null;
                }
            }).ToList();
            var verified = await Task.WhenAll(checks).ConfigureAwait(false);
            return verified.Where(s => s != null).Select(s => s!).ToArray();
        }

        private async Task EnsureClientKeysAsync(CancellationToken ct)
        {
            if (_host.HasClientKeys) return;
            await _keyGeneration.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                {
                    foreach (var service in ModuleServices.All)
                    {
                        if (_host.Store.GetClientKey(service) != null) continue;
                        var key = SshKeyPair.Generate(Algorithm, $"nshield-hsmadmin-{service}@{Environment.MachineName}");
                        try
                        {
                            var protection = Protection.ForService(service);
                            _host.Store.SaveClientKey(service, key, protection, protection.NeedsPassphrase ? _host.KeyPassphrase : null);
                            _host.Store.AppendAudit(new AuditEntry { Operation = "keys.generate", Service = service,
                                Fingerprints = new[] { key.PublicKey.Fingerprint }, Result = "Success" });
                        }
                        catch { key.Dispose(); throw; }
                        // Kept open: decrypting what was just encrypted would cost a key derivation per key for nothing.
                        _host.RememberClientKey(service, key);
                    }
                }
            }
            finally { _keyGeneration.Release(); }
        }

        private void RecordEnrolled(ModuleAddress module, string what)
        {
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                var record = _host.Store.GetModule(module.Esn) ?? new ModuleRecord { Esn = module.Esn };
                record.Status = ModuleStatus.Enrolled;
                record.EnrolledAt ??= DateTimeOffset.UtcNow;
                record.ReleasedTo = null;
                _host.Store.UpsertModule(record);
                _host.Store.AppendAudit(new AuditEntry { Operation = "enroll", Esn = module.Esn, Result = "Success", Detail = what });
            }
        }

        /// <summary>
        /// After a run: when every module on the host's list holds and proved the host's current keys (verified in this run,
        /// none behind), those keys count as installed on every module (ProvenAt, the first time only).
        /// <paramref name="attempted"/>: the modules this run tried; <paramref name="verified"/>: those it verified.
        /// </summary>
        public void RecordProvenKeys(IReadOnlyCollection<string> attempted, IReadOnlyCollection<string> verified)
        {
            if (!_host.HasClientKeys) return;
            var enrolled = _host.Store.GetModules().Where(m => m.Status == ModuleStatus.Enrolled).ToList();
            // Proven everywhere: no module is behind (excluded from a roll, still on archived keys), every module this run
            // reached was verified, and the others were proven when they got these keys (a roll installs on every module
            // before its switch; an enrollment verifies). At least one module was verified now.
            if (enrolled.Count == 0 || verified.Count == 0
                || enrolled.Any(m => ExcludedModules.IsBehind(m) || (attempted.Contains(m.Esn) && !verified.Contains(m.Esn)))) return;
            _host.Store.MarkClientKeysProven(ModuleServices.All, DateTimeOffset.UtcNow);
        }

        /// <summary>A result that says the module holds and proved the host's keys (it counts for <see cref="RecordProvenKeys"/>).</summary>
        internal static bool IsVerified(HsmEnrollResult result) =>
            result.Action == EnrollAction.Enrolled || result.Action == EnrollAction.Repaired || result.Action == EnrollAction.NoAction;

        private HsmEnrollResult Result(ModuleAddress module, EnrollAction action, string mode, string verification, string message,
            string[]? verified = null)
        {
            return new HsmEnrollResult
            {
                Esn = module.Esn, Action = action, Mode = mode, ServerKeyVerification = verification, Message = message,
                ServicesVerified = verified ?? Array.Empty<string>(), HostPath = _host.Path,
            };
        }
    }

    /// <summary>
    /// What vouches for module server keys at first contact when no trusted vendor root is configured, for one run: sshadmin
    /// fingerprints confirmed out of band (-AcceptFingerprint), and the keys a person confirmed at the prompt, per ESN
    /// (service -&gt; fingerprint; used only when the module presents exactly those). Never used for a module that has pins.
    /// </summary>
    internal sealed class FirstContactTrust
    {
        public static readonly FirstContactTrust None = new FirstContactTrust(Array.Empty<string>());

        public FirstContactTrust(IEnumerable<string> acceptedFingerprints,
            IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? confirmedServerKeys = null)
        {
            AcceptedFingerprints = new HashSet<string>(acceptedFingerprints, StringComparer.Ordinal);
            ConfirmedServerKeys = confirmedServerKeys ?? new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        }

        public IReadOnlyCollection<string> AcceptedFingerprints { get; }
        public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ConfirmedServerKeys { get; }
    }

    /// <summary>What a person is asked to confirm for one module at first contact (no trusted vendor root).</summary>
    internal sealed class FirstContactFingerprints
    {
        public string Esn { get; set; } = "";
        /// <summary>Where the module's sshadmin endpoint is (ModuleAddress.Endpoint).</summary>
        public string Address { get; set; } = "";
        public string Mode { get; set; } = "";
        /// <summary>Service -&gt; SHA256 fingerprint of the server key, as the module reports (sshadmin: as it presented).</summary>
        public IReadOnlyDictionary<string, string> Fingerprints { get; set; } = new Dictionary<string, string>();
    }
}
