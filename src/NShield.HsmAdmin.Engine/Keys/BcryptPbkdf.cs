using System;
using System.Security.Cryptography;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// OpenBSD's bcrypt_pbkdf (lib/libutil/bcrypt_pbkdf.c), the KDF OpenSSH uses for encrypted
    /// openssh-key-v1 files. Not PBKDF2: the per-round PRF is a bcrypt-like EksBlowfish hash and the
    /// output bytes are interleaved ("strided") across blocks.
    /// </summary>
    internal static class BcryptPbkdf
    {
        private const int HashSize = 32;          // bcrypt_hash output
        private static readonly byte[] MagicText = System.Text.Encoding.ASCII.GetBytes("OxychromaticBlowfishSwatDynamite");

        public static byte[] Derive(byte[] password, byte[] salt, int rounds, int length) =>
            Derive(password, salt, rounds, length, System.Threading.CancellationToken.None);

        /// <summary>As above; the token is checked before every round (one round is ~20 ms here), so a long derivation stops promptly.</summary>
        public static byte[] Derive(byte[] password, byte[] salt, int rounds, int length, System.Threading.CancellationToken cancellationToken)
        {
            if (password == null) throw new ArgumentNullException(nameof(password));
            if (salt == null) throw new ArgumentNullException(nameof(salt));
            // Same limits as OpenBSD, which rejects an empty password outright.
            if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), "rounds must be at least 1.");
            if (password.Length == 0) throw new ArgumentException("The password must not be empty.", nameof(password));
            if (salt.Length == 0 || salt.Length > 1 << 20) throw new ArgumentException("The salt must be 1 byte to 1 MiB.", nameof(salt));
            if (length < 1 || length > HashSize * HashSize) throw new ArgumentOutOfRangeException(nameof(length), "length must be 1..1024.");

            var key = new byte[length];
            int stride = (length + HashSize - 1) / HashSize;
            int amount = (length + stride - 1) / stride;

            using (var sha = SHA512.Create())
            {
                byte[] sha2pass = sha.ComputeHash(password);
                var countSalt = new byte[salt.Length + 4];
                Buffer.BlockCopy(salt, 0, countSalt, 0, salt.Length);
                var tmp = new byte[HashSize];
                var output = new byte[HashSize];
                int remaining = length;

                for (uint count = 1; remaining > 0; count++)
                {
                    countSalt[salt.Length] = (byte)(count >> 24);
                    countSalt[salt.Length + 1] = (byte)(count >> 16);
                    countSalt[salt.Length + 2] = (byte)(count >> 8);
                    countSalt[salt.Length + 3] = (byte)count;

                    cancellationToken.ThrowIfCancellationRequested();
                    BcryptHash(sha2pass, sha.ComputeHash(countSalt), tmp);
                    Buffer.BlockCopy(tmp, 0, output, 0, HashSize);
                    for (int r = 1; r < rounds; r++)
                    {
                        if (cancellationToken.IsCancellationRequested) Wipe(sha2pass, tmp, output, key);
                        cancellationToken.ThrowIfCancellationRequested();
                        BcryptHash(sha2pass, sha.ComputeHash(tmp), tmp);
                        for (int i = 0; i < HashSize; i++) output[i] ^= tmp[i];
                    }

                    // Interleave: byte i of this block lands at i*stride + (count-1).
                    int take = Math.Min(amount, remaining), n;
                    for (n = 0; n < take; n++)
                    {
                        int dest = n * stride + (int)(count - 1);
                        if (dest >= length) break;
                        key[dest] = output[n];
                    }
                    remaining -= n;
                }

                Array.Clear(sha2pass, 0, sha2pass.Length);
                Array.Clear(tmp, 0, tmp.Length);
                Array.Clear(output, 0, output.Length);
            }
            return key;
        }

        private static void Wipe(params byte[][] buffers)
        {
            foreach (var b in buffers) Array.Clear(b, 0, b.Length);
        }

        private static void BcryptHash(byte[] sha2pass, byte[] sha2salt, byte[] result)
        {
            var bf = new EksBlowfish();
            bf.ExpandState(sha2salt, sha2pass);
            for (int i = 0; i < 64; i++)
            {
                bf.Expand0State(sha2salt);
                bf.Expand0State(sha2pass);
            }

            var cdata = new uint[8];
            for (int i = 0; i < 8; i++)
                cdata[i] = (uint)(MagicText[4 * i] << 24 | MagicText[4 * i + 1] << 16 | MagicText[4 * i + 2] << 8 | MagicText[4 * i + 3]);
            for (int i = 0; i < 64; i++)
                for (int b = 0; b < 8; b += 2)
                    bf.Encipher(ref cdata[b], ref cdata[b + 1]);

            // OpenBSD copies the words out little-endian (unlike everything else here).
            for (int i = 0; i < 8; i++)
            {
                result[4 * i] = (byte)cdata[i];
                result[4 * i + 1] = (byte)(cdata[i] >> 8);
                result[4 * i + 2] = (byte)(cdata[i] >> 16);
                result[4 * i + 3] = (byte)(cdata[i] >> 24);
            }
            bf.Wipe();
            Array.Clear(cdata, 0, cdata.Length);
        }
    }
}
