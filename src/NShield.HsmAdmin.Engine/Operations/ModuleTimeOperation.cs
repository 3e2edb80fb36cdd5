using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>One module's clock after Set-HsmModuleTime.</summary>
    public sealed class HsmModuleTimeResult
    {
        public string Esn { get; set; } = "";
        /// <summary>The module's mode when its clock was set.</summary>
        public string Mode { get; set; } = "";
        /// <summary>True: slewing (-Adjust); false: stepped to the host's time.</summary>
        public bool Adjusted { get; set; }
        /// <summary>Whether the module's clock was valid before (an invalid clock has no meaningful offset).</summary>
        public bool ClockValidBefore { get; set; }
        /// <summary>Module clock minus the host's UTC, in seconds, before the change (null when the clock was invalid).</summary>
        public double? OffsetBeforeSeconds { get; set; }
        /// <summary>Module clock minus the host's UTC, in seconds, when the module answered.</summary>
        public double OffsetAfterSeconds { get; set; }
        /// <summary>The correction the module is still slewing, in seconds (0 after a step).</summary>
        public double AdjustingSeconds { get; set; }
        /// <summary>The host's UTC time that was sent.</summary>
        public DateTimeOffset HostTime { get; set; }
        public string HostPath { get; set; } = "";
    }

    /// <summary>
    /// The vendor's `hsmadmin settime [--adjust]`: sets each module's clock from this host's UTC time over sshadmin. The
    /// module decides what it allows (a step in maintenance, factory state or Recovery mode; an adjustment of a valid clock
    /// while operational): a refusal is ModuleClockNotSettable and changes nothing. A module the host has not enrolled is
    /// reached with the factory credential, only after its server key is verified against a trusted vendor root.
    /// </summary>
    internal sealed class ModuleTimeOperation
    {
        private readonly HsmHost _host;
        private readonly Func<DateTimeOffset> _hostClock;

        /// <param name="host">The host whose modules are set.</param>
        /// <param name="hostClock">This host's UTC clock (tests give another; default: the system clock).</param>
        public ModuleTimeOperation(HsmHost host, Func<DateTimeOffset>? hostClock = null)
        {
            _host = host;
            _hostClock = hostClock ?? (() => DateTimeOffset.UtcNow);
        }

        public const string StepAction = "Set the module's clock to this host's UTC time";
        public const string AdjustAction = "Adjust the module's clock gradually towards this host's UTC time";

        /// <summary>Set-HsmModuleTime: checks the host's own clock, asks per module, sets the confirmed ones in parallel.</summary>
        public Task SetAllAsync(IReadOnlyList<ModuleAddress> modules, SetTimeRequest request, IOperationReporter reporter, CancellationToken ct)
        {
            RequirePlausibleHostClock();
            var action = request.Adjust ? AdjustAction : StepAction;
            var confirmed = modules.Where(m => reporter.ShouldProcess($"module {m.Esn}", action)).ToList();
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await SetAsync(m, request.Adjust, c).ConfigureAwait(false)),
                request.ThrottleLimit, request.Adjust ? "Adjusting module clocks" : "Setting module clocks", reporter, ct);
        }

        /// <summary>A host clock before 2020 is itself unset: copying it would make every module's clock invalid.</summary>
        private void RequirePlausibleHostClock()
        {
            var now = _hostClock();
            if (now < ModuleIdentity.EarliestValidClock)
                throw new HsmException(HsmErrorIds.HostClockInvalid, HsmErrorKind.InvalidOperation,
                    $"This host's clock reads {now.UtcDateTime:u}, before {ModuleIdentity.EarliestValidClock.UtcDateTime:yyyy-MM-dd}: it is " +
                    "not set, so no module clock was set from it and nothing was changed. Set this host's date and time (or its time " +
                    "synchronisation) first.", "host clock")
                {
                    RecommendedAction = "Set this host's clock to UTC correctly, then run Set-HsmModuleTime again.",
                };
        }

        /// <summary>Sets one module's clock; the result says how far off it was and is.</summary>
        public async Task<HsmModuleTimeResult> SetAsync(ModuleAddress module, bool adjust, CancellationToken ct)
        {
            using (var admin = await OpenAdminAsync(module, ct).ConfigureAwait(false))
            {
                RequirePlausibleHostClock();
                var sent = _hostClock();
                var change = await admin.SetTimeAsync(sent, adjust, ct).ConfigureAwait(false);
                var received = _hostClock();
                var result = new HsmModuleTimeResult
                {
                    Esn = module.Esn, Mode = change.Mode.ToString(), Adjusted = adjust, ClockValidBefore = change.ClockValidBefore,
                    OffsetBeforeSeconds = change.ClockValidBefore && change.ClockBefore != null
                        ? Seconds(change.ClockBefore.Value - sent) : (double?)null,
                    OffsetAfterSeconds = change.ClockAfter == null ? 0 : Seconds(change.ClockAfter.Value - received),
                    AdjustingSeconds = Seconds(change.RemainingAdjustment),
                    HostTime = sent, HostPath = _host.Path,
                };
                using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                    _host.Store.AppendAudit(new AuditEntry
                    {
                        Operation = adjust ? "clock.adjust" : "clock.set", Esn = module.Esn, Result = "Success",
                        Detail = "offset before " + (result.OffsetBeforeSeconds?.ToString("0.### s", Invariant) ?? "unknown (invalid clock)"),
                    });
                return result;
            }
        }

        private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;

        private static double Seconds(TimeSpan span) => Math.Round(span.TotalSeconds, 3);

        /// <summary>
        /// sshadmin with the host's key on the pinned server key; a module the host has not enrolled (no pin, or no client
        /// keys yet) with the factory credential, after its server key was verified against a trusted vendor root.
        /// </summary>
        private async Task<IModuleSession> OpenAdminAsync(ModuleAddress module, CancellationToken ct)
        {
            var pin = _host.Store.GetPin(module.Esn, ModuleServices.SshAdmin);
            if (pin != null && _host.HasClientKeys) return await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false);
            var policy = pin != null ? ServerKeyPolicy.Pinned(pin, _host.Store.KnownHostsPath) : ServerKeyPolicy.FirstContact();
            var session = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(), policy, ct).ConfigureAwait(false);
            try
            {
                if (pin == null)
                {
                    // First contact: nothing but identity is sent until the presented key is vouched for by the vendor chain.
                    var identity = await ModuleIdentityReader.ReadAsync(session, ct).ConfigureAwait(false);
                    var why = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, session.ServerKey);
                    if (why != null)
                        throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                            $"Module {module.Esn} is not enrolled with this host and its sshadmin server key could not be verified against a " +
                            $"trusted vendor root ({why}), so its clock was not set and nothing was sent. Add the vendor root " +
                            "(Add-HsmTrustedRoot), or enroll the module first (Invoke-HsmEnroll).", module.Esn);
                }
                return session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }
    }
}
