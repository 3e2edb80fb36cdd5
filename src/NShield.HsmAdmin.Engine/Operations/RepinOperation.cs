using System;
using System.Collections.Generic;
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
    /// The explicit re-pin (Update-HsmServerKeyPin): the one way, besides factory state or recovery followed by a chain a
    /// trusted vendor root vouches for, that a pinned server key of an enrolled module changes. Inspect reads what the module
    /// presents and reports (read-only); Apply replaces the pins the person confirmed and audits it.
    /// </summary>
    internal sealed class RepinOperation
    {
        private readonly HsmHost _host;
        public RepinOperation(HsmHost host) { _host = host; }

        /// <summary>What re-pinning one module would change.</summary>
        public sealed class Plan
        {
            public ModuleAddress Module { get; internal set; } = null!;
            public string Mode { get; internal set; } = "";
            public IReadOnlyDictionary<string, SshPublicKey> Old { get; internal set; } = new Dictionary<string, SshPublicKey>();
            public IReadOnlyDictionary<string, SshPublicKey> New { get; internal set; } = new Dictionary<string, SshPublicKey>();
            /// <summary>The services asked for (all six by default).</summary>
            public IReadOnlyList<string> Services { get; internal set; } = Array.Empty<string>();
            /// <summary>Services among <see cref="Services"/> whose presented key differs from the pin.</summary>
            public IReadOnlyList<string> Changed { get; internal set; } = Array.Empty<string>();
            /// <summary>"Certificate" when a trusted vendor root vouches for every key; otherwise "Unverified (why)".</summary>
            public string Verification { get; internal set; } = "";

            /// <summary>Old and new fingerprints per service, for the confirmation text.</summary>
            public string Describe()
            {
                var lines = new List<string> { $"Module {Module.Esn} at " +
                    $"{Module.Endpoint(ModuleServices.SshAdmin)} ({Mode}); new keys: {Verification}" };
                foreach (var s in ModuleServices.All)
                {
                    var old = Old.TryGetValue(s, out var o) ? o.Fingerprint : "(none)";
                    var mark = !Services.Contains(s) ? "not asked" : Changed.Contains(s) ? "CHANGED" : "same";
                    lines.Add($"  {s,-9} {mark,-9} pinned {old}");
                    if (Changed.Contains(s)) lines.Add($"  {"",-9} {"",-9} new    {New[s].Fingerprint}");
                }
                return string.Join(Environment.NewLine, lines);
            }
        }

        /// <summary>
        /// Update-HsmServerKeyPin: per module, inspects (read-only), shows old and new fingerprints and asks twice, both
        /// questions defaulting to No (the change, then "do they match the module's own display?"; -Confirm:$false answers
        /// both). No lock is held while a person is asked: <see cref="Apply"/> re-takes it and re-checks the pins.
        /// </summary>
        public async Task RepinAllAsync(IReadOnlyList<ModuleAddress> modules, IReadOnlyCollection<string> services, IOperationReporter reporter,
            CancellationToken ct)
        {
            foreach (var module in modules)
            {
                ct.ThrowIfCancellationRequested();
                Plan plan;
                try { plan = await InspectAsync(module, services, ct).ConfigureAwait(false); }
                catch (HsmException ex) when (ex.ErrorId != HsmErrorIds.Cancelled) { reporter.Error(ex); continue; }

                var text = plan.Describe();
                if (plan.Changed.Count == 0)
                {
                    reporter.Verbose("Nothing to re-pin: " + text);
                    foreach (var row in Rows(plan, repinned: false)) reporter.Result(row);
                    continue;
                }
                var what = $"Replace the pinned {string.Join(", ", plan.Changed)} server key(s) of module {module.Esn}";
                var nl = Environment.NewLine;
                try
                {
                    if (reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Re-pin module server keys",
                            text + nl + "Trust the new keys only if the module's own display shows them. " + what + "?",
                            $"module {module.Esn}", what))
                        != ConfirmAnswer.Yes)
                        continue;
                    if (reporter.Confirm(new ConfirmQuestion(QuestionKind.Confirmation, "Re-pin module server keys",
                            text + nl + "This host will trust the new keys for this module from now on and send its client keys to them. " +
                            "Do they match what the module itself displays?", $"module {module.Esn}", what)) != ConfirmAnswer.Yes)
                    {
                        foreach (var row in Rows(plan, repinned: false)) reporter.Result(row);
                        continue;
                    }
                }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ConfirmationRequired)
                {
                    reporter.Error(new HsmException(HsmErrorIds.FingerprintNotConfirmed, HsmErrorKind.SecurityError,
                        $"Re-pinning module {module.Esn} needs confirmation and this session cannot prompt; nothing was re-pinned. " +
                        "Compare the new fingerprints with the module's own display, then run Update-HsmServerKeyPin with -Confirm:$false.",
                        module.Esn));
                    continue;
                }
                try
                {
                    foreach (var row in Apply(plan)) reporter.Result(row);
                }
                catch (HsmException ex) { reporter.Error(ex); }
            }
        }

        /// <summary>
        /// Read-only: connects to sshadmin accepting whatever server key it presents (the host's sshadmin key, or the factory
        /// credential for a module that no longer accepts it), reads the module's identity and checks that the presented key is
        /// the one it reports for sshadmin and that it reports a key for every service (TrustVerification.CheckShape).
        /// The keys of the other services are read over that channel, so they are believed only when the channel itself is
        /// trusted: its server key is the sshadmin pin, or a trusted vendor root vouches for it. Otherwise only sshadmin's own
        /// key (seen in the handshake, which the person compares with the display) may be re-pinned: RepinChannelUnverified.
        /// </summary>
        public async Task<Plan> InspectAsync(ModuleAddress module, IReadOnlyCollection<string> services, CancellationToken ct)
        {
            var old = _host.Store.GetPins(module.Esn);
            if (old.Count == 0)
                throw new HsmException(HsmErrorIds.ServerKeyNotPinned, HsmErrorKind.SecurityError,
                    $"This host has no pinned server keys for module {module.Esn}, so there is nothing to re-pin. Enroll it with Invoke-HsmEnroll.",
                    module.Esn);
            _host.TransportFor(module); // UnknownTransport before anything is opened
            IModuleSession admin;
            if (_host.HasClientKeys)
            {
                try
                {
                    admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.ClientKey(ModuleServices.SshAdmin),
                        ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false);
                }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed)
                {
                    admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(), ServerKeyPolicy.FirstContact(),
                        ct).ConfigureAwait(false);
                }
            }
            else admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(), ServerKeyPolicy.FirstContact(),
                ct).ConfigureAwait(false);

            using (admin)
            {
                var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                var shape = TrustVerification.CheckShape(identity, admin.ServerKey);
                if (shape != null)
                    throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                        $"Module {module.Esn}: {shape}. The keys it presents do not match its own report, so nothing was re-pinned.", module.Esn);
                var asked = services.Count == 0 ? ModuleServices.All.ToList() : ModuleServices.All.Where(services.Contains).ToList();
                var changed = asked.Where(s => !old.TryGetValue(s, out var pin) || !pin.Blob.SequenceEqual(identity.ServerKeys[s].Blob)).ToList();
                var reason = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, admin.ServerKey);
                var channelPinned = old.TryGetValue(ModuleServices.SshAdmin, out var adminPin) && adminPin.Blob.SequenceEqual(admin.ServerKey.Blob);
                var readOverChannel = changed.Where(s => s != ModuleServices.SshAdmin).ToList();
                if (!channelPinned && reason != null && readOverChannel.Count > 0)
                    throw new HsmException(HsmErrorIds.RepinChannelUnverified, HsmErrorKind.SecurityError,
                        $"Module {module.Esn}: the keys of {string.Join(", ", readOverChannel)} were read over the sshadmin channel at " +
                        $"{module.Endpoint(ModuleServices.SshAdmin)}, whose server key {admin.ServerKey.Fingerprint} is not its pin " +
                        $"({(adminPin == null ? "none" : adminPin.Fingerprint)}) and no trusted vendor root vouches for it ({reason}), " +
                        "so nothing was re-pinned. Compare the sshadmin key with the module's own display and re-pin it alone first " +
                        $"(Update-HsmServerKeyPin -Esn {module.Esn} -Service sshadmin), then run Update-HsmServerKeyPin again for the " +
                        "other services.", module.Esn);
                return new Plan
                {
                    Module = module, Mode = identity.Mode.ToString(), Old = old, New = identity.ServerKeys, Services = asked, Changed = changed,
                    Verification = reason == null ? "Certificate" : $"Unverified ({reason})",
                };
            }
        }

        /// <summary>Replaces the changed pins of the plan (the others stay), audited as pins.repin with old and new fingerprints.</summary>
        public IReadOnlyList<HsmServerKeyPinChange> Apply(Plan plan)
        {
            var esn = plan.Module.Esn;
            if (plan.Changed.Count > 0)
            {
                using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                {
                    var current = _host.Store.GetPins(esn);
                    if (!plan.Old.All(p => current.TryGetValue(p.Key, out var c) && c.Blob.SequenceEqual(p.Value.Blob))
                        || current.Count != plan.Old.Count)
                        throw new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                            $"The pins of module {esn} changed while this command ran; nothing was re-pinned. Run Update-HsmServerKeyPin again.",
                            esn);
                    var pins = current.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                    foreach (var s in plan.Changed) pins[s] = plan.New[s];
                    _host.Store.SetPins(esn, pins);
                    _host.Store.AppendAudit(new AuditEntry
                    {
                        Operation = "pins.repin", Esn = esn, Result = "Replaced",
                        Fingerprints = plan.Changed.Select(s => $"{s}={plan.New[s].Fingerprint}").ToList(),
                        Detail = "old: " +
                            string.Join(", ", plan.Changed.Select(s => $"{s}={(plan.Old.TryGetValue(s, out var o) ? o.Fingerprint : "(none)")}")) +
                                 "; new: " + string.Join(", ", plan.Changed.Select(s => $"{s}={plan.New[s].Fingerprint}")) +
                                 $"; module mode {plan.Mode}; {plan.Verification}; confirmed by the administrator (Update-HsmServerKeyPin)",
                    });
                }
            }
            return Rows(plan, repinned: true);
        }

        /// <summary>One row per asked service: old and new fingerprint, whether it changed and was re-pinned.</summary>
        public IReadOnlyList<HsmServerKeyPinChange> Rows(Plan plan, bool repinned) =>
            plan.Services.Select(s => new HsmServerKeyPinChange
            {
                Esn = plan.Module.Esn, Service = s,
                OldFingerprint = plan.Old.TryGetValue(s, out var o) ? o.Fingerprint : "",
                NewFingerprint = plan.New[s].Fingerprint,
                Changed = plan.Changed.Contains(s),
                Repinned = repinned && plan.Changed.Contains(s),
                Verification = plan.Verification, HostPath = _host.Path,
            }).ToList();
    }

    /// <summary>One service's pin as Update-HsmServerKeyPin found and left it.</summary>
    public sealed class HsmServerKeyPinChange
    {
        public string Esn { get; set; } = "";
        public string Service { get; set; } = "";
        public string OldFingerprint { get; set; } = "";
        public string NewFingerprint { get; set; } = "";
        /// <summary>The module presents another key than the pinned one.</summary>
        public bool Changed { get; set; }
        /// <summary>The pin was replaced by the new key.</summary>
        public bool Repinned { get; set; }
        /// <summary>Certificate (a trusted vendor root vouches for the new keys) or Unverified (why).</summary>
        public string Verification { get; set; } = "";
        public string HostPath { get; set; } = "";
    }
}
