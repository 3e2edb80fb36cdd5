using System;
using System.Linq;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// OpenSSH's detached signature format (PROTOCOL.sshsig; `ssh-keygen -Y sign` / `-Y verify`), so that anyone can check
    /// what the product signed with the stock OpenSSH tools. The signature covers a namespace (what kind of thing is signed,
    /// so a signature made for one purpose is not accepted for another) and the SHA-512 hash of the message.
    /// Every key type the product makes works: Ed25519, ECDSA P-256/384/521, RSA (rsa-sha2-512, as the format requires).
    /// </summary>
    public static class SshSignature
    {
        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("SSHSIG");
        private const uint Version = 1;
        private const string HashAlgorithm = "sha512";
        public const string BeginMarker = "-----BEGIN SSH SIGNATURE-----";
        public const string EndMarker = "-----END SSH SIGNATURE-----";

        /// <summary>The armored signature (the text ssh-keygen -Y sign writes to FILE.sig) of <paramref name="message"/>.</summary>
        public static string Sign(SshKeyPair key, string signatureNamespace, byte[] message)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            CheckNamespace(signatureNamespace);
            var signature = key.Sign(ToBeSigned(signatureNamespace, message));
            var blob = new SshWireWriter().Raw(Magic).UInt32(Version).String(key.PublicKey.Blob).String(signatureNamespace)
                .String(new byte[0]).String(HashAlgorithm).String(signature).ToArray();
            return Armor(blob);
        }

        /// <summary>
        /// True when <paramref name="armored"/> is a valid signature of <paramref name="message"/> by <paramref name="signer"/>
        /// in <paramref name="signatureNamespace"/>. False for any other signature, key, namespace or damaged text.
        /// </summary>
        public static bool Verify(SshPublicKey signer, string signatureNamespace, byte[] message, string armored)
        {
            try
            {
                var r = new SshWireReader(Dearmor(armored));
                if (!r.ReadBytes(Magic.Length).SequenceEqual(Magic) || r.ReadUInt32() != Version) return false;
                var publicKey = r.ReadString();
                var ns = r.ReadUtf8();
                r.ReadString(); // reserved
                var hash = r.ReadUtf8();
                var signature = r.ReadString();
                if (r.Remaining != 0 || ns != signatureNamespace || hash != HashAlgorithm) return false;
                if (!publicKey.SequenceEqual(signer.Blob)) return false;
                return signer.Verify(ToBeSigned(signatureNamespace, message), signature);
            }
            catch (Exception ex) when (ex is SshKeyFormatException || ex is FormatException || ex is HsmException) { return false; }
        }

        private static byte[] ToBeSigned(string signatureNamespace, byte[] message)
        {
            var digest = new Sha512Digest();
            digest.BlockUpdate(message, 0, message.Length);
            var hash = new byte[digest.GetDigestSize()];
            digest.DoFinal(hash, 0);
            return new SshWireWriter().Raw(Magic).String(signatureNamespace).String(new byte[0]).String(HashAlgorithm).String(hash).ToArray();
        }

        private static void CheckNamespace(string signatureNamespace)
        {
            if (string.IsNullOrEmpty(signatureNamespace))
                throw new ArgumentException("An SSH signature needs a namespace (PROTOCOL.sshsig).", nameof(signatureNamespace));
        }

        // ssh-keygen wraps the base64 at 70 columns.
        private static string Armor(byte[] blob)
        {
            var text = Convert.ToBase64String(blob);
            var sb = new StringBuilder().Append(BeginMarker).Append('\n');
            for (var i = 0; i < text.Length; i += 70) sb.Append(text, i, Math.Min(70, text.Length - i)).Append('\n');
            return sb.Append(EndMarker).Append('\n').ToString();
        }

        private static byte[] Dearmor(string armored)
        {
            var text = armored.Replace("\r", "").Trim();
            if (!text.StartsWith(BeginMarker, StringComparison.Ordinal) || !text.EndsWith(EndMarker, StringComparison.Ordinal))
                throw new FormatException("not an SSH signature");
            var body = text.Substring(BeginMarker.Length, text.Length - BeginMarker.Length - EndMarker.Length);
            return Convert.FromBase64String(string.Concat(body.Where(c => !char.IsWhiteSpace(c))));
        }
    }
}
