using System.IO;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    /// <summary>Both directions against the real ssh-keygen, for every algorithm the product offers.</summary>
    public class SshKeygenInteropTests
    {
        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void SshKeygen_reads_our_unencrypted_key_and_agrees_on_public_key_and_fingerprint(SshKeyAlgorithm a)
        {
            var key = TestKeys.Get(a);
            using var dir = new TempDirectory();
            string priv = dir.WritePrivate("id", OpenSshPrivateKey.Encode(key, null));
            File.WriteAllText(priv + ".pub", key.PublicKey.ToAuthorizedKeysLine() + "\n");

            var y = SshKeygen.MustRun("-y", "-f", priv);
            Assert.Equal(SshKeygen.TypeAndData(key.PublicKey.ToAuthorizedKeysLine()), SshKeygen.TypeAndData(y.StdOut));

            // ssh-keygen -l prints "<bits> SHA256:<b64> <comment> (<TYPE>)".
            var l = SshKeygen.MustRun("-l", "-f", priv + ".pub");
            Assert.Equal(key.PublicKey.Fingerprint, l.StdOut.Split(' ')[1]);
            Assert.Contains(key.PublicKey.Comment, l.StdOut);
        }

        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void SshKeygen_decrypts_our_encrypted_key(SshKeyAlgorithm a)
        {
            var key = TestKeys.Get(a);
            using var dir = new TempDirectory();
            string text = OpenSshPrivateKey.Encode(key, TestKeys.Passphrase);
            Assert.True(OpenSshPrivateKey.IsEncrypted(text));
            string priv = dir.WritePrivate("id", text);

            var y = SshKeygen.MustRun("-y", "-P", TestKeys.PassphraseText, "-f", priv);
            Assert.Equal(SshKeygen.TypeAndData(key.PublicKey.ToAuthorizedKeysLine()), SshKeygen.TypeAndData(y.StdOut));

            var wrong = SshKeygen.Run("-y", "-P", "not the passphrase", "-f", priv);
            Assert.NotEqual(0, wrong.ExitCode);
        }

        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void We_read_ssh_keygen_keys_plain_and_encrypted(SshKeyAlgorithm a)
        {
            using var dir = new TempDirectory();
            string plain = SshKeygen.Generate(dir, "plain", "", SshKeygen.TypeArgs(a));
            var expected = SshPublicKey.Parse(File.ReadAllText(plain + ".pub"));
            Assert.Equal(a, expected.Algorithm);
            Assert.Equal("made-by-ssh-keygen", expected.Comment);

            using (var k = OpenSshPrivateKey.Decode(File.ReadAllText(plain), null))
            {
                Assert.Equal(a, k.Algorithm);
                Assert.Equal(expected.Blob, k.PublicKey.Blob);
                Assert.Equal("made-by-ssh-keygen", k.PublicKey.Comment);
                Assert.False(OpenSshPrivateKey.IsEncrypted(File.ReadAllText(plain)));
                // The loaded private key really is that key: it signs, the file's public key verifies.
                var data = Encoding.UTF8.GetBytes("interop");
                Assert.True(expected.Verify(data, k.Sign(data)));
            }

            // Re-encrypt the same key with ssh-keygen instead of generating another (RSA-4096 is slow).
            string enc = dir.WritePrivate("enc", File.ReadAllText(plain));
            SshKeygen.MustRun("-p", "-q", "-P", "", "-N", TestKeys.PassphraseText, "-f", enc);
            string encText = File.ReadAllText(enc);
            Assert.True(OpenSshPrivateKey.IsEncrypted(encText));
            using (var k = OpenSshPrivateKey.Decode(encText, TestKeys.Passphrase))
                Assert.Equal(expected.Blob, k.PublicKey.Blob);

            KeyAssert.Throws(HsmErrorIds.KeyWrongPassphrase, () => OpenSshPrivateKey.Decode(encText, Encoding.UTF8.GetBytes("wrong")));
            KeyAssert.Throws(HsmErrorIds.KeyPassphraseRequired, () => OpenSshPrivateKey.Decode(encText, null));
        }

        [SkippableTheory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void Our_fingerprint_matches_ssh_keygen_for_its_own_keys(SshKeyAlgorithm a)
        {
            // RSA-4096 fingerprints are compared with ssh-keygen -l by SshKeygen_reads_our_unencrypted_key_and_agrees_on_public_key_and_fingerprint.
            Skip.If(a == SshKeyAlgorithm.Rsa4096, "RSA-4096 fingerprints are checked by SshKeygen_reads_our_unencrypted_key_and_agrees_on_public_key_and_fingerprint; spares a slow key generation");
            using var dir = new TempDirectory();
            string priv = SshKeygen.Generate(dir, "k", "", SshKeygen.TypeArgs(a));
            var l = SshKeygen.MustRun("-l", "-E", "sha256", "-f", priv + ".pub");
            Assert.Equal(l.StdOut.Split(' ')[1], SshPublicKey.Parse(File.ReadAllText(priv + ".pub")).Fingerprint);
        }

        [Fact]
        public void Encrypted_with_custom_rounds_is_read_by_ssh_keygen()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.Ed25519);
            using var dir = new TempDirectory();
            string priv = dir.WritePrivate("id", OpenSshPrivateKey.Encode(key, TestKeys.Passphrase, rounds: 3));
            var y = SshKeygen.MustRun("-y", "-P", TestKeys.PassphraseText, "-f", priv);
            Assert.Equal(SshKeygen.TypeAndData(key.PublicKey.ToAuthorizedKeysLine()), SshKeygen.TypeAndData(y.StdOut));
        }

        [Fact]
        public void Written_file_has_openssh_armor_and_70_column_lines()
        {
            string text = OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.EcdsaP384), null);
            var lines = text.TrimEnd('\n').Split('\n');
            Assert.Equal("-----BEGIN OPENSSH PRIVATE KEY-----", lines[0]);
            Assert.Equal("-----END OPENSSH PRIVATE KEY-----", lines[^1]);
            for (int i = 1; i < lines.Length - 2; i++) Assert.Equal(70, lines[i].Length);
            Assert.InRange(lines[^2].Length, 1, 70);
        }
    }
}
