using System;
using System.Text;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>Outcome of a trust chain check: Ok, or the reason it failed (safe to show to users).</summary>
    public sealed class TrustChainResult
    {
        public bool Ok { get; }
        public string? Reason { get; }
        private TrustChainResult(bool ok, string? reason) { Ok = ok; Reason = reason; }
        internal static readonly TrustChainResult Success = new TrustChainResult(true, null);
        internal static TrustChainResult Fail(string reason) => new TrustChainResult(false, reason);
        public override string ToString() => Ok ? "ok" : Reason!;
    }

    /// <summary>
    /// The module trust chain (firmware 13.5+ style), in ONE place for both sides:
    /// <list type="bullet">
    /// <item>warrant = base64( string "nshield-warrant-v1", string ESN, string identityBlob, string sig ), where sig is an SSH
    /// signature blob (string "ssh-ed25519", string raw64) by the vendor root over the first three strings;</item>
    /// <item>certificate = base64( string "nshield-serverkey-v1", string ESN, string service, string serverBlob, string sig ),
    /// sig by the module identity key over the first four strings.</item>
    /// </list>
    /// ESN and service are compared exactly (ESNs upper case). Vendor root and identity keys are Ed25519.
    /// </summary>
    public static class TrustChain
    {
        public const string WarrantTag = "nshield-warrant-v1";
        public const string CertificateTag = "nshield-serverkey-v1";

        internal static byte[] WarrantToBeSigned(string esn, byte[] identityBlob) => SshWire.Strings(WarrantTag, esn, identityBlob);
        internal static byte[] CertificateToBeSigned(string esn, string service, byte[] serverBlob) => SshWire.Strings(CertificateTag, esn, service, serverBlob);

        internal static string MakeWarrant(byte[] vendorRootSeed, string esn, byte[] identityBlob)
        {
            var tbs = WarrantToBeSigned(esn, identityBlob);
            var sig = SshWire.Strings("ssh-ed25519", SshWire.Ed25519Sign(vendorRootSeed, tbs));
            return Convert.ToBase64String(SshWire.Strings(WarrantTag, esn, identityBlob, sig));
        }

        internal static string MakeCertificate(byte[] identitySeed, string esn, string service, byte[] serverBlob)
        {
            var tbs = CertificateToBeSigned(esn, service, serverBlob);
            var sig = SshWire.Strings("ssh-ed25519", SshWire.Ed25519Sign(identitySeed, tbs));
            return Convert.ToBase64String(SshWire.Strings(CertificateTag, esn, service, serverBlob, sig));
        }

        /// <summary>Checks that the warrant binds the identity key to the ESN under the vendor root.</summary>
        public static TrustChainResult VerifyWarrant(string vendorRootPublicKey, string esn, string identityKey, string warrant)
        {
            if (!PublicKeyLine.TryParse(vendorRootPublicKey, out var root, out var why)) return TrustChainResult.Fail("vendor root key unreadable: " + why);
            if (!PublicKeyLine.TryParse(identityKey, out var id, out why)) return TrustChainResult.Fail("module identity key unreadable: " + why);
            if (root!.KeyType != "ssh-ed25519") return TrustChainResult.Fail("vendor root key must be Ed25519");
            if (id!.KeyType != "ssh-ed25519") return TrustChainResult.Fail("module identity key must be Ed25519");
            try
            {
                var r = new SshWire.Reader(Convert.FromBase64String(warrant ?? ""));
                if (r.Text() != WarrantTag) return TrustChainResult.Fail("warrant has an unknown format");
                var wEsn = r.Text();
                var wId = r.Bytes();
                var sig = r.Bytes();
                if (!r.AtEnd) return TrustChainResult.Fail("warrant has trailing data");
                if (!string.Equals(wEsn, esn, StringComparison.Ordinal)) return TrustChainResult.Fail($"warrant is for ESN {wEsn}, not {esn}");
                if (!Same(wId, id.Blob)) return TrustChainResult.Fail("warrant is for a different identity key");
                if (!CheckSig(root.Blob, WarrantToBeSigned(esn, id.Blob), sig))
                    return TrustChainResult.Fail("warrant signature is not from the trusted vendor root");
                return TrustChainResult.Success;
            }
            catch (FormatException) { return TrustChainResult.Fail("warrant is malformed"); }
        }

        /// <summary>Checks the certificate binding a service's server key to the ESN under the identity key.</summary>
        public static TrustChainResult VerifyCertificate(string esn, string identityKey, string service, byte[] serverKeyBlob, string certificate)
        {
            if (!PublicKeyLine.TryParse(identityKey, out var id, out var why)) return TrustChainResult.Fail("module identity key unreadable: " + why);
            try
            {
                var r = new SshWire.Reader(Convert.FromBase64String(certificate ?? ""));
                if (r.Text() != CertificateTag) return TrustChainResult.Fail("certificate has an unknown format");
                var cEsn = r.Text(); var cSvc = r.Text(); var cKey = r.Bytes(); var sig = r.Bytes();
                if (!r.AtEnd) return TrustChainResult.Fail("certificate has trailing data");
                if (!string.Equals(cEsn, esn, StringComparison.Ordinal)) return TrustChainResult.Fail($"certificate is for ESN {cEsn}, not {esn}");
                if (!string.Equals(cSvc, service, StringComparison.Ordinal)) return TrustChainResult.Fail($"certificate is for service {cSvc}, not {service}");
                if (!Same(cKey, serverKeyBlob)) return TrustChainResult.Fail($"the {service} server key is not the key its certificate names");
                if (!CheckSig(id!.Blob, CertificateToBeSigned(esn, service, serverKeyBlob), sig))
                    return TrustChainResult.Fail("certificate signature is not from the module identity key");
                return TrustChainResult.Success;
            }
            catch (FormatException) { return TrustChainResult.Fail("certificate is malformed"); }
        }

        /// <summary>
        /// Full chain: vendor root → warrant (ESN, identity key) → certificate (ESN, service, server key).
        /// serverKey is an authorized_keys/known_hosts style line "type base64".
        /// </summary>
        public static TrustChainResult Verify(string vendorRootPublicKey, string esn, string identityKey, string warrant,
            string service, string serverKey, string certificate)
        {
            if (!PublicKeyLine.TryParse(serverKey, out var sk, out var why)) return TrustChainResult.Fail("server key unreadable: " + why);
            return Verify(vendorRootPublicKey, esn, identityKey, warrant, service, sk!.Blob, certificate);
        }

        /// <summary>Same as the string overload, with the server key as an SSH public key blob (e.g. from SSH.NET's HostKeyReceived).</summary>
        public static TrustChainResult Verify(string vendorRootPublicKey, string esn, string identityKey, string warrant,
            string service, byte[] serverKeyBlob, string certificate)
        {
            var w = VerifyWarrant(vendorRootPublicKey, esn, identityKey, warrant);
            if (!w.Ok) return w;
            return VerifyCertificate(esn, identityKey, service, serverKeyBlob, certificate);
        }

        private static bool CheckSig(byte[] signerBlob, byte[] tbs, byte[] sigBlob)
        {
            var kr = new SshWire.Reader(signerBlob);
            if (kr.Text() != "ssh-ed25519") return false;
            var pk = kr.Bytes();
            var sr = new SshWire.Reader(sigBlob);
            if (sr.Text() != "ssh-ed25519") return false;
            var raw = sr.Bytes();
            if (!sr.AtEnd) return false;
            return SshWire.Ed25519Verify(pk, tbs, raw);
        }

        private static bool Same(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            int d = 0;
            for (int i = 0; i < a.Length; i++) d |= a[i] ^ b[i];
            return d == 0;
        }
    }
}
