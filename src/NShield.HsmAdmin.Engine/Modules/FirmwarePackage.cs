using System;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>The firmware images a module holds: primary (normal operation) and recovery (what Recovery mode runs).</summary>
    public enum FirmwareImage
    {
        Primary,
        Recovery,
    }

    /// <summary>
    /// A firmware package (Update-HsmFirmware; the vendor's hsmadmin upgrade), in the format this product defines
    /// (docs/firmware-protocol.md, "Firmware packages"): SSH wire strings, in this order,
    /// <c>string "nshield-firmware-v1", string version, uint32 vsn, string image ("primary" | "recovery"), string payload,
    /// string signerKey, string signerCertificate, string signature</c>. The signer certificate is
    /// <c>string "nshield-fwsigner-v1", string signerKey, string sig</c> with sig by the vendor root over the first two
    /// strings; the signature is the signer key's over every byte before the signature string. The module checks both
    /// against the vendor root it was made with; the host reads the header only to say what it sends, and refuses a file
    /// that is not a whole package before it opens any channel.
    /// </summary>
    public sealed class FirmwarePackage
    {
        // Images are named through FirmwareImage so no literal equals a module mode's name (ProtocolDefinitionTests).
        public const string Tag = "nshield-firmware-v1";
        public const string SignerCertificateTag = "nshield-fwsigner-v1";
        /// <summary>Image names on the wire: the primary image (normal operation) and the recovery image (recovery mode).</summary>
        public static readonly string PrimaryImage = ImageName(FirmwareImage.Primary), RecoveryImage = ImageName(FirmwareImage.Recovery);

        /// <summary>An image's name in a package: its enum name in lower case.</summary>
        public static string ImageName(FirmwareImage image) => image.ToString().ToLowerInvariant();
        /// <summary>Largest package this product sends (512 MiB).</summary>
        public const long MaxBytes = 512L * 1024 * 1024;
        /// <summary>Longest version text.</summary>
        public const int MaxVersionLength = 40;

        private FirmwarePackage() { }

        public string Version { get; private set; } = "";
        public int Vsn { get; private set; }
        /// <summary><see cref="PrimaryImage"/> or <see cref="RecoveryImage"/>.</summary>
        public string Image { get; private set; } = "";
        public int PayloadLength { get; private set; }
        public SshPublicKey? SignerKey { get; private set; }
        public byte[] SignerCertificate { get; private set; } = new byte[0];
        public byte[] Signature { get; private set; } = new byte[0];
        /// <summary>Every byte the signature covers.</summary>
        public byte[] SignedPart { get; private set; } = new byte[0];

        /// <summary>
        /// Reads a whole package; anything else (truncated, trailing bytes, a field out of range) is a FormatException saying what.
        /// </summary>
        public static FirmwarePackage Parse(byte[] bytes)
        {
            if (bytes == null) throw new ArgumentNullException(nameof(bytes));
            if (bytes.LongLength > MaxBytes) throw new FormatException($"it is larger than {MaxBytes} bytes");
            try
            {
                var r = new SshWireReader(bytes, HsmErrorIds.FirmwarePackageInvalid);
                if (r.ReadUtf8() != Tag) throw new FormatException($"it does not start with '{Tag}'");
                var p = new FirmwarePackage { Version = r.ReadUtf8() };
                if (p.Version.Length == 0 || p.Version.Length > MaxVersionLength || !Printable(p.Version))
                    throw new FormatException($"its version is not 1 to {MaxVersionLength} printable characters");
                var vsn = r.ReadUInt32();
                if (vsn > int.MaxValue) throw new FormatException("its VSN is out of range");
                p.Vsn = (int)vsn;
                p.Image = r.ReadUtf8();
                if (p.Image != PrimaryImage && p.Image != RecoveryImage) throw new FormatException("its image is neither 'primary' nor 'recovery'");
                p.PayloadLength = r.ReadString().Length;
                var signer = r.ReadString();
                try { p.SignerKey = SshPublicKey.FromBlob(signer); }
                catch (HsmException ex) { throw new FormatException("its signer key is malformed", ex); }
                p.SignerCertificate = r.ReadString();
                p.SignedPart = new byte[bytes.Length - r.Remaining];
                Array.Copy(bytes, p.SignedPart, p.SignedPart.Length);
                p.Signature = r.ReadString();
                if (r.Remaining != 0) throw new FormatException("it has bytes after its signature");
                return p;
            }
            // The wire reader speaks of keys (it reads key files too): say what it means for a package.
            catch (HsmException ex) { throw new FormatException("it ends early, or one of its fields claims more bytes than the file holds", ex); }
        }

        /// <summary>
        /// Null when the package is signed by a key the vendor root certified for firmware; otherwise why not (safe to show).
        /// </summary>
        public string? VerifySignature(SshPublicKey vendorRoot)
        {
            if (SignerKey == null) return "the package names no signer";
            try
            {
                var r = new SshWireReader(SignerCertificate, HsmErrorIds.FirmwareSignatureInvalid);
                if (r.ReadUtf8() != SignerCertificateTag) return "the signer certificate has an unknown format";
                var certified = r.ReadString();
                var sig = r.ReadString();
                if (r.Remaining != 0) return "the signer certificate has trailing data";
                if (!Same(certified, SignerKey.Blob)) return "the signer certificate is for another key";
                if (!vendorRoot.Verify(SignerCertificateToBeSigned(certified), sig))
                    return "the signer is not certified by the vendor root this module trusts";
            }
            catch (HsmException) { return "the signer certificate is malformed"; }
            return SignerKey.Verify(SignedPart, Signature) ? null : "the package signature does not verify (the package was changed after signing)";
        }

        public static byte[] SignerCertificateToBeSigned(byte[] signerBlob) =>
            new SshWireWriter().String(SignerCertificateTag).String(signerBlob).ToArray();

        /// <summary>The vendor root's certificate for a firmware-signing key (the vendor's side; the simulator's vendor makes its own).</summary>
        public static byte[] MakeSignerCertificate(SshKeyPair vendorRoot, SshPublicKey signer) =>
            new SshWireWriter().String(SignerCertificateTag).String(signer.Blob)
                .String(vendorRoot.Sign(SignerCertificateToBeSigned(signer.Blob))).ToArray();

        /// <summary>Builds and signs a package (the vendor's side; the simulator's package builder).</summary>
        public static byte[] Build(SshKeyPair signer, byte[] signerCertificate, string version, int vsn, string image, byte[] payload)
        {
            if (vsn < 0) throw new ArgumentOutOfRangeException(nameof(vsn));
            var signed = new SshWireWriter().String(Tag).String(version).UInt32((uint)vsn).String(image).String(payload)
                .String(signer.PublicKey.Blob).String(signerCertificate).ToArray();
            return new SshWireWriter().Raw(signed).String(signer.Sign(signed)).ToArray();
        }

        private static bool Printable(string s)
        {
            foreach (var c in s) if (c < 0x20 || c >= 0x7f) return false;
            return true;
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
