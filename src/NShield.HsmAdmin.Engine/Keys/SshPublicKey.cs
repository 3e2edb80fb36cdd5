using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>An SSH public key: wire blob, authorized_keys line, fingerprint, signature check.</summary>
    public sealed class SshPublicKey
    {
        /// <summary>Types OpenSSH knows that we deliberately do not handle: reported as unsupported, not as garbage.</summary>
        internal static readonly string[] KnownForeignTypes =
        {
            "ssh-dss", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-ed448",
            "ssh-rsa-cert-v01@openssh.com", "ssh-ed25519-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com",
            "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
            "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
            "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        };

        public SshKeyAlgorithm Algorithm { get; }
        public string KeyType { get; }
        public byte[] Blob => (byte[])_blob.Clone();
        public string Comment { get; }
        public string Fingerprint { get; }
        internal AsymmetricKeyParameter Parameters { get; }
        private readonly byte[] _blob;

        private SshPublicKey(SshKeyAlgorithm algorithm, AsymmetricKeyParameter parameters, byte[] blob, string comment)
        {
            Algorithm = algorithm;
            KeyType = SshAlgorithmNames.ToKeyType(algorithm);
            Parameters = parameters;
            _blob = blob;
            Comment = comment ?? "";
            // BouncyCastle's SHA-256, not System.Security.Cryptography: the simulated firmware (a short-lived Native AOT
            // process per SSH command) would otherwise load OpenSSL only to fingerprint authorized_keys (~2 ms per command).
            var digest = new Sha256Digest();
            digest.BlockUpdate(blob, 0, blob.Length);
            var hash = new byte[digest.GetDigestSize()];
            digest.DoFinal(hash, 0);
            Fingerprint = "SHA256:" + Convert.ToBase64String(hash).TrimEnd('=');
        }

        /// <summary>Same key, another comment (comments are not part of the blob or fingerprint).</summary>
        public SshPublicKey WithComment(string comment) => new SshPublicKey(Algorithm, Parameters, _blob, comment);

        public string ToAuthorizedKeysLine() =>
            Comment.Length == 0 ? $"{KeyType} {Convert.ToBase64String(_blob)}" : $"{KeyType} {Convert.ToBase64String(_blob)} {Comment}";

        public override string ToString() => $"{KeyType} {Fingerprint}";

        /// <summary>Structural equality on the blob: two keys are the same key whatever their comments.</summary>
        public bool SameKeyAs(SshPublicKey other) => other != null && _blob.SequenceEqual(other._blob);

        // Keys parsed, by their exact line. A parse checks the key's numbers (an Ed25519 point decompression each), and the
        // store reads every pin for each command: 96 on 16 modules were half of Get-HsmSshKey's time (issue 20). A key is
        // immutable, so one line's key may be shared; a line that fails to parse is never kept.
        private static readonly ConcurrentDictionary<string, SshPublicKey> ParsedLines =
            new ConcurrentDictionary<string, SshPublicKey>(StringComparer.Ordinal);
        private const int MaxParsedLines = 4096;

        /// <summary>
        /// Parses "[options] type base64 [comment]" (one authorized_keys or .pub line).
        /// Throws NotAnOpenSshKey for text that is not a public key line at all.
        /// </summary>
        public static SshPublicKey Parse(string authorizedKeysLine)
        {
            if (authorizedKeysLine == null) return ParseLine(authorizedKeysLine);
            if (ParsedLines.TryGetValue(authorizedKeysLine, out var known)) return known;
            var key = ParseLine(authorizedKeysLine);
            if (ParsedLines.Count >= MaxParsedLines) ParsedLines.Clear();
            ParsedLines[authorizedKeysLine] = key;
            return key;
        }

        private static SshPublicKey ParseLine(string? authorizedKeysLine)
        {
            string line = (authorizedKeysLine ?? "").Trim();
            if (line.StartsWith("-----BEGIN", StringComparison.Ordinal))
                throw NotAPublicKey("this is a PEM block (a private key or certificate), not a public key line");
            // A PEM block after the key (a private key pasted below a .pub line) would otherwise become its comment.
            if (line.IndexOf("-----BEGIN", StringComparison.Ordinal) >= 0)
                throw NotAPublicKey("a PEM block (a private key or certificate) follows the key; give the public key line alone");
            var tokens = line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
            // authorized_keys may put options first; the key starts at the first token that looks like a key type.
            int i = Array.FindIndex(tokens, LooksLikeKeyType);
            if (i < 0 || i + 1 >= tokens.Length) throw NotAPublicKey("no '<type> <base64>' pair found");
            string type = tokens[i];
            byte[] blob;
            try { blob = Convert.FromBase64String(tokens[i + 1]); }
            catch (FormatException) { throw SshKeyFormatException.Corrupt("the key data is not valid base64"); }
            string comment = string.Join(" ", tokens.Skip(i + 2));
            var key = FromBlob(blob, comment);
            if (key.KeyType != type)
                throw SshKeyFormatException.Corrupt($"the line says '{type}' but the key data is '{key.KeyType}'");
            return key;
        }

        private static bool LooksLikeKeyType(string t) =>
            SshAlgorithmNames.KeyTypes.Contains(t) || KnownForeignTypes.Contains(t) ||
            t.StartsWith("ssh-", StringComparison.Ordinal) || t.StartsWith("ecdsa-", StringComparison.Ordinal) ||
            t.StartsWith("sk-", StringComparison.Ordinal);

        private static SshKeyFormatException NotAPublicKey(string why) =>
            new SshKeyFormatException(HsmErrorIds.NotAnOpenSshKey, $"Not an OpenSSH public key: {why}.");

        public static SshPublicKey FromBlob(byte[] blob, string comment = "")
        {
            if (blob == null) throw new ArgumentNullException(nameof(blob));
            var r = new SshWireReader(blob);
            string type = r.ReadName();
            SshKeyAlgorithm alg;
            AsymmetricKeyParameter parameters;
            // BouncyCastle validates keys in its constructors (point on curve, RSA modulus sanity) and throws ArgumentException.
            try { (alg, parameters) = ReadPublicFields(type, r); }
            catch (ArgumentException) { throw SshKeyFormatException.Corrupt("the public key numbers are invalid"); }
            if (r.Remaining != 0) throw SshKeyFormatException.Corrupt("extra bytes after the public key");
            return new SshPublicKey(alg, parameters, (byte[])blob.Clone(), comment);
        }

        internal static SshPublicKey FromParameters(SshKeyAlgorithm algorithm, AsymmetricKeyParameter parameters, string comment)
        {
            var w = new SshWireWriter().String(SshAlgorithmNames.ToKeyType(algorithm));
            WritePublicFields(algorithm, parameters, w);
            return new SshPublicKey(algorithm, parameters, w.ToArray(), comment);
        }

        /// <summary>Reads the fields after the type name; shared with the private-key reader.</summary>
        internal static (SshKeyAlgorithm, AsymmetricKeyParameter) ReadPublicFields(string type, SshWireReader r)
        {
            if (type == "ssh-ed25519")
            {
                var pub = r.ReadString();
                if (pub.Length != 32) throw SshKeyFormatException.Corrupt("an Ed25519 public key must be 32 bytes");
                return (SshKeyAlgorithm.Ed25519, new Ed25519PublicKeyParameters(pub, 0));
            }
            if (type == "ssh-rsa")
            {
                var e = r.ReadMpint();
                var n = r.ReadMpint();
                return (RsaAlgorithm(n, e), new RsaKeyParameters(false, n, e));
            }
            var curve = EcdsaCurve.ByKeyType(type);
            if (curve != null)
            {
                if (r.ReadName() != curve.Name) throw SshKeyFormatException.Corrupt("the ECDSA curve name does not match the key type");
                return (curve.Algorithm, new ECPublicKeyParameters(DecodePoint(curve, r.ReadString()), curve.Domain));
            }
            // A long "name" is damage, not a type; also keeps arbitrary file bytes out of the message.
            if (type.Length > 64) throw SshKeyFormatException.Corrupt("the key type name is implausibly long");
            throw SshKeyFormatException.Unsupported($"Key type '{type}'");
        }

        internal static SshKeyAlgorithm RsaAlgorithm(BigInteger n, BigInteger e)
        {
            if (n.SignValue <= 0 || e.SignValue <= 0 || !e.TestBit(0))
                throw SshKeyFormatException.Corrupt("the RSA public numbers are invalid");
            // Exponent 1 makes "signatures" trivially forgeable; an exponent as large as the modulus is not RSA either.
            if (e.CompareTo(BigInteger.Three) < 0 || e.CompareTo(n) >= 0)
                throw SshKeyFormatException.Corrupt("the RSA public exponent is degenerate (it must be at least 3 and below the modulus)");
            return n.BitLength switch
            {
                3072 => SshKeyAlgorithm.Rsa3072,
                4096 => SshKeyAlgorithm.Rsa4096,
                _ => throw SshKeyFormatException.Unsupported($"An RSA key of {n.BitLength} bits (only 3072 and 4096 are accepted)"),
            };
        }

        internal static Org.BouncyCastle.Math.EC.ECPoint DecodePoint(EcdsaCurve curve, byte[] q)
        {
            // OpenSSH only writes uncompressed points; DecodePoint also checks the point is on the curve.
            if (q.Length == 0 || q[0] != 0x04) throw SshKeyFormatException.Corrupt("the ECDSA point is not in uncompressed form");
            try { return curve.Domain.Curve.DecodePoint(q); }
            catch (ArgumentException) { throw SshKeyFormatException.Corrupt("the ECDSA point is not on the curve"); }
        }

        internal static void WritePublicFields(SshKeyAlgorithm algorithm, AsymmetricKeyParameter parameters, SshWireWriter w)
        {
            switch (parameters)
            {
                case Ed25519PublicKeyParameters ed:
                    w.String(ed.GetEncoded());
                    break;
                case RsaKeyParameters rsa:
                    w.Mpint(rsa.Exponent).Mpint(rsa.Modulus);
                    break;
                case ECPublicKeyParameters ec:
                    var curve = EcdsaCurve.ByAlgorithm(algorithm)!;
                    w.String(curve.Name).String(ec.Q.GetEncoded(false));
                    break;
                default:
                    throw new ArgumentException("Unsupported key parameters.", nameof(parameters));
            }
        }

        /// <summary>
        /// Checks an SSH signature (string algorithm-name, string blob; RFC 4253 §6.6, as SshKeyPair.Sign writes it
        /// and as OpenSSH certificates carry it). False for any malformed or mismatching signature, never throws on bad input.
        /// </summary>
        public bool Verify(byte[] data, byte[] signature)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if (signature == null) return false;
            try
            {
                var r = new SshWireReader(signature);
                string sigAlg = r.ReadName();
                byte[] sig = r.ReadString();
                if (r.Remaining != 0 || sigAlg != SignatureAlgorithm(Algorithm)) return false;
                switch (Parameters)
                {
                    case Ed25519PublicKeyParameters ed:
                        var eds = new Ed25519Signer();
                        eds.Init(false, ed);
                        eds.BlockUpdate(data, 0, data.Length);
                        return eds.VerifySignature(sig);
                    case RsaKeyParameters rsa:
                        var rs = new RsaDigestSigner(new Sha512Digest());
                        rs.Init(false, rsa);
                        rs.BlockUpdate(data, 0, data.Length);
                        return rs.VerifySignature(sig);
                    case ECPublicKeyParameters ec:
                        var curve = EcdsaCurve.ByAlgorithm(Algorithm)!;
                        var sr = new SshWireReader(sig);
                        var rr = sr.ReadMpint();
                        var ss = sr.ReadMpint();
                        if (sr.Remaining != 0) return false;
                        var ecs = new ECDsaSigner();
                        ecs.Init(false, ec);
                        return ecs.VerifySignature(Hash(curve.NewDigest(), data), rr, ss);
                }
                return false;
            }
            catch (SshKeyFormatException)
            {
                return false;
            }
        }

        internal static string SignatureAlgorithm(SshKeyAlgorithm a) =>
            a == SshKeyAlgorithm.Rsa3072 || a == SshKeyAlgorithm.Rsa4096 ? "rsa-sha2-512" : SshAlgorithmNames.ToKeyType(a);

        internal static byte[] Hash(IDigest digest, byte[] data)
        {
            digest.BlockUpdate(data, 0, data.Length);
            var h = new byte[digest.GetDigestSize()];
            digest.DoFinal(h, 0);
            return h;
        }
    }
}
