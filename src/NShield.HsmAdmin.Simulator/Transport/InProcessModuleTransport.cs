using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// The simulator's firmware called directly, for machines without sshd. It plugs into the engine as the
    /// transport named "inprocess" (<see cref="ModuleTransports.Register"/>); a module registered with it has its
    /// state folder as address. It keeps the SSH rules that matter to the host: the server key is checked against
    /// the policy before the credential is looked at, and only keys installed for the service authenticate.
    /// Modules run side by side like real ones: commands never block the caller's thread (the delay fault is awaited),
    /// and the only lock is each module's own state lock (taken by the firmware), so one module never waits for another.
    /// </summary>
    public sealed class InProcessModuleTransport : IModuleTransport
    {
        public const string Name = "inprocess";

        /// <summary>Makes the transport available to the engine in this process (idempotent).</summary>
        public static void Register() => ModuleTransports.Register(Name, new InProcessModuleTransport());

        private static readonly ConcurrentDictionary<CommandRecorder, byte> Recorders = new ConcurrentDictionary<CommandRecorder, byte>();

        /// <summary>
        /// Keeps every in-process command's module, verb, start and end until disposed (tests show that modules overlap).
        /// Process-wide: whoever reads it filters by ESN.
        /// </summary>
        public static CommandRecorder StartRecording()
        {
            var recorder = new CommandRecorder();
            Recorders[recorder] = 0;
            return recorder;
        }

        /// <summary>Commands recorded since <see cref="StartRecording"/>, in the order they finished.</summary>
        public sealed class CommandRecorder : IDisposable
        {
            internal readonly ConcurrentQueue<CommandRecord> Queue = new ConcurrentQueue<CommandRecord>();
            public IReadOnlyList<CommandRecord> Commands => Queue.ToList();

            /// <summary>
            /// Test hook: awaited as each in-process command starts (esn, service, verb), before the delay fault and the
            /// firmware; lets a test hold commands at a barrier or stop an operation inside a given command.
            /// </summary>
            internal Func<string, string, string, CancellationToken, Task>? Starting { get; set; }
            public void Dispose() => Recorders.TryRemove(this, out _);
        }

        public string? CheckAddress(string address) =>
            Directory.Exists(address) && File.Exists(new ModuleLayout(address).StateFile) ? null : "it is not a simulated module's folder";

        public Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
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
            return Task.FromResult<IModuleSession>(new JsonExecSession(new Channel(module.Esn, service, dir, fingerprint), presented));
        }

        /// <summary>One command as the module ran it: which module, service and verb, and when it started and ended (UTC).</summary>
        public sealed class CommandRecord
        {
            public CommandRecord(string esn, string service, string verb, DateTime started, DateTime ended)
            {
                Esn = esn; Service = service; Verb = verb; Started = started; Ended = ended;
            }
            public string Esn { get; }
            public string Service { get; }
            public string Verb { get; }
            public DateTime Started { get; }
            public DateTime Ended { get; }
        }

        /// <summary>The firmware's exec command run in this process: the same JSON in and out as over SSH.</summary>
        private sealed class Channel : IExecChannel
        {
            private readonly string _dir;
            private readonly string _fingerprint;

            public Channel(string esn, string service, string dir, string fingerprint)
            {
                Esn = esn; Service = service; _dir = dir; _fingerprint = fingerprint;
            }

            public string Esn { get; }
            public string Service { get; }

            public async Task<ExecReply> RunAsync(string verb, string? jsonBody, CancellationToken cancellationToken)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var started = DateTime.UtcNow;
                // Off the caller's thread at once: a fleet starts every module before any of them answers, as over SSH.
                await Task.Yield();
                foreach (var recorder in Recorders.Keys)
                    if (recorder.Starting is { } starting) await starting(Esn, Service, verb, cancellationToken).ConfigureAwait(false);
                var delay = ModuleFirmware.CommandDelayMs(_dir);
                if (delay > 0) await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                var reply = ModuleFirmware.Handle(new FirmwareRequest(_dir, Service, _fingerprint, verb, jsonBody) { DelayAwaited = true });
                if (!Recorders.IsEmpty)
                {
                    var record = new CommandRecord(Esn, Service, verb, started, DateTime.UtcNow);
                    foreach (var recorder in Recorders.Keys) recorder.Queue.Enqueue(record);
                }
                return new ExecReply(reply.Dropped ? "" : reply.Json, reply.ExitCode);
            }

            public void Dispose() { }
        }
    }
}
