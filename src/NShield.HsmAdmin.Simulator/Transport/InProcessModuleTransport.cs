using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// The simulator's firmware called directly, for machines without sshd. It plugs into the engine as the
    /// transport named "inprocess" (<see cref="ModuleTransports.Register"/>); a module registered with it has its
    /// state folder as address. It keeps the SSH rules that matter to the host: the server key is checked against
    /// the policy before the credential is looked at, and only keys installed for the service authenticate.
    /// </summary>
    public sealed class InProcessModuleTransport : IModuleTransport
    {
        public const string Name = "inprocess";

        /// <summary>Makes the transport available to the engine in this process (idempotent).</summary>
        public static void Register() => ModuleTransports.Register(Name, new InProcessModuleTransport());

        public string? CheckAddress(string address) =>
            Directory.Exists(address) && File.Exists(new ModuleLayout(address).StateFile) ? null : "it is not a simulated module's folder";

        public Task<IModuleChannel> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var dir = module.Host;
            if (CheckAddress(dir) != null)
                throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                    $"Module {module.Esn} is registered for the in-process transport at '{dir}', which holds no simulated module.", module.Esn);
            if (!ModuleFirmware.IsServiceRunning(dir, service))
                throw ChannelErrors.NotRunning(module, service);
            var presented = SshPublicKey.Parse(ModuleFirmware.GetServerPublicKey(dir, service));
            if (policy.Expected != null && !presented.Blob.SequenceEqual(policy.Expected.Blob))
                throw ChannelErrors.ServerKeyChanged(module, service, policy, presented);
            var fingerprint = credential.PublicKey.Fingerprint;
            if (!ModuleFirmware.IsAuthorized(dir, service, fingerprint))
                throw ChannelErrors.KeyRefused(module, service);
            return Task.FromResult<IModuleChannel>(new Channel(module.Esn, service, dir, fingerprint, presented));
        }

        private sealed class Channel : IModuleChannel
        {
            private readonly string _dir;
            private readonly string _fingerprint;

            public Channel(string esn, string service, string dir, string fingerprint, SshPublicKey serverKey)
            {
                Esn = esn; Service = service; _dir = dir; _fingerprint = fingerprint; ServerKey = serverKey;
            }

            public string Esn { get; }
            public string Service { get; }
            public SshPublicKey ServerKey { get; }

            public Task<FirmwareResult> InvokeAsync(string verb, string? jsonBody, CancellationToken cancellationToken)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var reply = ModuleFirmware.Handle(new FirmwareRequest(_dir, Service, _fingerprint, verb, jsonBody));
                return Task.FromResult(FirmwareResult.Parse(Esn, Service, verb, reply.Dropped ? "" : reply.Json, reply.ExitCode));
            }

            public void Dispose() { }
        }
    }
}
