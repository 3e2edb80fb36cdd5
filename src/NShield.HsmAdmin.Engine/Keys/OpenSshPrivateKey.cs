using System;
using System.Linq;
using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// Reads and writes OpenSSH's private key format, openssh-key-v1 (PROTOCOL.key in the OpenSSH sources):
    /// unencrypted, or aes256-ctr under bcrypt_pbkdf as `ssh-keygen` writes by default.
    ///
    /// How damage is reported (there is no MAC in this format, so some cases are necessarily judgement calls):
    /// - no BEGIN line, another PEM type, or a public key line: NotAnOpenSshKey;
    /// - BEGIN without END, or base64 cut mid-quantum: KeyFileTruncated;
    /// - armor intact but bad base64, bad magic, impossible lengths, bad padding, private part not matching the
    ///   public part, inconsistent key numbers: KeyFileCorrupt;
    /// - encrypted and the two check-ints differ: KeyWrongPassphrase. A flip inside the encrypted check-ints, the
    ///   salt or the rounds is indistinguishable from a wrong passphrase and is reported as one; a flip elsewhere
    ///   in the encrypted part decrypts to a mismatch and is KeyFileCorrupt. A flip inside the comment cannot be detected;
    /// - a key type or cipher OpenSSH knows but we do not handle (ssh-dss, sk-*, RSA other than 3072/4096, aes128-ctr,
    ///   chacha20-poly1305...): KeyTypeUnsupported.
    /// A passphrase given for an unencrypted key is ignored, as ssh-keygen does.
    /// </summary>
    public static class OpenSshPrivateKey
    {
        public const int DefaultRounds = 16;
        /// <summary>
        /// The most bcrypt rounds a key file or portable backup may ask for (read or written): 1024, about 64 times
        /// ssh-keygen's default of 16 (~20 s here). More is refused before any KDF work with KeyRoundsTooHigh, so a crafted
        /// file (or a flipped high bit) cannot make a cmdlet or the hardserver spin for minutes.
        /// </summary>
        public const int MaxRounds = 1024;

        private const string Begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
        private const string End = "-----END OPENSSH PRIVATE KEY-----";
        private const string CipherNone = "none";
        private const string CipherAes256Ctr = "aes256-ctr";
        private const string KdfBcrypt = "bcrypt";
        private const int SaltLength = 16;
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("openssh-key-v1\0");
        private static readonly SecureRandom Random = new SecureRandom();

        private static readonly string[] KnownOtherCiphers =
        {
            "aes128-ctr", "aes192-ctr", "aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc",
            "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
        };

        public static string Encode(SshKeyPair key, byte[]? passphrase, int rounds = DefaultRounds)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            bool encrypt = passphrase != null && passphrase.Length > 0;
            if (encrypt && (rounds < 1 || rounds > MaxRounds))
                throw new ArgumentOutOfRangeException(nameof(rounds), rounds, $"rounds must be 1..{MaxRounds}.");
            int blockSize = encrypt ? 16 : 8;

            // Both check-ints carry the same random value; on load a mismatch means the wrong key decrypted them.
            var checkBytes = new byte[4];
            Random.NextBytes(checkBytes);
            uint check = (uint)(checkBytes[0] << 24 | checkBytes[1] << 16 | checkBytes[2] << 8 | checkBytes[3]);

            var inner = new SshWireWriter().UInt32(check).UInt32(check).String(key.PublicKey.KeyType);
            WritePrivateFields(key, inner);
            inner.String(key.PublicKey.Comment);
            for (byte pad = 1; inner.Length % blockSize != 0; pad++) inner.Raw(new[] { pad });
            byte[] plain = inner.ToArray();

            byte[] kdfOptions = new byte[0];
            byte[] section = plain;
            if (encrypt)
            {
                var salt = new byte[SaltLength];
                Random.NextBytes(salt);
                kdfOptions = new SshWireWriter().String(salt).UInt32((uint)rounds).ToArray();
                section = Aes256Ctr(passphrase!, salt, rounds, plain);
                Array.Clear(plain, 0, plain.Length);
            }

            byte[] blob = new SshWireWriter()
                .Raw(Magic)
                .String(encrypt ? CipherAes256Ctr : CipherNone)
                .String(encrypt ? KdfBcrypt : "none")
                .String(kdfOptions)
                .UInt32(1)
                .String(key.PublicKey.Blob)
                .String(section)
                .ToArray();

            string b64 = Convert.ToBase64String(blob);
            var sb = new StringBuilder(b64.Length + 100).Append(Begin).Append('\n');
            for (int i = 0; i < b64.Length; i += 70)
                sb.Append(b64, i, Math.Min(70, b64.Length - i)).Append('\n');
            return sb.Append(End).Append('\n').ToString();
        }

        public static bool IsEncrypted(string text) => ReadHeader(Unarmor(text)).Cipher != CipherNone;

        public static SshKeyPair Decode(string text, byte[]? passphrase) => Decode(text, passphrase, System.Threading.CancellationToken.None);

        /// <summary>As above; the key derivation stops at the next bcrypt round once the token is cancelled (HsmException Cancelled).</summary>
        public static SshKeyPair Decode(string text, byte[]? passphrase, System.Threading.CancellationToken cancellationToken)
        {
            var h = ReadHeader(Unarmor(text));
            // The public part first: an unsupported type is reported as such even before asking for a passphrase.
            var publicKey = SshPublicKey.FromBlob(h.PublicBlob);

            byte[] plain;
            bool encrypted = h.Cipher != CipherNone;
            if (!encrypted)
            {
                plain = h.Section;
            }
            else
            {
                if (passphrase == null || passphrase.Length == 0)
                    throw new SshKeyFormatException(HsmErrorIds.KeyPassphraseRequired,
                        "The private key is encrypted: supply its passphrase.");
                if (h.Section.Length % 16 != 0) throw SshKeyFormatException.Corrupt("the encrypted part is not a whole number of blocks");
                try { plain = Aes256Ctr(passphrase, h.Salt!, h.Rounds, h.Section, cancellationToken); }
                catch (OperationCanceledException ex)
                {
                    throw new HsmException(HsmErrorIds.Cancelled, HsmErrorKind.OperationStopped,
                        "Cancelled while deriving the key's decryption key.", null, ex);
                }
            }

            try
            {
                var r = new SshWireReader(plain);
                uint c1 = r.ReadUInt32(), c2 = r.ReadUInt32();
                if (c1 != c2)
                {
                    if (encrypted)
                        throw new SshKeyFormatException(HsmErrorIds.KeyWrongPassphrase,
                            "The passphrase is wrong (or the encrypted part of the key file is damaged).");
                    throw SshKeyFormatException.Corrupt("the check values of the private part differ");
                }
                string type = r.ReadName();
                if (type != publicKey.KeyType) throw SshKeyFormatException.Corrupt("the private part's key type differs from the public part's");
                SshKeyPair pair;
                try { pair = ReadPrivateFields(r, publicKey); }
                catch (ArgumentException) { throw SshKeyFormatException.Corrupt("the private key numbers are invalid"); }
                string comment = r.ReadUtf8();
                var padding = r.ReadRest();
                if (padding.Length >= (encrypted ? 16 : 8) || padding.Where((b, i) => b != i + 1).Any())
                    throw SshKeyFormatException.Corrupt("the padding of the private part is wrong");
                return new SshKeyPair(pair.Algorithm, pair.Private, publicKey.WithComment(comment));
            }
            finally
            {
                Array.Clear(plain, 0, plain.Length);
            }
        }

        private sealed class Header
        {
            public string Cipher = "";
            public byte[]? Salt;
            public int Rounds;
            public byte[] PublicBlob = new byte[0];
            public byte[] Section = new byte[0];
        }

        private static byte[] Unarmor(string text)
        {
            text ??= "";
            int b = text.IndexOf(Begin, StringComparison.Ordinal);
            string start = text.TrimStart();
            if (b < 0 && start.Length >= 5 && Begin.StartsWith(start, StringComparison.Ordinal))
                throw Truncated(); // cut inside the BEGIN line itself
            if (b < 0)
            {
                int other = text.IndexOf("-----BEGIN ", StringComparison.Ordinal);
                string why = other >= 0
                    ? $"it is a PEM '{new string(text.Substring(other + 11).TakeWhile(c => c != '-' && c != '\n').ToArray()).Trim()}' " +
                        "block, not an OpenSSH private key"
                    : text.TrimStart().StartsWith("ssh-", StringComparison.Ordinal) || text.TrimStart().StartsWith("ecdsa-", StringComparison.Ordinal)
                        ? "it is a public key; give the private key file"
                        : "there is no '" + Begin + "' line";
                // Only a PEM private key is "an older format" ssh-keygen converts; anything else is the wrong file.
                throw new SshKeyFormatException(HsmErrorIds.NotAnOpenSshKey,
                    other >= 0 && text.IndexOf("PRIVATE KEY", other, StringComparison.Ordinal) > 0
                    ? $"Not an OpenSSH private key: {why}. Convert it with 'ssh-keygen -p -f <file>' (which rewrites it in OpenSSH's format)."
                    : $"Not an OpenSSH private key: {why}. Check the path: give the file Backup-HsmSshKey " +
                        "wrote (or, for a factory credential, the vendor's key file).");
            }
            int e = text.IndexOf(End, b, StringComparison.Ordinal);
            if (e < 0) throw Truncated();
            string body = new string(text.Substring(b + Begin.Length, e - b - Begin.Length).Where(c => !char.IsWhiteSpace(c)).ToArray());
            if (body.Length % 4 != 0) throw SshKeyFormatException.Corrupt("the base64 text has a length that is not a multiple of 4");
            try { return Convert.FromBase64String(body); }
            catch (FormatException) { throw SshKeyFormatException.Corrupt("the base64 text contains invalid characters"); }
        }

        private static SshKeyFormatException Truncated() =>
            new SshKeyFormatException(HsmErrorIds.KeyFileTruncated,
                "The key file is truncated: the END line is missing. Restore it from a backup.");

        private static Header ReadHeader(byte[] data)
        {
            if (data.Length < Magic.Length || !data.Take(Magic.Length).SequenceEqual(Magic))
                throw SshKeyFormatException.Corrupt("the openssh-key-v1 marker is missing");
            var r = new SshWireReader(data.Skip(Magic.Length).ToArray());
            var h = new Header { Cipher = r.ReadName() };
            string kdf = r.ReadName();
            byte[] kdfOptions = r.ReadString();

            if (h.Cipher == CipherAes256Ctr && kdf == KdfBcrypt)
            {
                var o = new SshWireReader(kdfOptions);
                h.Salt = o.ReadString();
                uint rounds = o.ReadUInt32();
                if (h.Salt.Length == 0 || o.Remaining != 0 || rounds < 1)
                    throw SshKeyFormatException.Corrupt("the bcrypt parameters are invalid");
                if (rounds > MaxRounds)
                    throw new SshKeyFormatException(HsmErrorIds.KeyRoundsTooHigh,
                        $"The key asks for {rounds} bcrypt rounds; at most {MaxRounds} are accepted. " +
                        $"Re-encrypt it with fewer: ssh-keygen -p -a 16 -f <file>.");
                h.Rounds = (int)rounds;
            }
            else if (h.Cipher == CipherNone)
            {
                if (kdf != "none" || kdfOptions.Length != 0) throw SshKeyFormatException.Corrupt("an unencrypted key names a KDF");
            }
            else if (KnownOtherCiphers.Contains(h.Cipher))
            {
                throw SshKeyFormatException.Unsupported($"Key encryption '{h.Cipher}' (re-encrypt with 'ssh-keygen -p -Z aes256-ctr -f <file>')");
            }
            else
            {
                throw SshKeyFormatException.Corrupt("the cipher or KDF name is not one OpenSSH uses");
            }

            uint count = r.ReadUInt32();
            if (count != 1) throw SshKeyFormatException.Corrupt($"the file claims {count} keys; OpenSSH writes exactly one");
            h.PublicBlob = r.ReadString();
            h.Section = r.ReadString();
            if (r.Remaining != 0) throw SshKeyFormatException.Corrupt("there are extra bytes after the private part");
            return h;
        }

        private static byte[] Aes256Ctr(byte[] passphrase, byte[] salt, int rounds, byte[] input,
            System.Threading.CancellationToken cancellationToken = default)
        {
            byte[] keyIv = BcryptPbkdf.Derive(passphrase, salt, rounds, 32 + 16, cancellationToken);
            try
            {
                var ctr = new SicBlockCipher(new AesEngine());
                ctr.Init(true, new ParametersWithIV(new KeyParameter(keyIv, 0, 32), keyIv, 32, 16));
                var output = new byte[input.Length];
                for (int i = 0; i < input.Length; i += 16)
                    ctr.ProcessBlock(input, i, output, i);
                return output;
            }
            finally
            {
                Array.Clear(keyIv, 0, keyIv.Length);
            }
        }

        private static void WritePrivateFields(SshKeyPair key, SshWireWriter w)
        {
            switch (key.Private)
            {
                case Ed25519PrivateKeyParameters ed:
                    // OpenSSH stores the 32-byte public key, then seed || public key (64 bytes).
                    byte[] pub = ed.GeneratePublicKey().GetEncoded();
                    byte[] both = ed.GetEncoded().Concat(pub).ToArray();
                    w.String(pub).String(both);
                    Array.Clear(both, 0, both.Length);
                    break;
                case ECPrivateKeyParameters ec:
                    var curve = EcdsaCurve.ByAlgorithm(key.Algorithm)!;
                    w.String(curve.Name).String(((ECPublicKeyParameters)key.PublicKey.Parameters).Q.GetEncoded(false)).Mpint(ec.D);
                    break;
                case RsaPrivateCrtKeyParameters rsa:
                    // OpenSSH's order: n, e, d, iqmp (q^-1 mod p, BouncyCastle's QInv), p, q.
                    w.Mpint(rsa.Modulus).Mpint(rsa.PublicExponent).Mpint(rsa.Exponent).Mpint(rsa.QInv).Mpint(rsa.P).Mpint(rsa.Q);
                    break;
                default:
                    throw new InvalidOperationException("Unsupported private key.");
            }
        }

        /// <summary>Reads the type-specific private fields and checks they belong to the public key in the file.</summary>
        private static SshKeyPair ReadPrivateFields(SshWireReader r, SshPublicKey publicKey)
        {
            AsymmetricKeyParameter priv, pub;
            switch (publicKey.Algorithm)
            {
                case SshKeyAlgorithm.Ed25519:
                {
                    byte[] pk = r.ReadString();
                    byte[] both = r.ReadString();
                    if (pk.Length != 32 || both.Length != 64) throw SshKeyFormatException.Corrupt("the Ed25519 fields have the wrong length");
                    if (!both.Skip(32).SequenceEqual(pk)) throw SshKeyFormatException.Corrupt("the two copies of the Ed25519 public key differ");
                    var ed = new Ed25519PrivateKeyParameters(both, 0);
                    Array.Clear(both, 0, both.Length);
                    priv = ed;
                    pub = ed.GeneratePublicKey();
                    break;
                }
                case SshKeyAlgorithm.EcdsaP256:
                case SshKeyAlgorithm.EcdsaP384:
                case SshKeyAlgorithm.EcdsaP521:
                {
                    var curve = EcdsaCurve.ByAlgorithm(publicKey.Algorithm)!;
                    if (r.ReadName() != curve.Name) throw SshKeyFormatException.Corrupt("the ECDSA curve name differs from the key type");
                    // Q is stored again here; it must equal the public part's, and the Q derived from d is checked below.
                    if (!r.ReadString().SequenceEqual(((ECPublicKeyParameters)publicKey.Parameters).Q.GetEncoded(false)))
                        throw SshKeyFormatException.Corrupt("the two copies of the ECDSA public point differ");
                    BigInteger d = r.ReadMpint();
                    if (d.SignValue <= 0 || d.CompareTo(curve.Domain.N) >= 0)
                        throw SshKeyFormatException.Corrupt("the ECDSA private scalar is out of range");
                    priv = new ECPrivateKeyParameters(d, curve.Domain);
                    pub = new ECPublicKeyParameters(curve.Domain.G.Multiply(d).Normalize(), curve.Domain);
                    break;
                }
                default: // RSA (FromBlob accepted nothing else)
                {
                    BigInteger n = r.ReadMpint(), e = r.ReadMpint(), d = r.ReadMpint(), iqmp = r.ReadMpint(), p = r.ReadMpint(), q = r.ReadMpint();
                    var one = BigInteger.One;
                    bool consistent = p.SignValue > 0 && q.SignValue > 0 && d.SignValue > 0 && p.Multiply(q).Equals(n)
                        && iqmp.Multiply(q).Mod(p).Equals(one)
                        && e.Multiply(d).Mod(p.Subtract(one)).Equals(one) && e.Multiply(d).Mod(q.Subtract(one)).Equals(one);
                    if (!consistent) throw SshKeyFormatException.Corrupt("the RSA numbers are inconsistent");
                    priv = new RsaPrivateCrtKeyParameters(n, e, d, p, q, d.Mod(p.Subtract(one)), d.Mod(q.Subtract(one)), iqmp);
                    pub = new RsaKeyParameters(false, n, e);
                    break;
                }
            }

            var derived = SshPublicKey.FromParameters(publicKey.Algorithm, pub, "");
            if (!derived.SameKeyAs(publicKey)) throw SshKeyFormatException.Corrupt("the private key does not match the public key in the file");
            return new SshKeyPair(publicKey.Algorithm, priv, publicKey);
        }
    }
}
