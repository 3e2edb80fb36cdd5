using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    /// <summary>Not in parallel with other classes: the kept-key test fills the process-wide parsed-key memo.</summary>
    [Collection(nameof(ParsedKeyMemo))]
    public class SshPublicKeyAndSigningTests
    {
        private static readonly byte[] Message = Encoding.UTF8.GetBytes("module 5A2B-C3D4-E5F6 certificate body");

        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void Sign_verifies_and_rejects_tampering(SshKeyAlgorithm a)
        {
            var key = TestKeys.Get(a);
            byte[] sig = key.Sign(Message);
            Assert.True(key.PublicKey.Verify(Message, sig));
            Assert.False(key.PublicKey.Verify(Message.Concat(new byte[] { 0 }).ToArray(), sig));
            var bad = (byte[])sig.Clone();
            bad[^1] ^= 1;
            Assert.False(key.PublicKey.Verify(Message, bad));
            Assert.False(key.PublicKey.Verify(Message, new byte[] { 1, 2, 3 }));
            Assert.False(key.PublicKey.Verify(Message, new byte[0]));
            var other = a == SshKeyAlgorithm.Ed25519 ? TestKeys.Get(SshKeyAlgorithm.EcdsaP256) : TestKeys.Get(SshKeyAlgorithm.Ed25519);
            Assert.False(other.PublicKey.Verify(Message, sig));
        }

        [Fact]
        public void A_line_parsed_again_is_the_same_key_and_a_bad_line_fails_every_time()
        {
            var line = TestKeys.Get(SshKeyAlgorithm.Ed25519).PublicKey.WithComment("pin@one").ToAuthorizedKeysLine();
            var first = SshPublicKey.Parse(line);
            Assert.Same(first, SshPublicKey.Parse(line)); // parsed keys are kept by line (issue 20)
            // Another comment is another line: its own key, with its own comment.
            var other = SshPublicKey.Parse(line.Replace("pin@one", "pin@two"));
            Assert.Equal("pin@two", other.Comment);
            Assert.Equal("pin@one", SshPublicKey.Parse(line).Comment);
            Assert.Equal("PIN@ONE", SshPublicKey.Parse(line.Replace("pin@one", "PIN@ONE")).Comment); // ordinal, not case-blind
            Assert.True(other.SameKeyAs(first));
            // The key's sign bit flipped (the negated point: always a valid key, another one): parsed for itself, never
            // answered from the kept key.
            var parts = line.Split(' ');
            var blob = Convert.FromBase64String(parts[1]);
            blob[^1] ^= 0x80;
            var changed = SshPublicKey.Parse($"{parts[0]} {Convert.ToBase64String(blob)} pin@one");
            Assert.False(changed.SameKeyAs(first));
            Assert.NotEqual(first.Fingerprint, changed.Fingerprint);
            var bad = $"{parts[0]} AAAA{parts[1].Substring(4, 8)}";
            Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(bad));
            Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(bad));
        }

        [Fact]
        public void A_private_key_pasted_after_the_line_is_refused_never_kept_as_the_comment()
        {
            var line = TestKeys.Get(SshKeyAlgorithm.Ed25519).PublicKey.WithComment("root").ToAuthorizedKeysLine();
            var pasted = line + "\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
            var e = Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(pasted));
            Assert.Equal(HsmErrorIds.NotAnOpenSshKey, e.ErrorId);
            Assert.DoesNotContain("b3BlbnNzaC1rZXktdjEAAAAA", e.Message);
            Assert.Equal("root", SshPublicKey.Parse(line + "\n").Comment); // a file's final line break is not a second line
        }

        [Fact]
        public void Parsed_keys_kept_are_bounded()
        {
            var line = TestKeys.Get(SshKeyAlgorithm.EcdsaP256).PublicKey.WithComment("bounded").ToAuthorizedKeysLine();
            var first = SshPublicKey.Parse(line);
            for (int i = 0; i < 4096; i++) SshPublicKey.Parse(line + i);
            Assert.NotSame(first, SshPublicKey.Parse(line)); // the 4096 lines after it cleared what was kept
        }

        [Fact]
        public void Ecdsa_signatures_are_deterministic()
        {
            var key = TestKeys.Get(SshKeyAlgorithm.EcdsaP384);
            Assert.Equal(key.Sign(Message), key.Sign(Message));
        }

        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void Authorized_keys_line_round_trips(SshKeyAlgorithm a)
        {
            var pk = TestKeys.Get(a).PublicKey;
            var back = SshPublicKey.Parse(pk.ToAuthorizedKeysLine());
            Assert.Equal(pk.Blob, back.Blob);
            Assert.Equal(pk.Comment, back.Comment);
            Assert.Equal(pk.Fingerprint, back.Fingerprint);
            Assert.Equal(a, back.Algorithm);
            Assert.StartsWith("SHA256:", pk.Fingerprint);
            Assert.DoesNotContain("=", pk.Fingerprint);
            // Options before the key, as authorized_keys allows.
            Assert.Equal(pk.Blob, SshPublicKey.Parse("restrict,command=\"x\" " + pk.ToAuthorizedKeysLine()).Blob);
        }

        [Fact]
        public void Dispose_drops_the_private_key()
        {
            var k = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
            k.Dispose();
            Assert.Throws<ObjectDisposedException>(() => k.Sign(Message));
            Assert.NotNull(k.PublicKey.Fingerprint);
        }

        // --- Signatures checked by OpenSSH itself, through its SSHSIG file format (PROTOCOL.sshsig) ---

        private const string Namespace = "nshield-test";

        private static byte[] SshSigSignedData(string hashAlg, byte[] message)
        {
            byte[] h = hashAlg == "sha512" ? SHA512.HashData(message) : SHA256.HashData(message);
            return new SshWireWriter().Raw(Encoding.ASCII.GetBytes("SSHSIG")).String(Namespace).String("").String(hashAlg).String(h).ToArray();
        }

        [Theory]
        [MemberData(nameof(TestKeys.AllAlgorithms), MemberType = typeof(TestKeys))]
        public void Ssh_keygen_accepts_our_signatures(SshKeyAlgorithm a)
        {
            var key = TestKeys.Get(a);
            byte[] sig = key.Sign(SshSigSignedData("sha512", Message));
            byte[] file = new SshWireWriter().Raw(Encoding.ASCII.GetBytes("SSHSIG")).UInt32(1).String(key.PublicKey.Blob)
                .String(Namespace).String("").String("sha512").String(sig).ToArray();
            string b64 = Convert.ToBase64String(file);
            var armored = "-----BEGIN SSH SIGNATURE-----\n" +
                string.Concat(Enumerable.Range(0, (b64.Length + 69) / 70).Select(i => b64.Substring(i * 70, Math.Min(70, b64.Length - i * 70)) + "\n")) +
                "-----END SSH SIGNATURE-----\n";
            using var dir = new TempDirectory();
            File.WriteAllText(dir.File("msg.sig"), armored);

            var r = ProcessRunner.Run(SshKeygen.Path, new[] { "-Y", "check-novalidate", "-n", Namespace, "-s", dir.File("msg.sig") },
                stdin: Encoding.UTF8.GetString(Message));
            Assert.True(r.ExitCode == 0, r.ToString());
        }

        [Theory]
        [InlineData("-t", "ed25519")]
        [InlineData("-t", "ecdsa", "-b", "256")]
        [InlineData("-t", "ecdsa", "-b", "384")]
        [InlineData("-t", "ecdsa", "-b", "521")]
        [InlineData("-t", "rsa", "-b", "3072")]
        public void We_verify_ssh_keygen_signatures(params string[] typeArgs)
        {
            using var dir = new TempDirectory();
            string priv = SshKeygen.Generate(dir, "k", "", typeArgs);
            File.WriteAllBytes(dir.File("msg"), Message);
            SshKeygen.MustRun("-Y", "sign", "-q", "-f", priv, "-n", Namespace, dir.File("msg"));

            string armored = File.ReadAllText(dir.File("msg.sig"));
            var bin = Convert.FromBase64String(string.Concat(armored.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----"))));
            var rd = new SshWireReader(bin);
            Assert.Equal("SSHSIG", Encoding.ASCII.GetString(rd.ReadBytes(6)));
            Assert.Equal(1u, rd.ReadUInt32());
            var pk = SshPublicKey.FromBlob(rd.ReadString());
            Assert.Equal(Namespace, rd.ReadUtf8());
            rd.ReadString();
            string hashAlg = rd.ReadUtf8();
            byte[] sig = rd.ReadString();

            Assert.Equal(SshPublicKey.Parse(File.ReadAllText(priv + ".pub")).Blob, pk.Blob);
            Assert.True(pk.Verify(SshSigSignedData(hashAlg, Message), sig));
            Assert.False(pk.Verify(SshSigSignedData(hashAlg, Encoding.UTF8.GetBytes("other")), sig));
        }
    }

    [CollectionDefinition(nameof(ParsedKeyMemo), DisableParallelization = true)]
    public class ParsedKeyMemo { }
}
