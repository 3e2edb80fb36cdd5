using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>The three NIST curves OpenSSH names (RFC 5656), with the hash each one signs with.</summary>
    internal sealed class EcdsaCurve
    {
        public SshKeyAlgorithm Algorithm { get; }
        public string Name { get; }            // "nistp256": the curve identifier inside the blob
        public string KeyType => "ecdsa-sha2-" + Name;
        public DerObjectIdentifier Oid { get; }
        public ECDomainParameters Domain { get; }
        private readonly int _hashBits;

        private EcdsaCurve(SshKeyAlgorithm alg, string name, DerObjectIdentifier oid, int hashBits)
        {
            Algorithm = alg;
            Name = name;
            Oid = oid;
            Domain = ECNamedDomainParameters.LookupOid(oid);
            _hashBits = hashBits;
        }

        public IDigest NewDigest() => _hashBits switch
        {
            256 => new Sha256Digest(),
            384 => new Sha384Digest(),
            _ => new Sha512Digest(),
        };

        public static readonly EcdsaCurve P256 = new EcdsaCurve(SshKeyAlgorithm.EcdsaP256, "nistp256", SecObjectIdentifiers.SecP256r1, 256);
        public static readonly EcdsaCurve P384 = new EcdsaCurve(SshKeyAlgorithm.EcdsaP384, "nistp384", SecObjectIdentifiers.SecP384r1, 384);
        public static readonly EcdsaCurve P521 = new EcdsaCurve(SshKeyAlgorithm.EcdsaP521, "nistp521", SecObjectIdentifiers.SecP521r1, 512);

        public static EcdsaCurve? ByAlgorithm(SshKeyAlgorithm a) =>
            a == SshKeyAlgorithm.EcdsaP256 ? P256 : a == SshKeyAlgorithm.EcdsaP384 ? P384 : a == SshKeyAlgorithm.EcdsaP521 ? P521 : null;

        public static EcdsaCurve? ByName(string name) =>
            name == "nistp256" ? P256 : name == "nistp384" ? P384 : name == "nistp521" ? P521 : null;

        public static EcdsaCurve? ByKeyType(string keyType) =>
            keyType.StartsWith("ecdsa-sha2-", System.StringComparison.Ordinal) ? ByName(keyType.Substring(11)) : null;
    }
}
