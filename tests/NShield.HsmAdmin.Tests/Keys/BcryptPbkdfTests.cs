using System;
using System.Text;
using NShield.HsmAdmin.Keys;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    public class BcryptPbkdfTests
    {
        // OpenBSD regress vectors for bcrypt_pbkdf, as carried by RustCrypto/password-hashes
        // (bcrypt-pbkdf/tests/test_vectors.rs) and Tmds.Ssh. Strings are Latin-1 so "\0" stays one byte.
        [Theory]
        [InlineData("password", "salt", 4, "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9")]
        [InlineData("password", "\0", 4, "c12b566235eee04c212598970a579a67")]
        [InlineData("\0", "salt", 4, "6051be18c2f4f82cbf0efee5471b4bb9")]
        [InlineData("password\0", "salt\0", 4, "7410e44cf4fa07bfaac8a928b1727fac001375e7bf7384370f48efd121743050")]
        [InlineData("pass\0wor", "sa\0l", 4, "c2bffd9db38f6569efef4372f4de83c0")]
        [InlineData("pass\0word", "sa\0lt", 4, "4ba4ac3925c0e8d7f0cdb6bb1684a56f")]
        [InlineData("password", "salt", 8, "e1367ec5151a33faac4cc1c144cd23fa15d5548493ecc99b9b5d9c0d3b27bec76227ea66088b849b20ab7aa478010246e74bba51723fefa9f9474d6508845e8d")]
        [InlineData("password", "salt", 42, "833cf0dcf56db65608e8f0dc0ce882bd")]
        [InlineData("Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.",
            "salis\0", 8, "10978b07253df57f71a162eb0e8ad30a")]
        public void Matches_openbsd_vectors(string password, string salt, int rounds, string expectedHex)
        {
            byte[] expected = Convert.FromHexString(expectedHex);
            byte[] actual = BcryptPbkdf.Derive(Encoding.Latin1.GetBytes(password), Encoding.Latin1.GetBytes(salt), rounds, expected.Length);
            Assert.Equal(expectedHex, Convert.ToHexString(actual).ToLowerInvariant());
        }

        [Fact]
        public void Rejects_what_openbsd_rejects()
        {
            var salt = new byte[16];
            Assert.Throws<ArgumentException>(() => BcryptPbkdf.Derive(new byte[0], salt, 16, 48));
            Assert.Throws<ArgumentOutOfRangeException>(() => BcryptPbkdf.Derive(new byte[] { 1 }, salt, 0, 48));
            Assert.Throws<ArgumentOutOfRangeException>(() => BcryptPbkdf.Derive(new byte[] { 1 }, salt, 1, 1025));
            Assert.Throws<ArgumentException>(() => BcryptPbkdf.Derive(new byte[] { 1 }, new byte[0], 1, 48));
        }

        /// <summary>Proves the generated pi tables and our Blowfish rounds: same ciphertext as BouncyCastle for the same key.</summary>
        [Theory]
        [InlineData("0000000000000000", "0000000000000000")]
        [InlineData("FEDCBA9876543210", "0123456789ABCDEF")]
        [InlineData("F0E1D2C3B4A5968778695A4B3C2D1E0F0011223344556677", "FEDCBA9876543210")] // 24-byte key
        [InlineData("6E6F7468696E672075702073", "1122334455667788")]
        public void Plain_blowfish_equals_bouncycastle(string keyHex, string blockHex)
        {
            byte[] key = Convert.FromHexString(keyHex), block = Convert.FromHexString(blockHex);
            var bc = new BlowfishEngine();
            bc.Init(true, new KeyParameter(key));
            var expected = new byte[8];
            bc.ProcessBlock(block, 0, expected, 0);

            Assert.Equal(expected, EksBlowfish.WithKey(key).EncryptBlock(block));
        }

        [Fact]
        public void Plain_blowfish_matches_schneier_zero_key_vector()
        {
            // Eric Young's Blowfish test set: key 0, plaintext 0 -> 4EF997456198DD78.
            Assert.Equal("4EF997456198DD78", Convert.ToHexString(EksBlowfish.WithKey(new byte[8]).EncryptBlock(new byte[8])));
        }
    }
}
