// TEMPORARY stub of Keys/CONTRACT.md so the store branch compiles before `keys` lands.
// Reverted before `git merge keys`. Not a real openssh-key-v1 codec.
using System;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace NShield.HsmAdmin.Keys
{
    public sealed class SshKeyFormatException : HsmException
    {
        public SshKeyFormatException(string id, string message) : base(id, HsmErrorKind.InvalidData, message) { }
    }

    public sealed class SshPublicKey
    {
        public SshKeyAlgorithm Algorithm => SshKeyAlgorithm.Ed25519;
        public string KeyType => "ssh-ed25519";
        public byte[] Blob { get; }
        public string Comment { get; }
        public string Fingerprint
        {
            get { using var sha = SHA256.Create(); return "SHA256:" + Convert.ToBase64String(sha.ComputeHash(Blob)).TrimEnd('='); }
        }
        SshPublicKey(byte[] blob, string comment) { Blob = blob; Comment = comment; }
        public string ToAuthorizedKeysLine() => (KeyType + " " + Convert.ToBase64String(Blob) + " " + Comment).TrimEnd();
        public static SshPublicKey Parse(string line)
        {
            var parts = (line ?? "").Trim().Split(new[] { ' ' }, 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || parts[0] != "ssh-ed25519") throw new SshKeyFormatException(HsmErrorIds.NotAnOpenSshKey, "not a key line");
            try { return new SshPublicKey(Convert.FromBase64String(parts[1]), parts.Length > 2 ? parts[2] : ""); }
            catch (FormatException) { throw new SshKeyFormatException(HsmErrorIds.NotAnOpenSshKey, "bad base64"); }
        }
        public static SshPublicKey FromBlob(byte[] blob, string comment = "") => new SshPublicKey(blob, comment);
        public bool Verify(byte[] data, byte[] signature) => throw new NotImplementedException();
    }

    public sealed class SshKeyPair : IDisposable
    {
        internal byte[] Seed;
        public SshKeyAlgorithm Algorithm => SshKeyAlgorithm.Ed25519;
        public SshPublicKey PublicKey { get; }
        SshKeyPair(byte[] seed, string comment)
        {
            Seed = seed;
            var pub = new Ed25519PrivateKeyParameters(seed, 0).GeneratePublicKey().GetEncoded();
            var type = Encoding.ASCII.GetBytes("ssh-ed25519");
            var blob = new byte[4 + type.Length + 4 + pub.Length];
            blob[3] = (byte)type.Length; Buffer.BlockCopy(type, 0, blob, 4, type.Length);
            blob[4 + type.Length + 3] = (byte)pub.Length; Buffer.BlockCopy(pub, 0, blob, 8 + type.Length, pub.Length);
            PublicKey = SshPublicKey.FromBlob(blob, comment);
        }
        public static SshKeyPair Generate(SshKeyAlgorithm algorithm, string comment = "")
        {
            var seed = new byte[32]; new SecureRandom().NextBytes(seed); return new SshKeyPair(seed, comment);
        }
        internal static SshKeyPair FromSeed(byte[] seed, string comment) => new SshKeyPair(seed, comment);
        public byte[] Sign(byte[] data) => throw new NotImplementedException();
        public void Dispose() => Array.Clear(Seed, 0, Seed.Length);
    }

    public static class OpenSshPrivateKey
    {
        public const int DefaultRounds = 16;
        const string Header = "-----BEGIN OPENSSH PRIVATE KEY-----";
        public static string Encode(SshKeyPair key, byte[]? passphrase, int rounds = DefaultRounds)
        {
            var check = Check(passphrase);
            var body = key.Seed.Select((b, i) => (byte)(b ^ check[i])).ToArray();
            var enc = passphrase == null || passphrase.Length == 0 ? "0" : "1";
            return Header + "\n" + enc + Convert.ToBase64String(check.Skip(32).ToArray()) + "." + Convert.ToBase64String(body) + "."
                + Convert.ToBase64String(Encoding.UTF8.GetBytes(key.PublicKey.Comment)) + "\n-----END OPENSSH PRIVATE KEY-----\n";
        }
        public static SshKeyPair Decode(string text, byte[]? passphrase)
        {
            var lines = text.Split('\n');
            if (lines.Length < 2 || lines[0] != Header) throw new SshKeyFormatException(HsmErrorIds.NotAnOpenSshKey, "not a key");
            var parts = lines[1].Substring(1).Split('.');
            if (lines[1][0] == '1' && (passphrase == null || passphrase.Length == 0))
                throw new SshKeyFormatException(HsmErrorIds.KeyPassphraseRequired, "passphrase required");
            var check = Check(lines[1][0] == '1' ? passphrase : null);
            if (Convert.ToBase64String(check.Skip(32).ToArray()) != parts[0])
                throw new SshKeyFormatException(HsmErrorIds.KeyWrongPassphrase, "wrong passphrase");
            var seed = Convert.FromBase64String(parts[1]).Select((b, i) => (byte)(b ^ check[i])).ToArray();
            return SshKeyPair.FromSeed(seed, Encoding.UTF8.GetString(Convert.FromBase64String(parts[2])));
        }
        public static bool IsEncrypted(string text) => text.Split('\n')[1][0] == '1';
        static byte[] Check(byte[]? p) { using var sha = SHA512.Create(); return sha.ComputeHash(p ?? new byte[0]); }
    }
}
