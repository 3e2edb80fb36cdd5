using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Real SSH to module endpoints (SSH.NET). The server key is checked against the policy in
    /// HostKeyReceived, which runs before user authentication: a wrong key never sees our credential.
    /// </summary>
    public sealed class SshModuleTransport : IModuleTransport, IDisposable
    {
        /// <summary>
        /// Largest module reply (stdout) the host reads: 1 MiB. The biggest real reply (identity, six server keys and
        /// certificates) is about 4 KiB; reading stops at the cap and the command ends in ReplyTooLarge.
        /// </summary>
        public const int MaxReplyBytes = 1024 * 1024;
        /// <summary>Largest module stderr the host accepts alongside a reply (it is read and dropped, never shown).</summary>
        public const int MaxErrorOutputBytes = 64 * 1024;
        // How often a running command's output is moved out of SSH.NET's buffer and checked against the cap.
        private static readonly TimeSpan OutputPollInterval = TimeSpan.FromMilliseconds(10);

        public SshModuleTransport(TimeSpan? connectTimeout = null, TimeSpan? commandTimeout = null, IReadOnlyList<string>? keyExchanges = null)
        {
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(10);
            CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(60);
            _keyExchanges = keyExchanges;
        }

        // Null: the policy's list (post-quantum first). A subset of it only (see SshAlgorithmPolicy.Apply).
        private readonly IReadOnlyList<string>? _keyExchanges;

        // SSH.NET's form of each client key, made once per key object instead of once per connection (a fleet opens
        // six channels per module with the same six keys). Weak: an entry goes with its key; Dispose drops them all.
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SshKeyPair, PrivateKeyFile> _sshNetKeys =
            new System.Runtime.CompilerServices.ConditionalWeakTable<SshKeyPair, PrivateKeyFile>();
        private readonly List<PrivateKeyFile> _made = new List<PrivateKeyFile>();
        private bool _disposed;

        /// <summary>How many times a client key was converted to SSH.NET's form (tests: once per key, not per connection).</summary>
        internal int KeyConversions { get { lock (_made) return _made.Count; } }

        private PrivateKeyFile SshNetKey(SshKeyPair credential)
        {
            if (credential.IsDisposed) throw new ObjectDisposedException(nameof(SshKeyPair));
            lock (_made)
            {
                if (_disposed) throw new ObjectDisposedException(nameof(SshModuleTransport));
                if (_sshNetKeys.TryGetValue(credential, out var known)) return known;
                // SSH.NET reads keys from openssh-key-v1 text; the plain text lives only in memory, only here.
                var keyText = OpenSshPrivateKey.Encode(credential, null);
                var keyFile = new PrivateKeyFile(new MemoryStream(Encoding.ASCII.GetBytes(keyText)));
                _sshNetKeys.Add(credential, keyFile);
                _made.Add(keyFile);
                return keyFile;
            }
        }

        /// <summary>Drops SSH.NET's copies of the client keys (the host object disposes its transport with its keys).</summary>
        public void Dispose()
        {
            lock (_made)
            {
                _disposed = true;
                foreach (var keyFile in _made) keyFile.Dispose();
                _made.Clear();
            }
        }

        /// <summary>An IP address or a DNS host name.</summary>
        public string? CheckAddress(string address) => HostAddresses.Check(address);

        public TimeSpan ConnectTimeout { get; }
        public TimeSpan CommandTimeout { get; }

        public async Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken)
        {
            if (!module.Ports.TryGetValue(service, out var port))
                throw new HsmException(HsmErrorIds.ServiceNotRunning, HsmErrorKind.ResourceUnavailable,
                    $"Module {module.Esn} has no {service} endpoint.", module.Esn);

            var keyFile = SshNetKey(credential);
            var info = new ConnectionInfo(module.Host, port, module.User, new PrivateKeyAuthenticationMethod(module.User, keyFile))
            {
                Timeout = ConnectTimeout,
            };
            // Key exchange, ciphers and MACs from an explicit allowlist (SshAlgorithmPolicy); the host key type from the pin.
            SshAlgorithmPolicy.Apply(info, _keyExchanges);
            var hostKeyTypes = HostKeyAlgorithmsFor(policy.Expected);
            foreach (var alg in info.HostKeyAlgorithms.Keys.ToList())
                if (!hostKeyTypes.Contains(alg)) info.HostKeyAlgorithms.Remove(alg);

            var client = new SshClient(info);
            SshPublicKey? presented = null;
            bool refused = false;
            HsmException? badServerKey = null;
            client.HostKeyReceived += (_, e) =>
            {
                try { presented = SshPublicKey.FromBlob(e.HostKey); }
                catch (HsmException ex)
                {
                    // A degenerate or unsupported server key (tiny RSA, bad point) is never trusted, pinned or not.
                    badServerKey = ex;
                    e.CanTrust = false;
                    return;
                }
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
                    await ConnectOnOwnThreadAsync(client, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    client.Dispose();
                    if (refused)
                        throw ChannelErrors.ServerKeyChanged(module, service, policy, presented!);
                    if (badServerKey != null)
                        throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                            $"Module {module.Esn} presented a {service} server key this host cannot accept " +
                            $"({badServerKey.Message}) at {module.Endpoint(service)}. " +
                            "The connection was closed before authentication and nothing was sent.", module.Esn, badServerKey);
                    var negotiation = await NegotiationFailureAsync(ex, info, module, service, port, hostKeyTypes, policy,
                        cancellationToken).ConfigureAwait(false);
                    if (negotiation != null) throw negotiation;
                    throw Translate(ex, module, service, cancellationToken);
                }
            }
            // The module command set this product speaks over SSH exec: the one adapter that knows verbs and JSON.
            return new JsonExecSession(new SshModuleChannel(module.Esn, service, client, CommandTimeout), presented!);
        }

        /// <summary>
        /// SSH.NET's key exchange and authentication block the thread that runs them, even under ConnectAsync. Each runs on
        /// a thread of its own, so a fleet of connections never waits for the thread pool to grow, and the process's pool
        /// settings are left alone. A stop or the connect timeout disposes the client, which ends the blocked handshake.
        /// </summary>
        private static Task ConnectOnOwnThreadAsync(SshClient client, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var connect = Task.Factory.StartNew(() =>
            {
                try
                {
                    using (cancellationToken.Register(() => client.Dispose()))
                        client.Connect();
                }
                // Whatever the disposed client threw, it was the stop or the timeout: say so (Translate tells them apart).
                catch (Exception ex) when (cancellationToken.IsCancellationRequested && !(ex is OperationCanceledException))
                {
                    throw new OperationCanceledException("The connection attempt was stopped.", ex, cancellationToken);
                }
                cancellationToken.ThrowIfCancellationRequested();
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            return connect;
        }

        /// <summary>
        /// After a failed handshake that was not a timeout, a refusal, a cancellation or a wrong key: asks the endpoint
        /// what it offers and, when nothing overlaps the host's allowlist, returns AlgorithmNegotiationFailed naming both sides.
        /// </summary>
        private async Task<HsmException?> NegotiationFailureAsync(Exception ex, ConnectionInfo info, ModuleAddress module, string service, int port,
            HashSet<string> hostKeyTypes, ServerKeyPolicy policy, CancellationToken callerToken)
        {
            if (callerToken.IsCancellationRequested || ex is OperationCanceledException || ex is SshOperationTimeoutException ||
                ex is SshAuthenticationException || ex is SocketException || ex is HsmException)
                return null;
            var probeTimeout = ConnectTimeout < TimeSpan.FromSeconds(5) ? ConnectTimeout : TimeSpan.FromSeconds(5);
            var offer = await SshAlgorithmPolicy.ProbeAsync(module.Host, port, probeTimeout, callerToken).ConfigureAwait(false);
            if (offer == null) return null;
            var why = SshAlgorithmPolicy.Disagreement(offer, info.KeyExchangeAlgorithms.Keys, info.Encryptions.Keys, info.HmacAlgorithms.Keys);
            if (why == null && !hostKeyTypes.Any(offer.HostKeyAlgorithms.Contains))
            {
                // With a pin, the host asked only for the pin's key type: a module offering only other types has another key.
                // That is a changed server key (possibly a man in the middle), not firmware that needs an update.
                if (policy.Expected != null)
                    return ChannelErrors.ServerKeyTypeChanged(module, service, policy, SshAlgorithmPolicy.Offered(offer.HostKeyAlgorithms));
                why = $"server key: the module offers {SshAlgorithmPolicy.Offered(offer.HostKeyAlgorithms)}; " +
                    $"this host requires one of {string.Join(",", hostKeyTypes)}";
            }
            if (why == null) return null;
            return new HsmException(HsmErrorIds.AlgorithmNegotiationFailed, HsmErrorKind.SecurityError,
                $"Refused {service} on module {module.Esn} ({module.Endpoint(service)}): it offers no SSH algorithm this host accepts ({why}). " +
                "Nothing was sent. Weak algorithms (SHA-1, CBC, 3DES) are never used; update " +
                "the module's firmware, or treat this as an attempted downgrade.",
                module.Esn, ex);
        }

        private static HashSet<string> HostKeyAlgorithmsFor(SshPublicKey? expected)
        {
            if (expected == null)
                return new HashSet<string> { "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512",
                    "rsa-sha2-256" };
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
                    return new HsmException(HsmErrorIds.Cancelled, HsmErrorKind.OperationStopped, $"Cancelled while connecting to {where}.",
                        module.Esn, ex);
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

        private sealed class SshModuleChannel : IExecChannel, ISshChannelInfo
        {
            private readonly SshClient _client;
            private readonly TimeSpan _commandTimeout;

            public SshModuleChannel(string esn, string service, SshClient client, TimeSpan commandTimeout)
            {
                Esn = esn; Service = service; _client = client; _commandTimeout = commandTimeout;
            }

            public string Esn { get; }
            public string Service { get; }

            public string KeyExchangeAlgorithm => _client.ConnectionInfo.CurrentKeyExchangeAlgorithm ?? "";
            public string ClientToModuleCipher => _client.ConnectionInfo.CurrentClientEncryption ?? "";
            public string ModuleToClientCipher => _client.ConnectionInfo.CurrentServerEncryption ?? "";
            public string ClientToModuleMac => _client.ConnectionInfo.CurrentClientHmacAlgorithm ?? "";
            public string ModuleToClientMac => _client.ConnectionInfo.CurrentServerHmacAlgorithm ?? "";

            public async Task<ExecReply> RunAsync(string verb, string? jsonBody, CancellationToken cancellationToken)
            {
                var stdout = new CappedBuffer(MaxReplyBytes);
                var stderr = new CappedBuffer(MaxErrorOutputBytes);
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                using (var command = _client.CreateCommand(verb))
                {
                    timeout.CancelAfter(_commandTimeout);
                    // Hard stop in case the library itself never completes the command after the timeout fired.
                    var deadline = DateTime.UtcNow + _commandTimeout + TimeSpan.FromSeconds(3);
                    try
                    {
                        // ExecuteAsync opens the channel synchronously (a round trip): on a thread of its own, as the connect.
                        var token = timeout.Token;
                        var run = await Task.Factory.StartNew(() => command.ExecuteAsync(token), CancellationToken.None,
                            TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                        // The body goes on stdin; disposing the stream sends EOF so the firmware stops reading. A verb without a
                        // body may already have finished (its firmware never reads stdin): then there is no stdin left to close.
                        try
                        {
                            using (var input = command.CreateInputStream())
                            {
                                if (!string.IsNullOrEmpty(jsonBody))
                                {
                                    var bytes = Encoding.UTF8.GetBytes(jsonBody);
                                    input.Write(bytes, 0, bytes.Length);
                                }
                            }
                        }
                        catch (InvalidOperationException) when (run.IsCompleted && string.IsNullOrEmpty(jsonBody)) { /* finished already */ }
                        // SSH.NET buffers a command's output without limit: move it out while the command runs and stop at the cap.
                        while (true)
                        {
                            bool done = run.IsCompleted;
                            stdout.DrainAvailable(command.OutputStream);
                            stderr.DrainAvailable(command.ExtendedOutputStream);
                            if (stdout.Overflowed || stderr.Overflowed)
                                throw new HsmException(HsmErrorIds.ReplyTooLarge, HsmErrorKind.InvalidData,
                                    $"Module {Esn} sent more than {(stdout.Overflowed ? MaxReplyBytes : MaxErrorOutputBytes)} bytes " +
                                    $"{(stdout.Overflowed ? "of reply" : "of error output")} to '{verb}' on " +
                                    $"{Service}; reading stopped there and the command was abandoned. " +
                                    "The module does not follow the firmware protocol: check its firmware version and report it.", Esn);
                            if (done) break;
                            if (DateTime.UtcNow > deadline) throw new OperationCanceledException();
                            await Task.WhenAny(run, Task.Delay(OutputPollInterval)).ConfigureAwait(false);
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
                                $"Module {Esn} did not finish its reply to '{verb}' on {Service} within {_commandTimeout.TotalSeconds:0.#} s " +
                                $"({stdout.Length} bytes received).", Esn, ex);
                        // Whatever arrived before the failure still counts (a reply may be complete before the channel drops).
                        stdout.DrainAvailable(command.OutputStream);
                        if (stdout.Overflowed)
                            throw new HsmException(HsmErrorIds.ReplyTooLarge, HsmErrorKind.InvalidData,
                                $"Module {Esn} sent more than {MaxReplyBytes} bytes of reply to '{verb}' on {Service}; reading stopped there.", Esn,
                                ex);
                        if (stdout.Length == 0)
                            throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                                $"The {Service} channel to module {Esn} dropped during '{verb}': {ex.Message}. Run the command again to complete it.",
                                Esn, ex);
                    }
                    return new ExecReply(stdout.ToUtf8(), command.ExitStatus);
                }
            }

            public void Dispose()
            {
                try { _client.Disconnect(); } catch { /* already gone */ }
                _client.Dispose();
            }
        }
    }
}
