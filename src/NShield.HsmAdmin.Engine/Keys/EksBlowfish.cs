using System;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// Blowfish with the "expensive key schedule" hooks bcrypt needs (OpenBSD blf.c: expandstate /
    /// expand0state). BouncyCastle's BlowfishEngine hides its key schedule, so this is our own;
    /// the plain key schedule is kept so a test can prove the tables against BouncyCastle.
    /// </summary>
    internal sealed class EksBlowfish
    {
        private readonly uint[] _p = new uint[18];
        private readonly uint[] _s = new uint[1024]; // S0..S3 back to back: one array, fewer bounds checks

        public EksBlowfish()
        {
            Buffer.BlockCopy(BlowfishTables.P, 0, _p, 0, 18 * 4);
            Buffer.BlockCopy(BlowfishTables.S0, 0, _s, 0, 1024);
            Buffer.BlockCopy(BlowfishTables.S1, 0, _s, 1024, 1024);
            Buffer.BlockCopy(BlowfishTables.S2, 0, _s, 2048, 1024);
            Buffer.BlockCopy(BlowfishTables.S3, 0, _s, 3072, 1024);
        }

        /// <summary>Standard Blowfish key setup (== expand0state from the initial state).</summary>
        public static EksBlowfish WithKey(byte[] key)
        {
            var bf = new EksBlowfish();
            bf.Expand0State(key);
            return bf;
        }

        /// <summary>Cycles through data as big-endian words, wrapping around (Blowfish_stream2word).</summary>
        private static uint StreamToWord(byte[] data, ref int j)
        {
            uint w = 0;
            for (int i = 0; i < 4; i++)
            {
                if (j >= data.Length) j = 0;
                w = (w << 8) | data[j++];
            }
            return w;
        }

        public void Expand0State(byte[] key)
        {
            int j = 0;
            for (int i = 0; i < 18; i++) _p[i] ^= StreamToWord(key, ref j);
            uint l = 0, r = 0;
            for (int i = 0; i < 18; i += 2)
            {
                Encipher(ref l, ref r);
                _p[i] = l; _p[i + 1] = r;
            }
            for (int i = 0; i < 1024; i += 2)
            {
                Encipher(ref l, ref r);
                _s[i] = l; _s[i + 1] = r;
            }
        }

        public void ExpandState(byte[] data, byte[] key)
        {
            int j = 0;
            for (int i = 0; i < 18; i++) _p[i] ^= StreamToWord(key, ref j);
            j = 0;
            uint l = 0, r = 0;
            for (int i = 0; i < 18; i += 2)
            {
                l ^= StreamToWord(data, ref j);
                r ^= StreamToWord(data, ref j);
                Encipher(ref l, ref r);
                _p[i] = l; _p[i + 1] = r;
            }
            for (int i = 0; i < 1024; i += 2)
            {
                l ^= StreamToWord(data, ref j);
                r ^= StreamToWord(data, ref j);
                Encipher(ref l, ref r);
                _s[i] = l; _s[i + 1] = r;
            }
        }

        public void Encipher(ref uint xl, ref uint xr)
        {
            uint[] p = _p, s = _s;
            uint l = xl ^ p[0], r = xr;
            for (int i = 1; i <= 16; i += 2)
            {
                r ^= (((s[l >> 24] + s[256 + ((l >> 16) & 0xff)]) ^ s[512 + ((l >> 8) & 0xff)]) + s[768 + (l & 0xff)]) ^ p[i];
                l ^= (((s[r >> 24] + s[256 + ((r >> 16) & 0xff)]) ^ s[512 + ((r >> 8) & 0xff)]) + s[768 + (r & 0xff)]) ^ p[i + 1];
            }
            xl = r ^ p[17];
            xr = l;
        }

        /// <summary>ECB-encrypts one 8-byte big-endian block (for the table test).</summary>
        public byte[] EncryptBlock(byte[] block)
        {
            uint l = (uint)(block[0] << 24 | block[1] << 16 | block[2] << 8 | block[3]);
            uint r = (uint)(block[4] << 24 | block[5] << 16 | block[6] << 8 | block[7]);
            Encipher(ref l, ref r);
            return new[] { (byte)(l >> 24), (byte)(l >> 16), (byte)(l >> 8), (byte)l,
                           (byte)(r >> 24), (byte)(r >> 16), (byte)(r >> 8), (byte)r };
        }

        public void Wipe()
        {
            Array.Clear(_p, 0, _p.Length);
            Array.Clear(_s, 0, _s.Length);
        }
    }
}
