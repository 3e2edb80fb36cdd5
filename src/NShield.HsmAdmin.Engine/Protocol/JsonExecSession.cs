using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>
    /// A channel that runs one command at a time and returns what it printed: an SSH session's "exec" request (the
    /// command line, a body on stdin then EOF, stdout and the exit status back). What <see cref="JsonExecSession"/> runs
    /// its verbs on. Implementations bound what they read and raise <see cref="HsmException"/> on a timeout, a lost
    /// connection or a stop.
    /// </summary>
    public interface IExecChannel : IDisposable
    {
        string Esn { get; }
        string Service { get; }

        /// <summary>Runs one command with an optional stdin body; returns its stdout (UTF-8) and exit status.</summary>
        Task<ExecReply> RunAsync(string command, string? input, CancellationToken cancellationToken);
    }

    /// <summary>What one exec command printed on stdout, and how it exited (null when the channel reported no status).</summary>
    public sealed class ExecReply
    {
        public ExecReply(string output, int? exitStatus) { Output = output; ExitStatus = exitStatus; }
        public string Output { get; }
        public int? ExitStatus { get; }
    }

    /// <summary>
    /// The adapter for the module command set this product defines (docs/firmware-protocol.md): every module action is a
    /// JSON verb run as an SSH exec command, its body JSON on stdin, its reply one JSON line on stdout. This class and
    /// the rest of Protocol/ are the only code that knows verbs, bodies, replies and firmware error codes; the engine
    /// sees <see cref="IModuleSession"/>. The SSH transport wraps its channels in it; the simulator's in-process
    /// transport does the same over a channel that calls the simulated firmware directly.
    /// </summary>
    public sealed class JsonExecSession : IModuleSession
    {
        public JsonExecSession(IExecChannel channel, SshPublicKey serverKey)
        {
            Channel = channel ?? throw new ArgumentNullException(nameof(channel));
            ServerKey = serverKey ?? throw new ArgumentNullException(nameof(serverKey));
        }

        /// <summary>The exec channel the verbs run on (the SSH transport's also reports what it negotiated).</summary>
        public IExecChannel Channel { get; }
        public string Esn => Channel.Esn;
        public string Service => Channel.Service;
        public SshPublicKey ServerKey { get; }

        private async Task<FirmwareResult> InvokeAsync(string verb, string? body, CancellationToken ct)
        {
            var reply = await Channel.RunAsync(verb, body, ct).ConfigureAwait(false);
            return FirmwareResult.Parse(Esn, Service, verb, reply.Output, reply.ExitStatus);
        }

        public async Task<ModuleIdentity> GetIdentityAsync(CancellationToken cancellationToken) =>
            FirmwareBodies.ParseIdentity(Esn, await InvokeAsync(FirmwareVerbs.Identity, null, cancellationToken).ConfigureAwait(false));

        public Task PingAsync(CancellationToken cancellationToken) => InvokeAsync(FirmwareVerbs.Ping, null, cancellationToken);

        public async Task<IReadOnlyDictionary<string, IReadOnlyCollection<string>>> ListKeysAsync(CancellationToken cancellationToken)
        {
            var reply = await InvokeAsync(FirmwareVerbs.KeysList, null, cancellationToken).ConfigureAwait(false);
            return FirmwareBodies.ParseKeyList(reply.Result, Esn)
                .ToDictionary(kv => kv.Key, kv => (IReadOnlyCollection<string>)kv.Value);
        }

        public Task AddKeyAsync(string service, SshPublicKey key, CancellationToken cancellationToken) =>
            InvokeAsync(FirmwareVerbs.KeysAdd, FirmwareBodies.AddKey(service, key), cancellationToken);

        public Task RemoveKeyAsync(string service, string fingerprint, CancellationToken cancellationToken) =>
            InvokeAsync(FirmwareVerbs.KeysRemove, FirmwareBodies.RemoveKey(service, fingerprint), cancellationToken);

        public Task SetKeysAsync(string service, IReadOnlyList<SshPublicKey> keys, CancellationToken cancellationToken) =>
            InvokeAsync(FirmwareVerbs.KeysSet, FirmwareBodies.SetKeys(service, keys), cancellationToken);

        public Task EnrollAsync(IReadOnlyDictionary<string, SshPublicKey> clientKeys, CancellationToken cancellationToken) =>
            InvokeAsync(FirmwareVerbs.Enroll, FirmwareBodies.Enroll(clientKeys), cancellationToken);

        public Task ReturnToFactoryStateAsync(int timeoutSeconds, CancellationToken cancellationToken) =>
            InvokeAsync(FirmwareVerbs.FactoryState, FirmwareBodies.FactoryState(timeoutSeconds), cancellationToken);

        public async Task<IReadOnlyList<ModuleLogRecord>> GetLogsAsync(DateTimeOffset? since, int? tail, CancellationToken cancellationToken)
        {
            var reply = await InvokeAsync(FirmwareVerbs.Logs, FirmwareBodies.Logs(since?.ToUniversalTime(), tail), cancellationToken)
                .ConfigureAwait(false);
            return FirmwareBodies.ParseLogs(Esn, reply, tail);
        }

        // Clock and reboot (issue 22)

        public async Task<ModuleClockChange> SetTimeAsync(DateTimeOffset utcNow, bool adjust, CancellationToken cancellationToken)
        {
            FirmwareResult reply;
            try
            {
                reply = await InvokeAsync(FirmwareVerbs.SetTime, FirmwareBodies.SetTime(utcNow.ToUniversalTime(), adjust), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (ModuleErrorException ex) when (ex.FirmwareCode == FirmwareErrorCodes.Mode || ex.FirmwareCode == FirmwareErrorCodes.BadRequest
                || ex.FirmwareCode == FirmwareErrorCodes.Credential)
            {
                throw ModuleErrors.ClockNotSettable(Esn, adjust, ex.Message, ex);
            }
            return FirmwareBodies.ParseSetTime(Esn, reply);
        }

        public async Task<ModuleMode> RebootAsync(bool recovery, CancellationToken cancellationToken) =>
            FirmwareBodies.ParseReboot(Esn, await InvokeAsync(FirmwareVerbs.Reboot, FirmwareBodies.Reboot(recovery), cancellationToken)
                .ConfigureAwait(false));
        // Firmware over the updater service (issue 22 item 3)

        /// <summary>
        /// Sends the package in firmware.chunk parts of <see cref="FirmwareProtocol.FirmwareChunkBytes"/> (each one exec, so
        /// no body passes the module's 64 KiB bound and a package is never held twice in memory), then firmware.install
        /// with its size and SHA-256, so the module installs exactly the bytes read here.
        /// </summary>
        public async Task<FirmwareInstallOutcome> UpdateFirmwareAsync(System.IO.Stream package, long length, CancellationToken cancellationToken)
        {
            using (var sha = System.Security.Cryptography.SHA256.Create())
            {
                var buffer = new byte[FirmwareProtocol.FirmwareChunkBytes];
                long offset = 0;
                do
                {
                    int n = 0, read;
                    while (n < buffer.Length
                        && (read = await package.ReadAsync(buffer, n, buffer.Length - n, cancellationToken).ConfigureAwait(false)) > 0)
                        n += read;
                    if (n == 0 && offset > 0) break;
                    sha.TransformBlock(buffer, 0, n, null, 0);
                    var reply = await InvokeAsync(FirmwareVerbs.FirmwareChunk, FirmwareUpdateBodies.Chunk(offset, buffer, n), cancellationToken)
                        .ConfigureAwait(false);
                    offset += n;
                    if (FirmwareUpdateBodies.ParseChunk(Esn, reply) != offset)
                        throw FirmwareBodies.Malformed(FirmwareVerbs.FirmwareChunk, Esn,
                            $"the module holds another number of bytes than the {offset} sent");
                    if (n < buffer.Length) break;
                } while (true);
                if (offset != length)
                    throw new HsmException(HsmErrorIds.FirmwarePackageInvalid, HsmErrorKind.InvalidData,
                        $"The firmware package changed while it was sent to module {Esn} ({offset} bytes read, {length} expected); " +
                        "nothing was installed.", Esn);
                sha.TransformFinalBlock(new byte[0], 0, 0);
                var hex = BitConverter.ToString(sha.Hash!).Replace("-", "").ToLowerInvariant();
                var install = await InvokeAsync(FirmwareVerbs.FirmwareInstall, FirmwareUpdateBodies.Install(length, hex), cancellationToken)
                    .ConfigureAwait(false);
                return FirmwareUpdateBodies.ParseInstall(Esn, install);
            }
        }

        public async Task<int> SetMinimumVsnAsync(int vsn, CancellationToken cancellationToken) =>
            FirmwareUpdateBodies.ParseSetMinVsn(Esn,
                await InvokeAsync(FirmwareVerbs.SetMinVsn, FirmwareUpdateBodies.SetMinVsn(vsn), cancellationToken).ConfigureAwait(false));

        public async Task<ModuleLogClearOutcome> ClearLogsAsync(long fromSequence, long throughSequence, CancellationToken cancellationToken)
        {
            var body = System.Text.Json.JsonSerializer.Serialize(new LogsClearRequest { FromSeq = fromSequence, ThroughSeq = throughSequence },
                FirmwareJson.Default.LogsClearRequest);
            var reply = await InvokeAsync(FirmwareVerbs.LogsClear, body, cancellationToken).ConfigureAwait(false);
            var r = FirmwareBodies.Read(reply.Result, FirmwareJson.Default.LogsClearResult, FirmwareVerbs.LogsClear, Esn);
            return new ModuleLogClearOutcome { Cleared = r.Cleared, Remaining = r.Remaining };
        }

        public void Dispose() => Channel.Dispose();
    }
}
