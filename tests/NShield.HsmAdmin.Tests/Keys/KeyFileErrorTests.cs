using System;
using System.IO;
using System.Linq;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    /// <summary>Every kind of bad input gets its own error id, and no error message leaks a secret.</summary>
    public class KeyFileErrorTests
    {
        private static readonly byte[] Wrong = Encoding.UTF8.GetBytes("not the passphrase");

        private static byte[] Unarmor(string text) =>
            Convert.FromBase64String(string.Concat(text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----"))));

        private static string Armor(byte[] bin)
        {
            string b64 = Convert.ToBase64String(bin);
            var sb = new StringBuilder("-----BEGIN OPENSSH PRIVATE KEY-----\n");
            for (int i = 0; i < b64.Length; i += 70) sb.Append(b64, i, Math.Min(70, b64.Length - i)).Append('\n');
            return sb.Append("-----END OPENSSH PRIVATE KEY-----\n").ToString();
        }

        /// <summary>Offset of the private section's bytes inside the unarmored file.</summary>
        private static int SectionOffset(byte[] bin)
        {
            var r = new SshWireReader(bin.Skip(15).ToArray());
            r.ReadString(); r.ReadString(); r.ReadString(); r.ReadUInt32(); r.ReadString(); r.ReadUInt32();
            return bin.Length - r.Remaining;
        }

        private static void AssertNoSecrets(SshKeyFormatException ex, SshKeyPair key)
        {
            Assert.DoesNotContain(TestKeys.PassphraseText, ex.Message);
            Assert.DoesNotContain(Convert.ToBase64String(key.PublicKey.Blob).Substring(0, 40), ex.Message);
            Assert.DoesNotContain("AAAA", ex.Message); // no base64 key data at all
        }

        [Fact]
        public void Wrong_passphrase_and_missing_passphrase_are_distinct_authentication_errors()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.EcdsaP256);
            string text = OpenSshPrivateKey.Encode(key, TestKeys.Passphrase);
            var wrong = KeyAssert.Throws(HsmErrorIds.KeyWrongPassphrase, () => OpenSshPrivateKey.Decode(text, Wrong));
            Assert.Equal(HsmErrorKind.AuthenticationError, wrong.Kind);
            AssertNoSecrets(wrong, key);
            var missing = KeyAssert.Throws(HsmErrorIds.KeyPassphraseRequired, () => OpenSshPrivateKey.Decode(text, null));
            Assert.Equal(HsmErrorKind.AuthenticationError, missing.Kind);
            KeyAssert.Throws(HsmErrorIds.KeyPassphraseRequired, () => OpenSshPrivateKey.Decode(text, new byte[0]));
        }

        [Fact]
        public void A_passphrase_given_for_an_unencrypted_key_is_ignored_like_ssh_keygen_does()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.Ed25519);
            using var k = OpenSshPrivateKey.Decode(OpenSshPrivateKey.Encode(key, null), TestKeys.Passphrase);
            Assert.Equal(key.PublicKey.Blob, k.PublicKey.Blob);
        }

        [Theory]
        [InlineData(0.5)]
        [InlineData(0.9)]
        [InlineData(0.05)]
        public void Truncated_files_are_reported_as_truncated(double keep)
        {
            foreach (var pass in new[] { null, TestKeys.Passphrase })
            {
                string text = OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.Ed25519), pass);
                var ex = KeyAssert.Throws(HsmErrorIds.KeyFileTruncated,
                    () => OpenSshPrivateKey.Decode(text.Substring(0, (int)(text.Length * keep)), pass));
                Assert.Equal(HsmErrorKind.InvalidData, ex.Kind);
            }
        }

        [Fact]
        public void Truncated_ssh_keygen_file_is_reported_as_truncated()
        {
            using var dir = new TempDirectory();
            string text = File.ReadAllText(SshKeygen.Generate(dir, "k", "", "-t", "ed25519"));
            KeyAssert.Throws(HsmErrorIds.KeyFileTruncated, () => OpenSshPrivateKey.Decode(text.Substring(0, text.Length - 20), null));
            KeyAssert.Throws(HsmErrorIds.KeyFileTruncated, () => OpenSshPrivateKey.IsEncrypted(text.Substring(0, 100)));
        }

        /// <summary>
        /// Flips bits all over an unencrypted file. Each flip must give KeyFileCorrupt (or KeyTypeUnsupported when it
        /// lands in a type name), never a foreign exception. Only the comment can absorb a flip: its bytes, or its
        /// length growing into the padding (the format has no MAC, ssh-keygen cannot tell either).
        /// </summary>
        [Theory]
        [InlineData(SshKeyAlgorithm.Ed25519, 1)]
        [InlineData(SshKeyAlgorithm.EcdsaP256, 1)]
        [InlineData(SshKeyAlgorithm.EcdsaP521, 3)]
        [InlineData(SshKeyAlgorithm.Rsa3072, 8)]
        public void Every_bit_flip_in_an_unencrypted_file_is_detected_or_harmless(SshKeyAlgorithm a, int bitStride)
        {
            var key = TestKeys.Get(a);
            byte[] bin = Unarmor(OpenSshPrivateKey.Encode(key, null));
            int undetected = 0, checkedFlips = 0;
            for (int bit = 0; bit < bin.Length * 8; bit += bitStride)
            {
                var damaged = (byte[])bin.Clone();
                damaged[bit / 8] ^= (byte)(1 << (bit % 8));
                checkedFlips++;
                try
                {
                    using var k = OpenSshPrivateKey.Decode(Armor(damaged), null);
                    Assert.Equal(key.PublicKey.Blob, k.PublicKey.Blob);
                    Assert.NotEqual(key.PublicKey.Comment, k.PublicKey.Comment); // only the comment can absorb a flip
                    undetected++;
                }
                catch (SshKeyFormatException ex)
                {
                    Assert.True(ex.ErrorId == HsmErrorIds.KeyFileCorrupt || ex.ErrorId == HsmErrorIds.KeyTypeUnsupported,
                        $"bit {bit}: {ex.ErrorId}: {ex.Message}");
                    AssertNoSecrets(ex, key);
                }
            }
            Assert.True(undetected <= (Encoding.UTF8.GetByteCount(key.PublicKey.Comment) + 1) * 8, $"{undetected} of {checkedFlips} flips undetected");
        }

        [Fact]
        public void Flips_in_an_encrypted_file_give_wrong_passphrase_in_the_check_ints_and_corrupt_elsewhere()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.Ed25519);
            byte[] bin = Unarmor(OpenSshPrivateKey.Encode(key, TestKeys.Passphrase));
            int section = SectionOffset(bin);

            byte[] inCheckInt = (byte[])bin.Clone();
            inCheckInt[section + 1] ^= 0x10;          // CTR: flips the same plaintext bit of check-int 1
            KeyAssert.Throws(HsmErrorIds.KeyWrongPassphrase, () => OpenSshPrivateKey.Decode(Armor(inCheckInt), TestKeys.Passphrase));

            byte[] inKey = (byte[])bin.Clone();
            inKey[section + 30] ^= 0x01;              // inside the first copy of the public key
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => OpenSshPrivateKey.Decode(Armor(inKey), TestKeys.Passphrase));

            byte[] inPublic = (byte[])bin.Clone();
            inPublic[section - 40] ^= 0x01;           // inside the clear public key blob, before the section length
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => OpenSshPrivateKey.Decode(Armor(inPublic), TestKeys.Passphrase));

            byte[] magic = (byte[])bin.Clone();
            magic[3] ^= 0x01;
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => OpenSshPrivateKey.Decode(Armor(magic), TestKeys.Passphrase));
        }

        [Fact]
        public void Non_base64_text_inside_the_armor_is_corrupt()
        {
            string text = OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.Ed25519), null);
            int i = text.IndexOf('\n') + 10;
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => OpenSshPrivateKey.Decode(text.Substring(0, i) + "*" + text.Substring(i + 1), null));
        }

        [Fact]
        public void Dsa_keys_from_ssh_keygen_are_unsupported_even_when_encrypted()
        {
            using var dir = new TempDirectory();
            var probe = SshKeygen.Run("-t", "dsa", "-q", "-N", "", "-f", dir.File("probe"));
            if (probe.ExitCode != 0)
            {
                // This ssh-keygen no longer makes DSA keys: craft the public blob instead.
                var blob = new SshWireWriter().String("ssh-dss").Mpint(Org.BouncyCastle.Math.BigInteger.ValueOf(23)).ToArray();
                KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => SshPublicKey.FromBlob(blob));
                return;
            }
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => OpenSshPrivateKey.Decode(File.ReadAllText(dir.File("probe")), null));
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => SshPublicKey.Parse(File.ReadAllText(dir.File("probe.pub"))));
            string enc = SshKeygen.Generate(dir, "enc", TestKeys.PassphraseText, "-t", "dsa");
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => OpenSshPrivateKey.Decode(File.ReadAllText(enc), null));
        }

        [Fact]
        public void Security_key_and_small_rsa_types_are_unsupported()
        {
            var sk = new SshWireWriter().String("sk-ssh-ed25519@openssh.com").String(new byte[32]).String("ssh:").ToArray();
            var ex = KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => SshPublicKey.FromBlob(sk));
            Assert.Equal(HsmErrorKind.InvalidData, ex.Kind);
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported,
                () => SshPublicKey.Parse("sk-ssh-ed25519@openssh.com " + Convert.ToBase64String(sk) + " yubi"));

            using var dir = new TempDirectory();
            string rsa2048 = SshKeygen.Generate(dir, "rsa2048", "", "-t", "rsa", "-b", "2048");
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => OpenSshPrivateKey.Decode(File.ReadAllText(rsa2048), null));
        }

        [Fact]
        public void Other_key_encryption_ciphers_are_unsupported_not_corrupt()
        {
            using var dir = new TempDirectory();
            string path = dir.WritePrivate("k", OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.Ed25519), null));
            var r = SshKeygen.Run("-p", "-q", "-P", "", "-N", TestKeys.PassphraseText, "-Z", "chacha20-poly1305@openssh.com", "-f", path);
            Assert.True(r.ExitCode == 0, r.ToString());
            KeyAssert.Throws(HsmErrorIds.KeyTypeUnsupported, () => OpenSshPrivateKey.Decode(File.ReadAllText(path), TestKeys.Passphrase));
        }

        [Fact]
        public void Things_that_are_not_openssh_private_keys_say_so()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.Ed25519);
            using var dir = new TempDirectory();
            string pem = SshKeygen.Generate(dir, "pem", "", "-t", "ecdsa", "-m", "PEM");
            foreach (var text in new[] { key.PublicKey.ToAuthorizedKeysLine(), File.ReadAllText(pem), "", "hello world\n",
                         "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n" })
            {
                var ex = KeyAssert.Throws(HsmErrorIds.NotAnOpenSshKey, () => OpenSshPrivateKey.Decode(text, null));
                Assert.Equal(HsmErrorKind.InvalidData, ex.Kind);
                KeyAssert.Throws(HsmErrorIds.NotAnOpenSshKey, () => OpenSshPrivateKey.IsEncrypted(text));
            }
            KeyAssert.Throws(HsmErrorIds.NotAnOpenSshKey, () => SshPublicKey.Parse(OpenSshPrivateKey.Encode(key, null)));
            KeyAssert.Throws(HsmErrorIds.NotAnOpenSshKey, () => SshPublicKey.Parse("hello world"));
            KeyAssert.Throws(HsmErrorIds.NotAnOpenSshKey, () => SshPublicKey.Parse(""));
        }

        [Fact]
        public void Public_key_lines_with_bad_data_are_corrupt()
        {
            string line = TestKeys.Get(SshKeyAlgorithm.EcdsaP256).PublicKey.ToAuthorizedKeysLine();
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => SshPublicKey.Parse(line.Replace("AAAA", "A*AA")));
            // Type on the line disagrees with the blob.
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => SshPublicKey.Parse("ssh-ed25519" + line.Substring(line.IndexOf(' '))));
            // Point not on the curve.
            var parts = line.Split(' ');
            var blob = Convert.FromBase64String(parts[1]);
            blob[^1] ^= 1;
            KeyAssert.Throws(HsmErrorIds.KeyFileCorrupt, () => SshPublicKey.FromBlob(blob));
        }
    }
}
