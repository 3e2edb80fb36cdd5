using System;
using System.Collections.Generic;
using System.Linq;
using Org.BouncyCastle.Security;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>
    /// Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by byte: any
    /// <c>threshold</c> shares give the secret back, fewer give no information about it. Share i holds the value at x = i
    /// (1..255) of one random polynomial per secret byte whose constant term is that byte.
    /// </summary>
    public static class Shamir
    {
        private static readonly SecureRandom Random = new SecureRandom();
        private static readonly byte[] Exp = new byte[510];
        private static readonly byte[] Log = new byte[256];

        static Shamir()
        {
            // 3 generates the multiplicative group of the AES field.
            int x = 1;
            for (int i = 0; i < 255; i++)
            {
                Exp[i] = (byte)x;
                Log[x] = (byte)i;
                x ^= x << 1; // x * 3
                if ((x & 0x100) != 0) x ^= 0x11B;
            }
            for (int i = 255; i < Exp.Length; i++) Exp[i] = Exp[i - 255];
        }

        public static byte Multiply(byte a, byte b) => a == 0 || b == 0 ? (byte)0 : Exp[Log[a] + Log[b]];

        public static byte Divide(byte a, byte b)
        {
            if (b == 0) throw new DivideByZeroException();
            return a == 0 ? (byte)0 : Exp[Log[a] + 255 - Log[b]];
        }

        /// <summary>
        /// Splits <paramref name="secret"/> into <paramref name="count"/> shares (x = 1..count), any <paramref name="threshold"/>
        /// of which rebuild it.
        /// </summary>
        public static byte[][] Split(byte[] secret, int count, int threshold)
        {
            if (secret == null) throw new ArgumentNullException(nameof(secret));
            if (threshold < 2 || threshold > count || count > 255)
                throw new ArgumentOutOfRangeException(nameof(threshold), "2 <= threshold <= count <= 255");
            var shares = new byte[count][];
            for (int i = 0; i < count; i++) shares[i] = new byte[secret.Length];
            var coefficients = new byte[threshold];
            for (int b = 0; b < secret.Length; b++)
            {
                coefficients[0] = secret[b];
                Random.NextBytes(coefficients, 1, threshold - 1);
                for (int i = 0; i < count; i++)
                {
                    // Horner's rule at x = i + 1.
                    byte x = (byte)(i + 1), y = 0;
                    for (int c = threshold - 1; c >= 0; c--) y = (byte)(Multiply(y, x) ^ coefficients[c]);
                    shares[i][b] = y;
                }
            }
            Array.Clear(coefficients, 0, coefficients.Length);
            return shares;
        }

        /// <summary>
        /// The secret from shares given as (x, values): Lagrange interpolation at 0. The x values must be distinct and non-zero
        /// and every share as long as the others; with fewer shares than the threshold the result is just wrong (the caller
        /// checks it against what the share set recorded).
        /// </summary>
        public static byte[] Combine(IReadOnlyList<(byte X, byte[] Y)> shares)
        {
            if (shares == null || shares.Count == 0) throw new ArgumentException("No shares.", nameof(shares));
            var length = shares[0].Y.Length;
            if (shares.Any(s => s.Y.Length != length)) throw new ArgumentException("Shares of different lengths.", nameof(shares));
            if (shares.Any(s => s.X == 0) || shares.Select(s => s.X).Distinct().Count() != shares.Count)
                throw new ArgumentException("Share x values must be distinct and non-zero.", nameof(shares));
            // The Lagrange basis at 0 depends only on the x values: l_j = prod_{m != j} x_m / (x_m - x_j); minus is xor here.
            var basis = new byte[shares.Count];
            for (int j = 0; j < shares.Count; j++)
            {
                byte l = 1;
                for (int m = 0; m < shares.Count; m++)
                    if (m != j) l = Multiply(l, Divide(shares[m].X, (byte)(shares[m].X ^ shares[j].X)));
                basis[j] = l;
            }
            var secret = new byte[length];
            for (int b = 0; b < length; b++)
            {
                byte s = 0;
                for (int j = 0; j < shares.Count; j++) s ^= Multiply(shares[j].Y[b], basis[j]);
                secret[b] = s;
            }
            return secret;
        }
    }
}
