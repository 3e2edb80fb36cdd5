using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Renci.SshNet;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// The SSH algorithms the host accepts from a module, in preference order. Everything SSH.NET offers by default
    /// that is not listed here (SHA-1 key exchanges, CBC and 3DES ciphers, hmac-sha1, non-ETM MACs) is removed, so a
    /// module (or someone in the middle) that offers only those is refused before authentication with
    /// <see cref="HsmErrorIds.AlgorithmNegotiationFailed"/>.
    /// </summary>
    public static class SshAlgorithmPolicy
    {
        /// <summary>
        /// curve25519 first, then the post-quantum hybrids (each used only when this SSH.NET has it), then the NIST ECDH
        /// and large-group DH exchanges as a last resort. Post-quantum is not first because, measured on a fleet workload
        /// (bench/Measure-KeyExchangeCost.ps1, bench/results/2026-11-30-kex-cost.md), SSH.NET's sntrup761 made testing
        /// 8 modules 4.5 times slower (host CPU 55 ms against 4.7 ms per channel); the rule was to keep it first unless it
        /// more than doubled a fleet workload. A module that offers only a hybrid still gets one.
        /// </summary>
        public static readonly IReadOnlyList<string> KeyExchanges = new[]
        {
            "curve25519-sha256", "curve25519-sha256@libssh.org",
            "mlkem768x25519-sha256",
            "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
            "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
            "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
        };

        /// <summary>The post-quantum hybrids among <see cref="KeyExchanges"/>.</summary>
        public static readonly IReadOnlyList<string> PostQuantumKeyExchanges = new[]
        {
            "mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
        };

        /// <summary>AEAD ciphers first (they need no MAC), then AES-CTR (which needs one of <see cref="Macs"/>).</summary>
        public static readonly IReadOnlyList<string> Ciphers = new[]
        {
            "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
            "aes256-ctr", "aes192-ctr", "aes128-ctr",
        };

        /// <summary>The AEAD ciphers among <see cref="Ciphers"/>: with these, no MAC is negotiated.</summary>
        public static readonly IReadOnlyList<string> AeadCiphers = new[]
        {
            "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
        };

        /// <summary>Encrypt-then-MAC with SHA-2 only.</summary>
        public static readonly IReadOnlyList<string> Macs = new[]
        {
            "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
        };

        /// <summary>
        /// Restricts a ConnectionInfo to the policy and puts its algorithms in the policy's order (SSH.NET takes the
        /// first of its own entries that the server also offers). Names this SSH.NET does not implement are skipped.
        /// </summary>
        public static void Apply(ConnectionInfo info, IReadOnlyList<string>? keyExchanges = null)
        {
            // A caller may narrow the key exchanges (the bench compares PQ-first with classical); never widen them.
            Restrict(info.KeyExchangeAlgorithms, keyExchanges == null ? KeyExchanges : KeyExchanges.Where(keyExchanges.Contains).ToList());
            Restrict(info.Encryptions, Ciphers);
            Restrict(info.HmacAlgorithms, Macs);
        }

        private static void Restrict<T>(IDictionary<string, T> available, IReadOnlyList<string> wanted)
        {
            var keep = wanted.Where(available.ContainsKey).Select(n => new KeyValuePair<string, T>(n, available[n])).ToList();
            // Clear then add: a Dictionary enumerates in insertion order when nothing was removed since the clear.
            available.Clear();
            foreach (var kv in keep) available.Add(kv.Key, kv.Value);
        }

        /// <summary>What a server offers in its KEXINIT (RFC 4253 §7.1).</summary>
        public sealed class ServerOffer
        {
            public IReadOnlyList<string> KeyExchanges { get; internal set; } = new string[0];
            public IReadOnlyList<string> HostKeyAlgorithms { get; internal set; } = new string[0];
            public IReadOnlyList<string> CiphersClientToServer { get; internal set; } = new string[0];
            public IReadOnlyList<string> CiphersServerToClient { get; internal set; } = new string[0];
            public IReadOnlyList<string> MacsClientToServer { get; internal set; } = new string[0];
            public IReadOnlyList<string> MacsServerToClient { get; internal set; } = new string[0];
        }

        /// <summary>
        /// Why the host cannot agree with this offer (one sentence per direction/kind that has no common algorithm), or
        /// null when it can. <paramref name="supportedKex"/> is what this SSH.NET implements of the policy.
        /// </summary>
        public static string? Disagreement(ServerOffer offer, IEnumerable<string> supportedKex, IEnumerable<string> supportedCiphers,
            IEnumerable<string> supportedMacs)
        {
            var kex = supportedKex.ToList();
            var ciphers = supportedCiphers.ToList();
            var macs = supportedMacs.ToList();
            var problems = new List<string>();
            if (!kex.Any(offer.KeyExchanges.Contains))
                problems.Add($"key exchange: the module offers {Offered(offer.KeyExchanges)}; this host requires one of {List(kex)}");
            CheckDirection("client-to-module", offer.CiphersClientToServer, offer.MacsClientToServer, ciphers, macs, problems);
            CheckDirection("module-to-client", offer.CiphersServerToClient, offer.MacsServerToClient, ciphers, macs, problems);
            return problems.Count == 0 ? null : string.Join("; ", problems.Distinct());
        }

        private static void CheckDirection(string direction, IReadOnlyList<string> offeredCiphers, IReadOnlyList<string> offeredMacs,
            List<string> ciphers, List<string> macs, List<string> problems)
        {
            var cipher = ciphers.FirstOrDefault(offeredCiphers.Contains);
            if (cipher == null)
            {
                problems.Add($"cipher ({direction}): the module offers {Offered(offeredCiphers)}; this host requires one of {List(ciphers)}");
                return;
            }
            if (AeadCiphers.Contains(cipher)) return;
            if (!macs.Any(offeredMacs.Contains))
                problems.Add($"MAC ({direction}, with {cipher}): the module offers {Offered(offeredMacs)}; this host requires one of {List(macs)} " +
                             $"or an AEAD cipher ({List(AeadCiphers)})");
        }

        private static string List(IEnumerable<string> names)
        {
            var l = names.ToList();
            return l.Count == 0 ? "nothing" : string.Join(",", l);
        }

        /// <summary>The longest list of module-supplied algorithm names that goes into a message, in characters.</summary>
        public const int MaxOfferedInMessage = 200;

        /// <summary>Algorithm names a module offered, for a message: printable ASCII only, at most
        /// <see cref="MaxOfferedInMessage"/> characters.</summary>
        public static string Offered(IEnumerable<string> names) => Modules.ModuleErrors.Printable(List(names), MaxOfferedInMessage);

        /// <summary>
        /// Reads the server's KEXINIT from a fresh connection (version exchange, then one unencrypted binary packet) to
        /// say exactly what a module offers when negotiation failed. Never authenticates; returns null when the peer
        /// does not send a readable KEXINIT within the timeout.
        /// </summary>
        public static async Task<ServerOffer?> ProbeAsync(string host, int port, TimeSpan timeout, CancellationToken ct)
        {
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            using (var tcp = new TcpClient())
            {
                cts.CancelAfter(timeout);
                try
                {
                    using (cts.Token.Register(() => { try { tcp.Close(); } catch (Exception) { } }))
                    {
                        await tcp.ConnectAsync(host, port).ConfigureAwait(false);
                        var stream = tcp.GetStream();
                        var hello = Encoding.ASCII.GetBytes("SSH-2.0-NShieldHsmAdmin_probe\r\n");
                        await stream.WriteAsync(hello, 0, hello.Length, cts.Token).ConfigureAwait(false);
                        // Lines before the version line are allowed (RFC 4253 §4.2); bounded like OpenSSH.
                        for (int lines = 0; ; lines++)
                        {
                            if (lines > 64) return null;
                            var line = await ReadLineAsync(stream, 255, cts.Token).ConfigureAwait(false);
                            if (line == null) return null;
                            if (line.StartsWith("SSH-", StringComparison.Ordinal)) break;
                        }
                        var header = await ReadExactAsync(stream, 5, cts.Token).ConfigureAwait(false);
                        if (header == null) return null;
                        uint packetLength = (uint)(header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3]);
                        int padding = header[4];
                        if (packetLength < 1 + 17 || packetLength > 35000 || padding >= packetLength) return null;
                        var rest = await ReadExactAsync(stream, (int)packetLength - 1, cts.Token).ConfigureAwait(false);
                        if (rest == null) return null;
                        return ParseKexInit(rest, (int)packetLength - 1 - padding);
                    }
                }
                catch (Exception ex) when (ex is IOException || ex is SocketException || ex is ObjectDisposedException
                    || ex is OperationCanceledException)
                {
                    return null;
                }
            }
        }

        internal static ServerOffer? ParseKexInit(byte[] payload, int payloadLength)
        {
            const byte SshMsgKexInit = 20;
            if (payloadLength < 17 || payload[0] != SshMsgKexInit) return null;
            int pos = 17; // message number + 16-byte cookie
            var lists = new List<string[]>();
            for (int i = 0; i < 10; i++)
            {
                if (pos + 4 > payloadLength) return null;
                int len = payload[pos] << 24 | payload[pos + 1] << 16 | payload[pos + 2] << 8 | payload[pos + 3];
                pos += 4;
                if (len < 0 || pos + len > payloadLength) return null;
                var text = Encoding.ASCII.GetString(payload, pos, len);
                pos += len;
                if (text.Any(c => c < 0x20 || c > 0x7e)) return null;
                lists.Add(text.Length == 0 ? new string[0] : text.Split(','));
            }
            return new ServerOffer
            {
                // Drop the pseudo-algorithms that only signal extensions (RFC 8308 ext-info, OpenSSH strict kex).
                KeyExchanges =
                    lists[0].Where(n => !n.StartsWith("ext-info-", StringComparison.Ordinal)
                        && !n.StartsWith("kex-strict-", StringComparison.Ordinal)).ToArray(),
                HostKeyAlgorithms = lists[1],
                CiphersClientToServer = lists[2], CiphersServerToClient = lists[3],
                MacsClientToServer = lists[4], MacsServerToClient = lists[5],
            };
        }

        private static async Task<string?> ReadLineAsync(Stream s, int max, CancellationToken ct)
        {
            var sb = new StringBuilder();
            var one = new byte[1];
            while (sb.Length <= max)
            {
                int n = await s.ReadAsync(one, 0, 1, ct).ConfigureAwait(false);
                if (n == 0) return null;
                if (one[0] == (byte)'\n') return sb.ToString().TrimEnd('\r');
                sb.Append((char)one[0]);
            }
            return null;
        }

        private static async Task<byte[]?> ReadExactAsync(Stream s, int count, CancellationToken ct)
        {
            var buf = new byte[count];
            int got = 0;
            while (got < count)
            {
                int n = await s.ReadAsync(buf, got, count - got, ct).ConfigureAwait(false);
                if (n == 0) return null;
                got += n;
            }
            return buf;
        }
    }
}
