using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Bounds every module action of a session by the host's module timeout (the cmdlets' -Timeout), whatever the adapter
    /// and transport do: an action that has not finished by then is cancelled and becomes <c>ModuleTimeout</c> for that
    /// module, naming it, the service and the timeout. A stop (Ctrl+C) stays a stop.
    /// </summary>
    internal sealed class TimedSession : IModuleSession
    {
        private readonly IModuleSession _inner;
        private readonly TimeSpan _timeout;

        public TimedSession(IModuleSession inner, TimeSpan timeout)
        {
            _inner = inner;
            _timeout = timeout;
        }

        public string Esn => _inner.Esn;
        public string Service => _inner.Service;
        public SshPublicKey ServerKey => _inner.ServerKey;

        /// <summary>
        /// Whether a failure is this timeout: the deadline's token fired, not the caller's. (A transport's own, shorter timeout
        /// stays its ConnectionTimeout: the message then names the transport's limit, not -Timeout.)
        /// </summary>
        internal static bool IsTimeout(Exception ex, CancellationTokenSource deadline, CancellationToken caller) =>
            !caller.IsCancellationRequested && deadline.IsCancellationRequested
            && (ex is OperationCanceledException || ex is HsmException);

        internal static HsmException Timeout(string esn, string service, string what, TimeSpan timeout, Exception inner) =>
            inner is HsmException h && h.ErrorId == HsmErrorIds.ModuleTimeout ? h
            : new HsmException(HsmErrorIds.ModuleTimeout, HsmErrorKind.OperationTimeout,
                $"Module {esn} did not finish {what} on its {service} service within {timeout.TotalSeconds:0.###} s (-Timeout). The other " +
                $"modules went on. A busy or slow module may need longer: run the command again with a larger -Timeout (at most " +
                $"{HsmHost.MaxModuleTimeoutSeconds}); one that never answers needs a look at the module and its network.", esn, inner)
            {
                RecommendedAction = $"Run the command again with a larger -Timeout (up to {HsmHost.MaxModuleTimeoutSeconds}), or check module {esn}.",
            };

        private async Task<T> Timed<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken ct)
        {
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                deadline.CancelAfter(_timeout);
                try { return await action(deadline.Token).ConfigureAwait(false); }
                catch (Exception ex) when (IsTimeout(ex, deadline, ct))
                {
                    throw Timeout(Esn, Service, what, _timeout, ex);
                }
            }
        }

        private Task Timed(string what, Func<CancellationToken, Task> action, CancellationToken ct) =>
            Timed(what, async c => { await action(c).ConfigureAwait(false); return true; }, ct);

        public Task<ModuleIdentity> GetIdentityAsync(CancellationToken ct) => Timed("'identity'", c => _inner.GetIdentityAsync(c), ct);
        public Task PingAsync(CancellationToken ct) => Timed("'ping'", c => _inner.PingAsync(c), ct);
        public Task<IReadOnlyDictionary<string, IReadOnlyCollection<string>>> ListKeysAsync(CancellationToken ct) =>
            Timed("listing its keys", c => _inner.ListKeysAsync(c), ct);
        public Task AddKeyAsync(string service, SshPublicKey key, CancellationToken ct) =>
            Timed("adding a key", c => _inner.AddKeyAsync(service, key, c), ct);
        public Task RemoveKeyAsync(string service, string fingerprint, CancellationToken ct) =>
            Timed("removing a key", c => _inner.RemoveKeyAsync(service, fingerprint, c), ct);
        public Task SetKeysAsync(string service, IReadOnlyList<SshPublicKey> keys, CancellationToken ct) =>
            Timed("setting keys", c => _inner.SetKeysAsync(service, keys, c), ct);
        public Task EnrollAsync(IReadOnlyDictionary<string, SshPublicKey> clientKeys, CancellationToken ct) =>
            Timed("enrolling", c => _inner.EnrollAsync(clientKeys, c), ct);
        public Task ReturnToFactoryStateAsync(int timeoutSeconds, CancellationToken ct) =>
            Timed("returning to factory state", c => _inner.ReturnToFactoryStateAsync(timeoutSeconds, c), ct);
        public Task<IReadOnlyList<ModuleLogRecord>> GetLogsAsync(DateTimeOffset? since, int? tail, CancellationToken ct) =>
            Timed("reading its log", c => _inner.GetLogsAsync(since, tail, c), ct);
        public Task<ModuleClockChange> SetTimeAsync(DateTimeOffset utcNow, bool adjust, CancellationToken ct) =>
            Timed("setting its clock", c => _inner.SetTimeAsync(utcNow, adjust, c), ct);
        public Task<ModuleMode> RebootAsync(bool recovery, CancellationToken ct) =>
            Timed("rebooting", c => _inner.RebootAsync(recovery, c), ct);

        // A package goes in many firmware.chunk commands: the whole upload is not bounded by one timeout, each command is by
        // the transport's own (the SSH transport's is -Timeout); installing and the minimum VSN are single commands.
        public Task<FirmwareInstallOutcome> UpdateFirmwareAsync(System.IO.Stream package, long length, CancellationToken ct) =>
            _inner.UpdateFirmwareAsync(package, length, ct);
        public Task<int> SetMinimumVsnAsync(int vsn, CancellationToken ct) =>
            Timed("setting its minimum VSN", c => _inner.SetMinimumVsnAsync(vsn, c), ct);
        public Task<ModuleLogClearOutcome> ClearLogsAsync(long fromSequence, long throughSequence, CancellationToken ct) =>
            Timed("clearing its log", c => _inner.ClearLogsAsync(fromSequence, throughSequence, c), ct);

        public void Dispose() => _inner.Dispose();
    }
}
