using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protection
{
    /// <summary>
    /// Split custody (issue 22): the product's GF(256) Shamir against vectors this test computes itself, with a bitwise
    /// multiplication (no tables) and its own polynomial evaluation and Lagrange interpolation.
    /// </summary>
    public class ShamirTests
    {
        // Bitwise multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 section 4.2), independent of the product.
        private static byte Mul(byte a, byte b)
        {
            int p = 0, x = a, y = b;
            while (y != 0)
            {
                if ((y & 1) != 0) p ^= x;
                x <<= 1;
                if ((x & 0x100) != 0) x ^= 0x11B;
                y >>= 1;
            }
            return (byte)p;
        }

        private static byte Inv(byte a)
        {
            byte r = 1;
            for (int i = 0; i < 254; i++) r = Mul(r, a);
            return r;
        }

        private static byte Eval(byte[] coefficients, byte x)
        {
            byte y = 0, power = 1;
            foreach (var c in coefficients) { y ^= Mul(c, power); power = Mul(power, x); }
            return y;
        }

        private static byte[] Interpolate(IReadOnlyList<(byte X, byte[] Y)> shares)
        {
            var secret = new byte[shares[0].Y.Length];
            for (int j = 0; j < shares.Count; j++)
            {
                byte l = 1;
                for (int m = 0; m < shares.Count; m++)
                    if (m != j) l = Mul(l, Mul(shares[m].X, Inv((byte)(shares[m].X ^ shares[j].X))));
                for (int b = 0; b < secret.Length; b++) secret[b] ^= Mul(shares[j].Y[b], l);
            }
            return secret;
        }

        [Theory]
        [InlineData(0x57, 0x83, 0xC1)] // FIPS-197 4.2
        [InlineData(0x57, 0x13, 0xFE)] // FIPS-197 4.2.1
        [InlineData(0x01, 0xFF, 0xFF)]
        [InlineData(0x00, 0x9A, 0x00)]
        public void Field_multiplication_matches_fips197(int a, int b, int product)
        {
            Assert.Equal((byte)product, Shamir.Multiply((byte)a, (byte)b));
            Assert.Equal((byte)product, Mul((byte)a, (byte)b));
        }

        [Fact]
        public void Combine_rebuilds_a_secret_from_any_three_of_five_shares_computed_by_this_test()
        {
            var secret = Encoding.ASCII.GetBytes("NShield sshadmin");
            // One fixed polynomial of degree 2 per secret byte: a0 = the byte, a1 and a2 made up here.
            var polynomials = secret.Select((s, i) => new[] { s, (byte)(17 * i + 3), (byte)(251 - 7 * i) }).ToArray();
            var shares = Enumerable.Range(1, 5).Select(x => ((byte)x, polynomials.Select(p => Eval(p, (byte)x)).ToArray())).ToList();
            // Share 2 of this vector, for the record (first bytes): checks Eval itself against a hand computation.
            // f(x) = 'N' + 3x + 251x^2 at x = 2: 0x4E ^ 0x06 ^ Mul(251, 4).
            Assert.Equal((byte)(0x4E ^ 0x06 ^ Mul(251, 4)), shares[1].Item2[0]);

            foreach (var pick in new[] { new[] { 0, 1, 2 }, new[] { 4, 2, 0 }, new[] { 1, 3, 4 } })
                Assert.Equal(secret, Shamir.Combine(pick.Select(i => shares[i]).ToList()));
            Assert.NotEqual(secret, Shamir.Combine(new[] { shares[0], shares[1] }));
        }

        [Fact]
        public void Split_shares_rebuild_by_this_tests_own_interpolation_and_fewer_than_threshold_do_not()
        {
            var secret = Encoding.UTF8.GetBytes("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n");
            var shares = Shamir.Split(secret, 4, 3);
            Assert.Equal(4, shares.Length);
            var indexed = shares.Select((y, i) => ((byte)(i + 1), y)).ToList();
            Assert.Equal(secret, Interpolate(new[] { indexed[3], indexed[0], indexed[2] }));
            Assert.Equal(secret, Interpolate(indexed));
            Assert.NotEqual(secret, Interpolate(new[] { indexed[0], indexed[1] }));
            Assert.All(shares, s => Assert.NotEqual(secret, s));
        }

        [Theory]
        [InlineData(3, 1)]
        [InlineData(2, 3)]
        [InlineData(256, 2)]
        public void Split_refuses_a_threshold_below_two_or_above_the_count(int count, int threshold) =>
            Assert.Throws<ArgumentOutOfRangeException>(() => Shamir.Split(new byte[] { 1 }, count, threshold));

        [Fact]
        public void Combine_refuses_repeated_or_zero_x()
        {
            Assert.Throws<ArgumentException>(() => Shamir.Combine(new[] { ((byte)1, new byte[] { 1 }), ((byte)1, new byte[] { 2 }) }));
            Assert.Throws<ArgumentException>(() => Shamir.Combine(new[] { ((byte)0, new byte[] { 1 }), ((byte)2, new byte[] { 2 }) }));
        }
    }

    public class SshSignatureTests
    {
        [Theory]
        [InlineData(SshKeyAlgorithm.Ed25519)]
        [InlineData(SshKeyAlgorithm.EcdsaP256)]
        [InlineData(SshKeyAlgorithm.EcdsaP521)]
        public void Verifies_its_own_signature_only_for_the_same_message_namespace_and_key(SshKeyAlgorithm algorithm)
        {
            using var key = SshKeyPair.Generate(algorithm);
            using var other = SshKeyPair.Generate(algorithm);
            var message = Encoding.UTF8.GetBytes("{\"trusted\": true}\n");
            var armored = SshSignature.Sign(key, "ns@test", message);
            Assert.StartsWith(SshSignature.BeginMarker + "\n", armored);
            Assert.True(SshSignature.Verify(key.PublicKey, "ns@test", message, armored));
            Assert.False(SshSignature.Verify(key.PublicKey, "other@test", message, armored));
            Assert.False(SshSignature.Verify(other.PublicKey, "ns@test", message, armored));
            Assert.False(SshSignature.Verify(key.PublicKey, "ns@test", Encoding.UTF8.GetBytes("{\"trusted\": false}\n"), armored));
            // One byte of the signature itself changed, between the real markers (the markers stay intact).
            var lines = armored.Split('\n').ToList();
            var body = Convert.FromBase64String(string.Concat(lines.Skip(1).TakeWhile(l => !l.StartsWith("-----"))));
            body[body.Length - 1] ^= 0x01;
            var tampered = lines[0] + "\n" + Convert.ToBase64String(body) + "\n" + lines.First(l => l.StartsWith("-----END")) + "\n";
            Assert.True(SshSignature.Verify(key.PublicKey, "ns@test", message,
                lines[0] + "\n" + Convert.ToBase64String(Convert.FromBase64String(string.Concat(lines.Skip(1).TakeWhile(l => !l.StartsWith("-----")))))
                + "\n" + lines.First(l => l.StartsWith("-----END")) + "\n"), "the re-armoured signature still verifies");
            Assert.False(SshSignature.Verify(key.PublicKey, "ns@test", message, tampered));
        }
    }
}
