using System;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>A private key with its public half. Create with Generate or OpenSshPrivateKey.Decode.</summary>
    public sealed class SshKeyPair : IDisposable
    {
        private static readonly SecureRandom Random = new SecureRandom();
        private static readonly BigInteger RsaPublicExponent = BigInteger.ValueOf(65537);

        public SshKeyAlgorithm Algorithm { get; }
        public SshPublicKey PublicKey { get; }
        private AsymmetricKeyParameter? _private;

        internal SshKeyPair(SshKeyAlgorithm algorithm, AsymmetricKeyParameter privateKey, SshPublicKey publicKey)
        {
            Algorithm = algorithm;
            _private = privateKey;
            PublicKey = publicKey;
        }

        internal bool IsDisposed => _private == null;

        internal AsymmetricKeyParameter Private =>
            _private ?? throw new ObjectDisposedException(nameof(SshKeyPair));

        public static SshKeyPair Generate(SshKeyAlgorithm algorithm, string comment = "")
        {
            AsymmetricCipherKeyPair pair;
            switch (algorithm)
            {
                case SshKeyAlgorithm.Ed25519:
                    var edGen = new Ed25519KeyPairGenerator();
                    edGen.Init(new Ed25519KeyGenerationParameters(Random));
                    pair = edGen.GenerateKeyPair();
                    break;
                case SshKeyAlgorithm.EcdsaP256:
                case SshKeyAlgorithm.EcdsaP384:
                case SshKeyAlgorithm.EcdsaP521:
                    var ecGen = new ECKeyPairGenerator();
                    ecGen.Init(new ECKeyGenerationParameters(EcdsaCurve.ByAlgorithm(algorithm)!.Domain, Random));
                    pair = ecGen.GenerateKeyPair();
                    break;
                case SshKeyAlgorithm.Rsa3072:
                case SshKeyAlgorithm.Rsa4096:
                    var rsaGen = new RsaKeyPairGenerator();
                    // Certainty 100 is BouncyCastle's own recommendation; the generator also applies FIPS 186 MR rounds per size.
                    rsaGen.Init(new RsaKeyGenerationParameters(RsaPublicExponent, Random,
                        algorithm == SshKeyAlgorithm.Rsa3072 ? 3072 : 4096, 100));
                    pair = rsaGen.GenerateKeyPair();
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown algorithm.");
            }
            return new SshKeyPair(algorithm, pair.Private, SshPublicKey.FromParameters(algorithm, pair.Public, comment));
        }

        /// <summary>
        /// Signs data and returns an SSH signature: string algorithm-name, string blob (RFC 4253 §6.6), the form
        /// OpenSSH certificates and SshPublicKey.Verify use. Names: "ssh-ed25519", "ecdsa-sha2-nistpNNN"
        /// (SHA-256/384/512 for P-256/384/521, blob = mpint r, mpint s) and "rsa-sha2-512" (RFC 8332).
        /// ECDSA uses RFC 6979 deterministic nonces, so no signature depends on the RNG.
        /// </summary>
        public byte[] Sign(byte[] data)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            byte[] blob;
            switch (Private)
            {
                case Ed25519PrivateKeyParameters ed:
                    var eds = new Ed25519Signer();
                    eds.Init(true, ed);
                    eds.BlockUpdate(data, 0, data.Length);
                    blob = eds.GenerateSignature();
                    break;
                case RsaKeyParameters rsa:
                    var rs = new RsaDigestSigner(new Sha512Digest());
                    rs.Init(true, rsa);
                    rs.BlockUpdate(data, 0, data.Length);
                    blob = rs.GenerateSignature();
                    break;
                case ECPrivateKeyParameters ec:
                    var curve = EcdsaCurve.ByAlgorithm(Algorithm)!;
                    var ecs = new ECDsaSigner(new HMacDsaKCalculator(curve.NewDigest()));
                    ecs.Init(true, ec);
                    var rs2 = ecs.GenerateSignature(SshPublicKey.Hash(curve.NewDigest(), data));
                    blob = new SshWireWriter().Mpint(rs2[0]).Mpint(rs2[1]).ToArray();
                    break;
                default:
                    throw new InvalidOperationException("Unsupported private key.");
            }
            return new SshWireWriter().String(SshPublicKey.SignatureAlgorithm(Algorithm)).String(blob).ToArray();
        }

        /// <summary>
        /// Best effort only: drops the reference to the private key (BouncyCastle's BigIntegers are immutable
        /// and cannot be overwritten) so it becomes collectable; using the pair afterwards throws ObjectDisposedException.
        /// </summary>
        public void Dispose() => _private = null;
    }
}
