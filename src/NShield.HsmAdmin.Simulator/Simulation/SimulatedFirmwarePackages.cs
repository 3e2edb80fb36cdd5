using System;
using System.IO;
using System.Text;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>What is wrong with a test firmware package (New-HsmSimulatedFirmwarePackage -Defect).</summary>
    public enum FirmwarePackageDefect
    {
        /// <summary>A good package, signed by the simulated vendor's firmware-signing key.</summary>
        None,
        /// <summary>Signed by a key the simulated vendor root never certified (the certificate names that key, signed by another root).</summary>
        WrongSigner,
        /// <summary>The good package cut short (its last third missing).</summary>
        Truncated,
        /// <summary>The good package with one payload byte changed after signing.</summary>
        Tampered,
    }

    /// <summary>
    /// The simulated vendor's firmware packages (docs/firmware-protocol.md, "Firmware packages"): a firmware-signing key the
    /// simulated vendor root certifies, kept in the simulator's folder (owner-only, made on first use), and test packages
    /// signed with it, good or with a defect. A downgrade is a good package with a low VSN.
    /// </summary>
    public static class SimulatedFirmwarePackages
    {
        public const string SignerComment = "nshield-simulated-vendor-firmware-signer";

        public static string SignerKeyPath(string simRoot) => Path.Combine(simRoot, "vendor-firmware.key");

        /// <summary>Builds a package; payloadBytes of deterministic filler (the simulated image), at most 64 MiB.</summary>
        public static byte[] Build(Simulator sim, string version, int vsn, string image, int payloadBytes, FirmwarePackageDefect defect)
        {
            if (payloadBytes < 0 || payloadBytes > 64 * 1024 * 1024)
                throw new ArgumentOutOfRangeException(nameof(payloadBytes), payloadBytes, "0 to 64 MiB");
            var payload = new byte[payloadBytes];
            var seed = Encoding.UTF8.GetBytes(version + "/" + vsn + "/" + image);
            for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(seed[i % Math.Max(1, seed.Length)] ^ (i * 31));
            byte[] package;
            if (defect == FirmwarePackageDefect.WrongSigner)
            {
                using var otherRoot = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "not-the-vendor-root");
                using var signer = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "not-the-vendor-signer");
                var certificate = FirmwarePackage.MakeSignerCertificate(otherRoot, signer.PublicKey);
                package = FirmwarePackage.Build(signer, certificate, version, vsn, image, payload);
            }
            else
            {
                using var root = OpenSshPrivateKey.Decode(File.ReadAllText(sim.VendorRootKeyPath), null);
                using var signer = Signer(sim);
                package = FirmwarePackage.Build(signer, FirmwarePackage.MakeSignerCertificate(root, signer.PublicKey), version, vsn, image, payload);
            }
            if (defect == FirmwarePackageDefect.Truncated) Array.Resize(ref package, package.Length * 2 / 3);
            if (defect == FirmwarePackageDefect.Tampered)
            {
                // The first payload byte: after the tag, version, VSN, image and the payload's length.
                int at = 4 + FirmwarePackage.Tag.Length + 4 + Encoding.UTF8.GetByteCount(version) + 4 + 4 + Encoding.UTF8.GetByteCount(image) + 4;
                if (payloadBytes == 0) throw new ArgumentException("a tampered package needs a payload", nameof(payloadBytes));
                package[at] ^= 0x01;
            }
            return package;
        }

        private static SshKeyPair Signer(Simulator sim)
        {
            var path = SignerKeyPath(sim.Root);
            if (!File.Exists(path))
            {
                using var fresh = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, SignerComment);
                SecureFiles.WriteAtomic(path, OpenSshPrivateKey.Encode(fresh, null), FileAccessScope.OwnerOnly);
            }
            return OpenSshPrivateKey.Decode(File.ReadAllText(path), null);
        }
    }
}
