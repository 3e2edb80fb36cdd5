using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Real SSH to module endpoints (SSH.NET). The server key is checked against the policy in
    /// HostKeyReceived, which runs before user authentication: a wrong key never sees our credential.
    /// </summary>
    public sealed class SshModuleTransport : IModuleTransport
    {
        // No SHA-1 key exchange; curve25519 first: it halves the handshake against the post-quantum default.
        private static readonly string[] AllowedKeyExchanges =
        {
            "curve25519-sha256", "curve25519-sha256@libssh.org",
            "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
            "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
        };

        public SshModuleTransport(TimeSpan? connectTimeout = null, TimeSpan? commandTimeout = null)
        {
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10);
            CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(60);
        }

        /// <summary>An IP address or a DNS host name.</summary>
        public string? CheckAddress(string address) => Store.ModuleEndpointDefaults.CheckHostAddress(address);

        public TimeSpan ConnectTimeout { get; }
        public TimeSpan CommandTimeout { get; }

        public async Task<IModuleChannel> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken)
        {
            if (!module.Ports.TryGetValue(service, out var port))
                throw new HsmException(HsmErrorIds.ServiceNotRunning, HsmErrorKind.ResourceUnavailable,
                    $"Module {module.Esn} has no {service} endpoint.", module.Esn);

            // SSH.NET reads keys from openssh-key-v1 text; the plain copy lives only in memory for this connection.
            var keyText = OpenSshPrivateKey.Encode(credential, null);
            var keyFile = new PrivateKeyFile(new MemoryStream(Encoding.ASCII.GetBytes(keyText)));
            var info = new ConnectionInfo(module.Host, port, module.User, new PrivateKeyAuthenticationMethod(module.User, keyFile))
            {
                Timeout = ConnectTimeout,
            };
            foreach (var kex in info.KeyExchangeAlgorithms.Keys.ToList())
                if (!AllowedKeyExchanges.Contains(kex)) info.KeyExchangeAlgorithms.Remove(kex);
            var hostKeyTypes = HostKeyAlgorithmsFor(policy.Expected);
            foreach (var alg in info.HostKeyAlgorithms.Keys.ToList())
                if (!hostKeyTypes.Contains(alg)) info.HostKeyAlgorithms.Remove(alg);

            var client = new SshClient(info);
            SshPublicKey? presented = null;
            bool refused = false;
            client.HostKeyReceived += (_, e) =>
            {
                presented = SshPublicKey.FromBlob(e.HostKey);
                if (policy.Expected != null && !presented.Blob.SequenceEqual(policy.Expected.Blob))
                {
                    refused = true;
                    e.CanTrust = false;
                }
            };

            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(ConnectTimeout);
                try
                {
                    await client.ConnectAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    client.Dispose();
                    keyFile.Dispose();
                    if (refused)
                        throw ChannelErrors.ServerKeyChanged(module, service, policy, presented!);
                    throw Translate(ex, module, service, cancellationToken);
                }
            }
            return new SshModuleChannel(module.Esn, service, client, keyFile, presented!, CommandTimeout);
        }

        private static HashSet<string> HostKeyAlgorithmsFor(SshPublicKey? expected)
        {
            if (expected == null)
                return new HashSet<string> { "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256" };
            // The pin decides the negotiated type, so the module cannot steer us to another of its keys.
            return expected.KeyType == "ssh-rsa"
                ? new HashSet<string> { "rsa-sha2-512", "rsa-sha2-256" }
                : new HashSet<string> { expected.KeyType };
        }

        internal static HsmException Translate(Exception ex, ModuleAddress module, string service, CancellationToken callerToken)
        {
            var where = $"{service} on module {module.Esn} ({module.Endpoint(service)})";
            switch (ex)
            {
                case HsmException h:
                    return h;
                case OperationCanceledException _ when callerToken.IsCancellationRequested:
                    return new HsmException(HsmErrorIds.Cancelled, HsmErrorKind.OperationStopped, $"Cancelled while connecting to {where}.", module.Esn, ex);
                case OperationCanceledException _:
                case SshOperationTimeoutException _:
                    return new HsmException(HsmErrorIds.ConnectionTimeout, HsmErrorKind.OperationTimeout,
                        $"Timed out connecting to {where}. Check that the module is powered and reachable.", module.Esn, ex);
                case SshAuthenticationException _:
                    return ChannelErrors.KeyRefused(module, service, ex);
                case SocketException se when se.SocketErrorCode == SocketError.ConnectionRefused:
                    return ChannelErrors.NotRunning(module, service, ex);
                default:
                    return new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                        $"Could not talk to {where}: {ex.Message}", module.Esn, ex);
            }
        }

        private sealed class SshModuleChannel : IModuleChannel
        {
            private readonly SshClient _client;
            private readonly PrivateKeyFile _keyFile;
            private readonly TimeSpan _commandTimeout;

            public SshModuleChannel(string esn, string service, SshClient client, PrivateKeyFile keyFile, SshPublicKey serverKey, TimeSpan commandTimeout)
            {
                Esn = esn; Service = service; _client = client; _keyFile = keyFile; ServerKey = serverKey; _commandTimeout = commandTimeout;
            }

            public string Esn { get; }
            public string Service { get; }
            public SshPublicKey ServerKey { get; }

            public async Task<FirmwareResult> InvokeAsync(string verb, string? jsonBody, CancellationToken cancellationToken)
            {
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                using (var command = _client.CreateCommand(verb))
                {
                    timeout.CancelAfter(_commandTimeout);
                    try
                    {
                        var run = command.ExecuteAsync(timeout.Token);
                        // The body goes on stdin; disposing the stream sends EOF so the firmware stops reading.
                        using (var input = command.CreateInputStream())
                        {
                            if (!string.IsNullOrEmpty(jsonBody))
                            {
                                var bytes = Encoding.UTF8.GetBytes(jsonBody);
                                input.Write(bytes, 0, bytes.Length);
                            }
                        }
                        await run.ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!(ex is HsmException))
                    {
                        if (cancellationToken.IsCancellationRequested)
                            throw new HsmException(HsmErrorIds.Cancelled, HsmErrorKind.OperationStopped,
                                $"Cancelled during '{verb}' on {Service} of module {Esn}; run the command again to complete or revert it.", Esn, ex);
                        if (ex is OperationCanceledException)
                            throw new HsmException(HsmErrorIds.ConnectionTimeout, HsmErrorKind.OperationTimeout,
                                $"Module {Esn} did not answer '{verb}' on {Service} within {_commandTimeout.TotalSeconds:0} s.", Esn, ex);
                        if (string.IsNullOrEmpty(command.Result))
                            throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                                $"The {Service} channel to module {Esn} dropped during '{verb}': {ex.Message}. Run the command again to complete it.", Esn, ex);
                    }
                    return FirmwareResult.Parse(Esn, Service, verb, command.Result, command.ExitStatus);
                }
            }

            public void Dispose()
            {
                try { _client.Disconnect(); } catch { /* already gone */ }
                _client.Dispose();
                _keyFile.Dispose();
            }
        }
    }
}
