using System;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Tells <see cref="OperationSteps"/> what each channel does, in words (connect, then each firmware verb and the service
    /// it concerns), so a fleet's progress shows each module's current step and -Verbose says what it does. Never the
    /// body of a call: only the verb and the service it names.
    /// </summary>
    internal sealed class StepReportingTransport : IModuleTransport
    {
        private readonly IModuleTransport _inner;

        public StepReportingTransport(IModuleTransport inner) => _inner = inner;

        public IModuleTransport Inner => _inner;

        public async Task<IModuleChannel> OpenAsync(ModuleAddress module, string service, SshKeyPair credential, ServerKeyPolicy policy,
            CancellationToken cancellationToken)
        {
            OperationSteps.Report($"connecting to {service} at {module.Endpoint(service)} " +
                (policy.Expected != null ? "(server key must match its pin)" : "(first contact: server key checked next)"));
            var channel = await _inner.OpenAsync(module, service, credential, policy, cancellationToken).ConfigureAwait(false);
            return new Channel(channel);
        }

        public string? CheckAddress(string address) => _inner.CheckAddress(address);

        internal static string Describe(string verb, string? body, string channelService)
        {
            var about = ServiceIn(body);
            var what = verb switch
            {
                FirmwareVerbs.Identity => "reads the module's mode, firmware version and ESN",
                FirmwareVerbs.Enroll => "replaces the default credential with this host's keys",
                FirmwareVerbs.KeysList => "lists the client keys the module holds",
                FirmwareVerbs.KeysAdd => "installs a new client key" + (about != null ? $" for {about}" : ""),
                FirmwareVerbs.KeysRemove => "removes an old client key" + (about != null ? $" for {about}" : ""),
                FirmwareVerbs.KeysSet => "sets the client keys" + (about != null ? $" for {about}" : ""),
                FirmwareVerbs.FactoryState => "returns the module to factory state",
                FirmwareVerbs.Ping => "checks that the channel works end to end",
                FirmwareVerbs.Logs => "reads the module's signed log",
                _ => "runs " + verb,
            };
            return $"{channelService}: {verb} ({what})";
        }

        private static string? ServiceIn(string? body)
        {
            if (body == null || body.Length == 0) return null;
            try
            {
                using (var doc = JsonDocument.Parse(body))
                    return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("service", out var s)
                        && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            }
            catch (JsonException) { return null; }
        }

        private sealed class Channel : IModuleChannel
        {
            private readonly IModuleChannel _inner;
            public Channel(IModuleChannel inner) => _inner = inner;
            public string Esn => _inner.Esn;
            public string Service => _inner.Service;
            public SshPublicKey ServerKey => _inner.ServerKey;

            public Task<FirmwareResult> InvokeAsync(string verb, string? jsonBody, CancellationToken cancellationToken)
            {
                OperationSteps.Report(Describe(verb, jsonBody, _inner.Service));
                return _inner.InvokeAsync(verb, jsonBody, cancellationToken);
            }

            public void Dispose() => _inner.Dispose();
        }
    }
}
