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
    /// <summary>One module after Restart-HsmModule.</summary>
    public sealed class HsmModuleRestartResult
    {
        public string Esn { get; set; } = "";
        /// <summary>The mode before the reboot and the mode it reports now.</summary>
        public string ModeBefore { get; set; } = "";
        public string Mode { get; set; } = "";
        /// <summary>True when it was rebooted into Recovery mode (its server keys changed; the host forgot its pins).</summary>
        public bool Recovery { get; set; }
        /// <summary>Whether this host still has the module enrolled (false after a reboot into Recovery mode).</summary>
        public bool Enrolled { get; set; }
        public string HostPath { get; set; } = "";
    }

    /// <summary>
    /// The vendor's `hsmadmin reset`: tells each module over sshadmin to reboot, then waits, within the timeout, until it
    /// answers again and reports its mode. A reboot into Recovery mode (the recovery button held) is a factory reset: the
    /// module comes back with new server keys, which are accepted only when a trusted vendor root vouches for them; the host
    /// then forgets its pins, as Reset-HsmModule does.
    /// </summary>
    internal sealed class RestartOperation
    {
        private readonly HsmHost _host;
        public RestartOperation(HsmHost host) { _host = host; }

        public const string Action = "Reboot the module (applications using it lose it until it is up again)";
        public const string RecoveryAction = "Reboot the module into Recovery mode (erases every client key, regenerates every server key)";

        /// <summary>The vendor's advice for entering Recovery mode: the button is on the module, held while it boots.</summary>
        public const string RecoveryAdvice = "Entering Recovery mode: hold the recovery button on the back panel of each module for at least " +
            "60 s while it reboots. Booting in Recovery mode performs the same actions as a factory reset: run Invoke-HsmEnroll afterwards.";

        /// <summary>How often a rebooting module is asked whether it is up again.</summary>
        private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

        /// <summary>
        /// Restart-HsmModule: asks per module (ConfirmImpact High), reboots the confirmed ones of <paramref name="modules"/> in
        /// parallel, waiting for each up to the request's module timeout.
        /// </summary>
        public Task RestartAllAsync(IReadOnlyList<ModuleAddress> modules, RestartRequest request, IOperationReporter reporter, CancellationToken ct)
        {
            var timeoutSeconds = request.ModuleTimeoutSeconds;
            if (timeoutSeconds < HsmHost.MinModuleTimeoutSeconds || timeoutSeconds > HsmHost.MaxModuleTimeoutSeconds)
                throw new HsmException(HsmErrorIds.InvalidTimeout, HsmErrorKind.InvalidArgument,
                    $"-Timeout {timeoutSeconds} is outside 3 to 120 seconds; nothing was rebooted.", timeoutSeconds);
            if (request.Recovery)
            {
                // A reboot into Recovery mode erases keys an open roll or restore is installing.
                EnrollJournal.EnsureNoOpenRoll(_host,
                    "A reboot into Recovery mode mid-roll erases keys the roll is installing or cleaning, so nothing was rebooted.");
                if (modules.Count > 0) reporter.Warning(RecoveryAdvice);
            }
            var action = request.Recovery ? RecoveryAction : Action;
            var confirmed = modules.Where(m => reporter.ShouldProcess($"module {m.Esn}", action)).ToList();
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await RestartAsync(m, request.Recovery, timeoutSeconds, c).ConfigureAwait(false)),
                request.ThrottleLimit, request.Recovery ? "Rebooting modules into Recovery mode" : "Rebooting modules", reporter, ct);
        }

        /// <summary>Reboots one module and waits until it answers again (ModuleRebootTimeout when it does not in time).</summary>
        public async Task<HsmModuleRestartResult> RestartAsync(ModuleAddress module, bool recovery, int timeoutSeconds, CancellationToken ct)
        {
            ModuleMode before;
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
            {
                before = (await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false)).Mode;
                try { await admin.RebootAsync(recovery, ct).ConfigureAwait(false); }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ConnectionFailed)
                {
                    // The reply can be lost as the module goes down (a reboot into Recovery mode reloads every endpoint): whether it
                    // rebooted is found out below, as for any reboot (a module that did not answers as before: RecoveryNotEntered).
                }
            }
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = recovery ? "restart.recovery" : "restart", Esn = module.Esn, Result = "Started",
                });

            var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
            HsmException? last = null;
            while (true)
            {
                await Task.Delay(PollInterval, ct).ConfigureAwait(false);
                var left = deadline - DateTimeOffset.UtcNow;
                if (left <= TimeSpan.Zero) break;
                using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    attempt.CancelAfter(left);
                    try
                    {
                        var mode = recovery
                            ? await RecoveredModeAsync(module, attempt.Token).ConfigureAwait(false)
                            : await AnsweringModeAsync(module, attempt.Token).ConfigureAwait(false);
                        return Finish(module, before, mode, recovery);
                    }
                    catch (HsmException ex) when (!ct.IsCancellationRequested && IsStillBooting(ex))
                    {
                        last = ex; // not up yet: ask again until the deadline
                    }
                }
            }
            throw new HsmException(HsmErrorIds.ModuleRebootTimeout, HsmErrorKind.OperationTimeout,
                $"Module {module.Esn} was told to reboot but did not answer again within {timeoutSeconds} s (-Timeout)" +
                (last == null ? "." : $"; last attempt: {last.Message}") +
                $" It may still be booting: Get-HsmModule -Esn {module.Esn} shows its mode once it answers; a module that never does " +
                "needs a look at the hardware.",
                module.Esn, last)
            {
                RecommendedAction = $"Wait, then run Get-HsmModule -Esn {module.Esn}; or rerun Restart-HsmModule with a larger -Timeout.",
            };
        }

        /// <summary>Connection-level failures while a module boots; anything else (a changed server key, a refusal) is final.</summary>
        private static bool IsStillBooting(HsmException ex) =>
            ex.Kind == HsmErrorKind.ConnectionError || ex.Kind == HsmErrorKind.OperationTimeout || ex.Kind == HsmErrorKind.ResourceUnavailable
            || ex.ErrorId == HsmErrorIds.Cancelled;

        /// <summary>After a normal reboot: the module answers on its pinned sshadmin key with the host's key.</summary>
        private async Task<ModuleMode> AnsweringModeAsync(ModuleAddress module, CancellationToken ct)
        {
            using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
                return (await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false)).Mode;
        }

        /// <summary>
        /// After a reboot into Recovery mode: the module has new server keys and the factory credential; only keys a trusted
        /// vendor root vouches for are accepted (CertificateInvalid otherwise), and it must report Recovery mode.
        /// </summary>
        private async Task<ModuleMode> RecoveredModeAsync(ModuleAddress module, CancellationToken ct)
        {
            // A module that still answers on its pinned key with the host's key did not boot into Recovery mode (the
            // button was not held, or it cannot do it by command): nothing was reset, the host keeps its pins.
            try
            {
                using (var pinned = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
                {
                    var mode = (await ModuleIdentityReader.ReadAsync(pinned, ct).ConfigureAwait(false)).Mode;
                    throw new HsmException(HsmErrorIds.RecoveryNotEntered, HsmErrorKind.InvalidOperation,
                        $"Module {module.Esn} came back in {mode} mode with its old keys, not in Recovery mode: the recovery button was not " +
                        "held while it booted. Nothing was reset and the host keeps its pins; reboot again holding the button.", module.Esn);
                }
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ServerKeyChanged || ex.ErrorId == HsmErrorIds.AuthenticationFailed)
            {
                // New server keys, or the host's key is gone: it was reset. Its new keys are checked below.
            }
            using (var admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(), ServerKeyPolicy.FirstContact(), ct)
                .ConfigureAwait(false))
            {
                var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                var why = TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, admin.ServerKey);
                if (why != null)
                    throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                        $"Module {module.Esn} came back from its reboot with server keys no trusted vendor root vouches for ({why}); the host " +
                        "kept its pins. Check the module, then enroll it (Invoke-HsmEnroll confirms its fingerprints).", module.Esn);
                if (identity.Mode != ModuleMode.Recovery)
                    throw new HsmException(HsmErrorIds.RecoveryNotEntered, HsmErrorKind.InvalidOperation,
                        $"Module {module.Esn} came back in {identity.Mode} mode, not Recovery mode. Its keys were reset all the same: run " +
                        "Invoke-HsmEnroll, or reboot again holding the recovery button.", module.Esn);
                return identity.Mode;
            }
        }

        private HsmModuleRestartResult Finish(ModuleAddress module, ModuleMode before, ModuleMode mode, bool recovery)
        {
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                if (recovery)
                {
                    // As a factory reset: the module's old server keys are gone, so are its pins and its place on the list.
                    _host.Store.RemovePins(module.Esn);
                    _host.Store.RemoveModule(module.Esn);
                }
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = recovery ? "restart.recovery" : "restart", Esn = module.Esn, Result = "Success", Detail = $"mode {mode}",
                });
            }
            return new HsmModuleRestartResult
            {
                Esn = module.Esn, ModeBefore = before.ToString(), Mode = mode.ToString(), Recovery = recovery, HostPath = _host.Path,
                Enrolled = !recovery && _host.Store.GetModules().Any(r => r.Esn == module.Esn.Value
                    && r.Status == ModuleStatus.Enrolled),
            };
        }
    }
}
