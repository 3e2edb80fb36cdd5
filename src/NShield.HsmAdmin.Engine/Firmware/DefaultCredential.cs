using System;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The simulated module's WELL-KNOWN default sshadmin credential (Ed25519), like the vendor's factory default.
    /// It is public on purpose: it is shipped with the product, documented in docs/firmware-protocol.md, and only ever
    /// authorises the <c>identity</c> and <c>enroll</c> commands on a module in factory state or recovery mode.
    /// Never treat it as a secret and never use it for anything else.
    /// </summary>
    public static class DefaultCredential
    {
        /// <summary>The Ed25519 seed (private key), hex. Well-known: see the class remarks.</summary>
        public const string SeedHex = "f561b4df06cac3d3c0f3d000f09e77fdbb1ad087578b4e6ab3a9b4043124bc82";

        public const string Comment = "nshield-sim-default-sshadmin";

        private static readonly Lazy<byte[]> PublicRaw = new Lazy<byte[]>(() => SshWire.Ed25519Public(Seed));
        private static readonly Lazy<string> Line = new Lazy<string>(() => SshWire.Ed25519Line(PublicRaw.Value, Comment));

        internal static byte[] Seed
        {
            get
            {
                var b = new byte[32];
                for (int i = 0; i < 32; i++) b[i] = Convert.ToByte(SeedHex.Substring(i * 2, 2), 16);
                return b;
            }
        }

        /// <summary>authorized_keys line of the default credential ("ssh-ed25519 AAAA... nshield-sim-default-sshadmin").</summary>
        public static string PublicKeyLine => Line.Value;

        /// <summary>SHA256 fingerprint as ssh-keygen -l prints it.</summary>
        public static string Fingerprint => SshWire.Fingerprint(SshWire.Ed25519Blob(PublicRaw.Value));

        /// <summary>The private key as unencrypted openssh-key-v1 text (for `ssh -i` and SSH.NET's PrivateKeyFile).</summary>
        public static string PrivateKeyOpenSsh => SshWire.Ed25519PrivateKeyText(Seed, Comment);
    }
}
