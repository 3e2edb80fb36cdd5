using System;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Trust
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
    /// signature blob (string "ssh-ed25519", string raw64, as <see cref="SshKeyPair.Sign"/> writes it) by the vendor root
    /// over the first three strings;</item>
    /// <item>certificate = base64( string "nshield-serverkey-v1", string ESN, string service, string serverBlob, string sig ),
    /// sig by the module identity key over the first four strings.</item>
    /// </list>
    /// ESN and service are compared exactly (ESNs upper case). Vendor root and identity keys are Ed25519.
    /// Keys, signatures and the SSH wire encoding come from the Keys engine (SshPublicKey, SshKeyPair, SshWireReader/Writer).
    /// </summary>
    public static class TrustChain
    {
        public const string WarrantTag = "nshield-warrant-v1";
        public const string CertificateTag = "nshield-serverkey-v1";

        public static byte[] WarrantToBeSigned(string esn, byte[] identityBlob) =>
            new SshWireWriter().String(WarrantTag).String(esn).String(identityBlob).ToArray();

        public static byte[] CertificateToBeSigned(string esn, string service, byte[] serverBlob) =>
            new SshWireWriter().String(CertificateTag).String(esn).String(service).String(serverBlob).ToArray();

        public static string MakeWarrant(SshKeyPair vendorRoot, string esn, byte[] identityBlob)
        {
            var sig = vendorRoot.Sign(WarrantToBeSigned(esn, identityBlob));
            return Convert.ToBase64String(new SshWireWriter().String(WarrantTag).String(esn).String(identityBlob).String(sig).ToArray());
        }

        public static string MakeCertificate(SshKeyPair identity, string esn, string service, byte[] serverBlob)
        {
            var sig = identity.Sign(CertificateToBeSigned(esn, service, serverBlob));
            return Convert.ToBase64String(
                new SshWireWriter().String(CertificateTag).String(esn).String(service).String(serverBlob).String(sig).ToArray());
        }

        /// <summary>Checks that the warrant binds the identity key to the ESN under the vendor root.</summary>
        public static TrustChainResult VerifyWarrant(string vendorRootPublicKey, string esn, string identityKey, string warrant)
        {
            if (!KeyLine.TryParse(vendorRootPublicKey, out var root, out var why)) return TrustChainResult.Fail("vendor root key unreadable: " + why);
            if (!KeyLine.TryParse(identityKey, out var id, out why)) return TrustChainResult.Fail("module identity key unreadable: " + why);
            if (root!.Algorithm != SshKeyAlgorithm.Ed25519) return TrustChainResult.Fail("vendor root key must be Ed25519");
            if (id!.Algorithm != SshKeyAlgorithm.Ed25519) return TrustChainResult.Fail("module identity key must be Ed25519");
            try
            {
                var r = new SshWireReader(Convert.FromBase64String(warrant ?? ""));
                if (r.ReadUtf8() != WarrantTag) return TrustChainResult.Fail("warrant has an unknown format");
                var wEsn = r.ReadUtf8();
                var wId = r.ReadString();
                var sig = r.ReadString();
                if (r.Remaining != 0) return TrustChainResult.Fail("warrant has trailing data");
                if (!string.Equals(wEsn, esn, StringComparison.Ordinal)) return TrustChainResult.Fail($"warrant is for ESN {wEsn}, not {esn}");
                var idBlob = id.Blob;
                if (!Same(wId, idBlob)) return TrustChainResult.Fail("warrant is for a different identity key");
                if (!root.Verify(WarrantToBeSigned(esn, idBlob), sig))
                    return TrustChainResult.Fail("warrant signature is not from the trusted vendor root");
                return TrustChainResult.Success;
            }
            catch (Exception e) when (e is FormatException || e is SshKeyFormatException) { return TrustChainResult.Fail("warrant is malformed"); }
        }

        /// <summary>Checks the certificate binding a service's server key to the ESN under the identity key.</summary>
        public static TrustChainResult VerifyCertificate(string esn, string identityKey, string service, byte[] serverKeyBlob, string certificate)
        {
            if (!KeyLine.TryParse(identityKey, out var id, out var why)) return TrustChainResult.Fail("module identity key unreadable: " + why);
            try
            {
                var r = new SshWireReader(Convert.FromBase64String(certificate ?? ""));
                if (r.ReadUtf8() != CertificateTag) return TrustChainResult.Fail("certificate has an unknown format");
                var cEsn = r.ReadUtf8(); var cSvc = r.ReadUtf8(); var cKey = r.ReadString(); var sig = r.ReadString();
                if (r.Remaining != 0) return TrustChainResult.Fail("certificate has trailing data");
                if (!string.Equals(cEsn, esn, StringComparison.Ordinal)) return TrustChainResult.Fail($"certificate is for ESN {cEsn}, not {esn}");
                if (!string.Equals(cSvc, service,
                    StringComparison.Ordinal)) return TrustChainResult.Fail($"certificate is for service {cSvc}, not {service}");
                if (!Same(cKey, serverKeyBlob)) return TrustChainResult.Fail($"the {service} server key is not the key its certificate names");
                // The identity key's type is checked by Verify: a signature whose algorithm differs from the key's is false.
                if (!id!.Verify(CertificateToBeSigned(esn, service, serverKeyBlob), sig))
                    return TrustChainResult.Fail("certificate signature is not from the module identity key");
                return TrustChainResult.Success;
            }
            catch (Exception e) when (e is FormatException
                || e is SshKeyFormatException) { return TrustChainResult.Fail("certificate is malformed"); }
        }

        /// <summary>
        /// Full chain: vendor root → warrant (ESN, identity key) → certificate (ESN, service, server key).
        /// serverKey is an authorized_keys/known_hosts style line "type base64".
        /// </summary>
        public static TrustChainResult Verify(string vendorRootPublicKey, string esn, string identityKey, string warrant,
            string service, string serverKey, string certificate)
        {
            if (!KeyLine.TryParse(serverKey, out var sk, out var why)) return TrustChainResult.Fail("server key unreadable: " + why);
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

        private static bool Same(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            int d = 0;
            for (int i = 0; i < a.Length; i++) d |= a[i] ^ b[i];
            return d == 0;
        }
    }
}
