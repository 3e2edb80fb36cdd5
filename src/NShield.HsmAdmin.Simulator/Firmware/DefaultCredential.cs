using System;
using NShield.HsmAdmin.Keys;

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

        /// <summary>authorized_keys line of the default credential. A constant (not derived at run time) so the firmware,
        /// which checks it on every command, never pays for Ed25519 point arithmetic at start-up; a test checks it matches the seed.</summary>
        public const string PublicKeyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEANbmMjjz4XF0kDorT3DRF3ZEfMLoD38at/gUE00nl " + Comment;

        /// <summary>SHA256 fingerprint as ssh-keygen -l prints it.</summary>
        public const string Fingerprint = "SHA256:BU1c++RVEjJ4gSb4y9HkOVGHsDHlhOR7+jSm0Fl2mLY";

        /// <summary>The private key as unencrypted openssh-key-v1 text (for `ssh -i` and SSH.NET's PrivateKeyFile). Well-known.</summary>
        public const string PrivateKeyOpenSsh =
            "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
            "QyNTUxOQAAACBRADW5jI48+FxdJA6K09w0Rd2RHzC6A9/Grf4FBNNJ5QAAAKDK3pA1yt6Q\n" +
            "NQAAAAtzc2gtZWQyNTUxOQAAACBRADW5jI48+FxdJA6K09w0Rd2RHzC6A9/Grf4FBNNJ5Q\n" +
            "AAAED1YbTfBsrD08Dz0ADwnnf9uxrQh1eLTmqzqbQEMSS8glEANbmMjjz4XF0kDorT3DRF\n" +
            "3ZEfMLoD38at/gUE00nlAAAAHG5zaGllbGQtc2ltLWRlZmF1bHQtc3NoYWRtaW4B\n" +
            "-----END OPENSSH PRIVATE KEY-----\n";

        // Objects come from the Keys engine, lazily: the constants above are what is published (and what the firmware
        // compares fingerprints against on every command); a test checks they agree with each other.
        private static readonly Lazy<SshPublicKey> LazyPublicKey = new Lazy<SshPublicKey>(() => SshPublicKey.Parse(PublicKeyLine));
        private static readonly Lazy<SshKeyPair> LazyKeyPair = new Lazy<SshKeyPair>(() => OpenSshPrivateKey.Decode(PrivateKeyOpenSsh, null));

        /// <summary>The default credential's public key (parsed from <see cref="PublicKeyLine"/>).</summary>
        public static SshPublicKey PublicKey => LazyPublicKey.Value;

        /// <summary>The default credential as a key pair (decoded from <see cref="PrivateKeyOpenSsh"/>). Well-known, not a secret.</summary>
        public static SshKeyPair KeyPair => LazyKeyPair.Value;
    }
}
