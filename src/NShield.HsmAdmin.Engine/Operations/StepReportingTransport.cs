using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Tells <see cref="OperationSteps"/> what each session does, in words (connect, then each module action and the
    /// service it concerns), so a fleet's progress shows each module's current step and -Verbose says what it does.
    /// Never key material or a reply: only the action and the service it names.
    /// </summary>
    internal sealed class StepReportingTransport : IModuleTransport
    {
        private readonly IModuleTransport _inner;

        public StepReportingTransport(IModuleTransport inner) => _inner = inner;

        public async Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential, ServerKeyPolicy policy,
            CancellationToken cancellationToken)
        {
            OperationSteps.Report($"connecting to {service} at {module.Endpoint(service)} " +
                (policy.Expected != null ? "(server key must match its pin)" : "(first contact: server key checked next)"));
            var session = await _inner.OpenAsync(module, service, credential, policy, cancellationToken).ConfigureAwait(false);
            return new Session(session);
        }

        public string? CheckAddress(string address) => _inner.CheckAddress(address);

        private sealed class Session : IModuleSession
        {
            private readonly IModuleSession _inner;
            public Session(IModuleSession inner) => _inner = inner;
            public string Esn => _inner.Esn;
            public string Service => _inner.Service;
            public SshPublicKey ServerKey => _inner.ServerKey;

            private void Step(string what) => OperationSteps.Report($"{_inner.Service}: {what}");

            public Task<ModuleIdentity> GetIdentityAsync(CancellationToken ct)
            {
                Step("identity (reads the module's mode, firmware version and ESN)");
                return _inner.GetIdentityAsync(ct);
            }

            public Task PingAsync(CancellationToken ct)
            {
                Step("ping (checks that the channel works end to end)");
                return _inner.PingAsync(ct);
            }

            public Task<IReadOnlyDictionary<string, IReadOnlyCollection<string>>> ListKeysAsync(CancellationToken ct)
            {
                Step("keys.list (lists the client keys the module holds)");
                return _inner.ListKeysAsync(ct);
            }

            public Task AddKeyAsync(string service, SshPublicKey key, CancellationToken ct)
            {
                Step($"keys.add (installs a new client key for {service})");
                return _inner.AddKeyAsync(service, key, ct);
            }

            public Task RemoveKeyAsync(string service, string fingerprint, CancellationToken ct)
            {
                Step($"keys.remove (removes an old client key for {service})");
                return _inner.RemoveKeyAsync(service, fingerprint, ct);
            }

            public Task SetKeysAsync(string service, IReadOnlyList<SshPublicKey> keys, CancellationToken ct)
            {
                Step($"keys.set (sets the client keys for {service})");
                return _inner.SetKeysAsync(service, keys, ct);
            }

            public Task EnrollAsync(IReadOnlyDictionary<string, SshPublicKey> clientKeys, CancellationToken ct)
            {
                Step("enroll (installs this host's client keys and replaces the default credential)");
                return _inner.EnrollAsync(clientKeys, ct);
            }

            public Task ReturnToFactoryStateAsync(int timeoutSeconds, CancellationToken ct)
            {
                Step("factorystate (returns the module to factory state)");
                return _inner.ReturnToFactoryStateAsync(timeoutSeconds, ct);
            }

            public Task<IReadOnlyList<ModuleLogRecord>> GetLogsAsync(DateTimeOffset? since, int? tail, CancellationToken ct)
            {
                Step("logs (reads the module's signed log)");
                return _inner.GetLogsAsync(since, tail, ct);
            }

            public Task<ModuleClockChange> SetTimeAsync(DateTimeOffset utcNow, bool adjust, CancellationToken ct)
            {
                Step(adjust ? "settime (slews the module's clock towards this host's UTC time)"
                    : "settime (sets the module's clock to this host's UTC time)");
                return _inner.SetTimeAsync(utcNow, adjust, ct);
            }

            public Task<ModuleMode> RebootAsync(bool recovery, CancellationToken ct)
            {
                Step(recovery ? "reboot (restarts the module into its recovery image)" : "reboot (restarts the module)");
                return _inner.RebootAsync(recovery, ct);
            }

            // Issue 22 item 3
            public Task<FirmwareInstallOutcome> UpdateFirmwareAsync(System.IO.Stream package, long length, CancellationToken ct)
            {
                Step($"firmware.chunk, firmware.install (sends a {length}-byte firmware package; the module checks and installs it)");
                return _inner.UpdateFirmwareAsync(package, length, ct);
            }

            public Task<ModuleLogClearOutcome> ClearLogsAsync(long fromSequence, long throughSequence, CancellationToken ct)
            {
                Step($"logs.clear (clears log entries {fromSequence} to {throughSequence}, which were read and saved)");
                return _inner.ClearLogsAsync(fromSequence, throughSequence, ct);
            }

            public Task<int> SetMinimumVsnAsync(int vsn, CancellationToken ct)
            {
                Step($"setminvsn (raises the module's minimum VSN to {vsn})");
                return _inner.SetMinimumVsnAsync(vsn, ct);
            }

            public void Dispose() => _inner.Dispose();
        }
    }
}
