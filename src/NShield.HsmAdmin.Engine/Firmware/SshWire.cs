using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>SSH wire encoding (RFC 4251 strings) and the few key operations the firmware needs.
    /// Self-contained (Ed25519 only for module-made keys) so the firmware does not depend on the Keys folder
    /// and starts fast; client keys of any OpenSSH type are validated structurally and fingerprinted.</summary>
    internal static class SshWire
    {
        public static void WriteString(Stream s, byte[] data)
        {
            WriteUInt32(s, (uint)data.Length);
            s.Write(data, 0, data.Length);
        }

        public static void WriteString(Stream s, string text) => WriteString(s, Encoding.UTF8.GetBytes(text));

        public static void WriteUInt32(Stream s, uint v)
        {
            s.WriteByte((byte)(v >> 24)); s.WriteByte((byte)(v >> 16)); s.WriteByte((byte)(v >> 8)); s.WriteByte((byte)v);
        }

        public static byte[] Strings(params object[] parts)
        {
            using var ms = new MemoryStream();
            foreach (var p in parts)
            {
                if (p is string str) WriteString(ms, str);
                else WriteString(ms, (byte[])p);
            }
            return ms.ToArray();
        }

        /// <summary>Reads SSH strings; throws FormatException on truncation.</summary>
        public sealed class Reader
        {
            private readonly byte[] _b; private int _p;
            public Reader(byte[] b) { _b = b; }
            public bool AtEnd => _p == _b.Length;
            public uint UInt32()
            {
                if (_b.Length - _p < 4) throw new FormatException("truncated");
                uint v = (uint)(_b[_p] << 24 | _b[_p + 1] << 16 | _b[_p + 2] << 8 | _b[_p + 3]);
                _p += 4; return v;
            }
            public byte[] Bytes()
            {
                uint n = UInt32();
                if (n > (uint)(_b.Length - _p)) throw new FormatException("truncated");
                var r = new byte[n]; Buffer.BlockCopy(_b, _p, r, 0, (int)n); _p += (int)n; return r;
            }
            public string Text() => Encoding.UTF8.GetString(Bytes());
            public byte[] Raw(int n)
            {
                if (n > _b.Length - _p) throw new FormatException("truncated");
                var r = new byte[n]; Buffer.BlockCopy(_b, _p, r, 0, n); _p += n; return r;
            }
        }

        public static string Fingerprint(byte[] blob)
        {
            using var sha = SHA256.Create();
            return "SHA256:" + Convert.ToBase64String(sha.ComputeHash(blob)).TrimEnd('=');
        }

        public static byte[] Ed25519Blob(byte[] publicKey) => Strings("ssh-ed25519", publicKey);

        public static string Ed25519Line(byte[] publicKey, string comment)
            => "ssh-ed25519 " + Convert.ToBase64String(Ed25519Blob(publicKey)) + (comment.Length > 0 ? " " + comment : "");

        public static byte[] NewSeed()
        {
            var seed = new byte[32];
            using var rng = RandomNumberGenerator.Create();
            rng.GetBytes(seed);
            return seed;
        }

        public static byte[] Ed25519Public(byte[] seed) => new Ed25519PrivateKeyParameters(seed, 0).GeneratePublicKey().GetEncoded();

        public static byte[] Ed25519Sign(byte[] seed, byte[] data)
        {
            var signer = new Ed25519Signer();
            signer.Init(true, new Ed25519PrivateKeyParameters(seed, 0));
            signer.BlockUpdate(data, 0, data.Length);
            return signer.GenerateSignature();
        }

        public static bool Ed25519Verify(byte[] publicKey, byte[] data, byte[] signature)
        {
            if (publicKey.Length != 32 || signature.Length != 64) return false;
            var v = new Ed25519Signer();
            v.Init(false, new Ed25519PublicKeyParameters(publicKey, 0));
            v.BlockUpdate(data, 0, data.Length);
            return v.VerifySignature(signature);
        }

        /// <summary>Unencrypted openssh-key-v1 text for an Ed25519 seed (what sshd reads as HostKey).</summary>
        public static string Ed25519PrivateKeyText(byte[] seed, string comment)
        {
            var pub = Ed25519Public(seed);
            var blob = Ed25519Blob(pub);
            using var priv = new MemoryStream();
            var check = new byte[4];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(check);
            priv.Write(check, 0, 4); priv.Write(check, 0, 4);
            WriteString(priv, "ssh-ed25519");
            WriteString(priv, pub);
            var sk = new byte[64]; Buffer.BlockCopy(seed, 0, sk, 0, 32); Buffer.BlockCopy(pub, 0, sk, 32, 32);
            WriteString(priv, sk);
            WriteString(priv, comment);
            for (byte i = 1; priv.Length % 8 != 0; i++) priv.WriteByte(i);
            using var all = new MemoryStream();
            var magic = Encoding.ASCII.GetBytes("openssh-key-v1\0");
            all.Write(magic, 0, magic.Length);
            WriteString(all, "none"); WriteString(all, "none"); WriteString(all, new byte[0]);
            WriteUInt32(all, 1);
            WriteString(all, blob);
            WriteString(all, priv.ToArray());
            var b64 = Convert.ToBase64String(all.ToArray());
            var sb = new StringBuilder("-----BEGIN OPENSSH PRIVATE KEY-----\n");
            for (int i = 0; i < b64.Length; i += 70) sb.Append(b64, i, Math.Min(70, b64.Length - i)).Append('\n');
            sb.Append("-----END OPENSSH PRIVATE KEY-----\n");
            return sb.ToString();
        }

        /// <summary>Reads the seed back from an unencrypted Ed25519 openssh-key-v1 text written by <see cref="Ed25519PrivateKeyText"/>.</summary>
        public static byte[] Ed25519SeedFromText(string text)
        {
            var lines = text.Replace("\r", "").Split('\n');
            var sb = new StringBuilder();
            foreach (var l in lines) if (l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal)) sb.Append(l.Trim());
            var all = Convert.FromBase64String(sb.ToString());
            var magic = "openssh-key-v1\0";
            if (all.Length < magic.Length || Encoding.ASCII.GetString(all, 0, magic.Length) != magic) throw new FormatException("not openssh-key-v1");
            var r = new Reader(all);
            r.Raw(magic.Length);
            if (r.Text() != "none") throw new FormatException("encrypted key");
            r.Bytes(); r.Bytes();
            if (r.UInt32() != 1) throw new FormatException("nkeys");
            r.Bytes();
            var pr = new Reader(r.Bytes());
            if (pr.UInt32() != pr.UInt32()) throw new FormatException("checkint");
            if (pr.Text() != "ssh-ed25519") throw new FormatException("not ed25519");
            pr.Bytes();
            var sk = pr.Bytes();
            if (sk.Length != 64) throw new FormatException("sk");
            var seed = new byte[32]; Buffer.BlockCopy(sk, 0, seed, 0, 32);
            return seed;
        }
    }

    /// <summary>A public key as written in authorized_keys (type, blob, comment), validated structurally.</summary>
    public sealed class PublicKeyLine
    {
        public string KeyType { get; }
        public byte[] Blob { get; }
        public string Comment { get; }
        public string Fingerprint { get; }

        private PublicKeyLine(string type, byte[] blob, string comment)
        {
            KeyType = type; Blob = blob; Comment = comment; Fingerprint = SshWire.Fingerprint(blob);
        }

        /// <summary>"type base64" (no comment: comments never reach authorized_keys, so no injection is possible).</summary>
        public string Canonical => KeyType + " " + Convert.ToBase64String(Blob);

        public override string ToString() => Canonical + (Comment.Length > 0 ? " " + Comment : "");

        private static readonly HashSet<string> Types = new HashSet<string>(StringComparer.Ordinal)
        {
            "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        };

        public static PublicKeyLine FromBlob(byte[] blob, string comment = "")
        {
            if (!TryFromBlob(blob, comment, out var k, out var why)) throw new FormatException(why);
            return k!;
        }

        public static PublicKeyLine Parse(string line)
        {
            if (!TryParse(line, out var k, out var why)) throw new FormatException(why);
            return k!;
        }

        /// <summary>Accepts exactly "type base64 [comment]" on one line; rejects options, control characters and unknown types.</summary>
        public static bool TryParse(string? line, out PublicKeyLine? key, out string reason)
        {
            key = null;
            if (line == null) { reason = "no public key given"; return false; }
            var t = line.Trim();
            if (t.Length == 0 || t.Length > 16384) { reason = "public key line empty or too long"; return false; }
            foreach (var ch in t) if (ch < 0x20 || ch == 0x7f) { reason = "public key line contains control characters"; return false; }
            var parts = t.Split(new[] { ' ', '\t' }, 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2) { reason = "expected '<type> <base64> [comment]'"; return false; }
            if (!Types.Contains(parts[0])) { reason = $"unsupported or unknown key type '{Trunc(parts[0])}'"; return false; }
            byte[] blob;
            try { blob = Convert.FromBase64String(parts[1]); }
            catch (FormatException) { reason = "key data is not base64"; return false; }
            if (!TryFromBlob(blob, parts.Length > 2 ? parts[2] : "", out key, out reason)) return false;
            if (key!.KeyType != parts[0]) { key = null; reason = "key type does not match the key data"; return false; }
            return true;
        }

        public static bool TryFromBlob(byte[] blob, string comment, out PublicKeyLine? key, out string reason)
        {
            key = null;
            try
            {
                var r = new SshWire.Reader(blob);
                var type = r.Text();
                switch (type)
                {
                    case "ssh-ed25519":
                        if (r.Bytes().Length != 32) { reason = "Ed25519 key must be 32 bytes"; return false; }
                        break;
                    case "ecdsa-sha2-nistp256":
                    case "ecdsa-sha2-nistp384":
                    case "ecdsa-sha2-nistp521":
                        {
                            var curve = r.Text();
                            if ("ecdsa-sha2-" + curve != type) { reason = "ECDSA curve does not match key type"; return false; }
                            var q = r.Bytes();
                            int need = curve == "nistp256" ? 65 : curve == "nistp384" ? 97 : 133;
                            if (q.Length != need || q[0] != 4) { reason = "ECDSA point malformed"; return false; }
                            break;
                        }
                    case "ssh-rsa":
                        {
                            var e = r.Bytes(); var n = r.Bytes();
                            if (e.Length == 0 || n.Length < 256) { reason = "RSA key malformed or shorter than 2048 bits"; return false; }
                            break;
                        }
                    default:
                        reason = $"unsupported key type '{Trunc(type)}'"; return false;
                }
                if (!r.AtEnd) { reason = "trailing data after key"; return false; }
                var c = comment.Trim();
                foreach (var ch in c) if (ch < 0x20 || ch == 0x7f) { c = ""; break; }
                key = new PublicKeyLine(type, blob, c);
                reason = "";
                return true;
            }
            catch (FormatException) { reason = "key data truncated"; return false; }
        }

        private static string Trunc(string s) => s.Length > 40 ? s.Substring(0, 40) + "..." : s;
    }
}
