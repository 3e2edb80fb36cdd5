using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    /// <summary>Issue 16 (6): bcrypt rounds are capped (OpenSshPrivateKey.MaxRounds) and the KDF work can be cancelled.</summary>
    public class BcryptRoundsLimitTests
    {
        /// <summary>An encrypted key whose kdfoptions claim `rounds` (the file is otherwise intact: only the uint32 changes).</summary>
        internal static string WithRounds(uint rounds)
        {
            var text = OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.Ed25519), TestKeys.Passphrase, 2);
            var lines = text.Split('\n').Where(l => l.Length > 0).ToList();
            var blob = Convert.FromBase64String(string.Concat(lines.Skip(1).Take(lines.Count - 2)));
            // magic(15) string "aes256-ctr"(4+10) string "bcrypt"(4+6) string kdfoptions(4 + [4+16 salt][4 rounds])
            int roundsAt = 15 + 14 + 10 + 4 + 20;
            Assert.Equal(2u, (uint)(blob[roundsAt] << 24 | blob[roundsAt + 1] << 16 | blob[roundsAt + 2] << 8 | blob[roundsAt + 3]));
            blob[roundsAt] = (byte)(rounds >> 24); blob[roundsAt + 1] = (byte)(rounds >> 16); blob[roundsAt + 2] = (byte)(rounds >> 8); blob[roundsAt + 3] = (byte)rounds;
            var b64 = Convert.ToBase64String(blob);
            var sb = new StringBuilder("-----BEGIN OPENSSH PRIVATE KEY-----\n");
            for (int i = 0; i < b64.Length; i += 70) sb.Append(b64, i, Math.Min(70, b64.Length - i)).Append('\n');
            return sb.Append("-----END OPENSSH PRIVATE KEY-----\n").ToString();
        }

        [Theory]
        [InlineData(100_000u)]
        [InlineData(1025u)]
        [InlineData(uint.MaxValue)]
        public void AKeyAskingForMoreRoundsThanTheCapIsRefusedBeforeAnyKdfWork(uint rounds)
        {
            var text = WithRounds(rounds);
            var ex = Assert.Throws<SshKeyFormatException>(() => OpenSshPrivateKey.Decode(text, TestKeys.Passphrase));
            Assert.Equal(HsmErrorIds.KeyRoundsTooHigh, ex.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidData, ex.Kind);
            Assert.Contains(OpenSshPrivateKey.MaxRounds.ToString(), ex.Message);
            Assert.Equal(HsmErrorIds.KeyRoundsTooHigh, Assert.Throws<SshKeyFormatException>(() => OpenSshPrivateKey.IsEncrypted(text)).ErrorId);
        }

        [Fact]
        public void TheCapIs1024AndEncodeRefusesMore()
        {
            Assert.Equal(1024, OpenSshPrivateKey.MaxRounds);
            Assert.Throws<ArgumentOutOfRangeException>(() => OpenSshPrivateKey.Encode(TestKeys.Get(SshKeyAlgorithm.Ed25519), TestKeys.Passphrase, 1025));
            // The crafted-file helper is sound: with its own count left in place the key opens.
            using var k = OpenSshPrivateKey.Decode(WithRounds(2), TestKeys.Passphrase);
            Assert.True(k.PublicKey.SameKeyAs(TestKeys.Get(SshKeyAlgorithm.Ed25519).PublicKey));
        }

        [Fact]
        public void APortableBackupWith100000RoundsIsRefusedWithTheBackupNamed()
        {
            using var dir = new TempDirectory();
            var path = dir.WritePrivate("crafted.bak", WithRounds(100_000));
            var store = HostStore.Open(dir.File("host"));
            var pass = new System.Security.SecureString();
            foreach (var c in TestKeys.PassphraseText) pass.AppendChar(c);
            var ex = Assert.ThrowsAny<HsmException>(() => KeyBackup.Read(store, path, pass));
            Assert.Equal(HsmErrorIds.KeyRoundsTooHigh, ex.ErrorId);
            Assert.Equal(path, ex.Target);
        }

        [Fact]
        public void KdfWorkStopsWhenCancelled()
        {
            var text = WithRounds(1024); // ~20 s of bcrypt here if it ran to the end
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var clock = Stopwatch.StartNew();
            var ex = Assert.ThrowsAny<HsmException>(() => OpenSshPrivateKey.Decode(text, TestKeys.Passphrase, cts.Token));
            Assert.Equal(HsmErrorIds.Cancelled, ex.ErrorId);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}"); // bound: far below the uncancelled run
            Assert.ThrowsAny<OperationCanceledException>(() =>
                BcryptPbkdf.Derive(TestKeys.Passphrase, new byte[16], 1024, 48, new CancellationToken(true)));
        }

        /// <summary>
        /// S5: a verbatim backup (JSON, key under the host's protection) is opened through ClientKeyProtector.Open; a
        /// crafted one asking for 1024 rounds must stop when the restore is cancelled, not run ~20 s of bcrypt first.
        /// </summary>
        [Fact]
        public void ARestoreOfACraftedVerbatimBackupStopsWhenCancelled()
        {
            using var dir = new TempDirectory();
            var json = System.Text.Json.JsonSerializer.Serialize(new System.Collections.Generic.Dictionary<string, object>
            {
                ["Format"] = KeyBackup.VerbatimFormat,
                ["Service"] = "sshadmin",
                ["Protection"] = "P",
                ["PrivateKey"] = WithRounds(1024),
                ["CreatedAt"] = DateTimeOffset.UtcNow,
            });
            var path = dir.WritePrivate("crafted-verbatim.bak", json);
            var store = HostStore.Open(dir.File("host"));
            var keyPass = new System.Security.SecureString();
            foreach (var c in "not the derived passphrase") keyPass.AppendChar(c);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var clock = Stopwatch.StartNew();
            var ex = Assert.ThrowsAny<HsmException>(() => KeyBackup.Read(store, path, null, keyPass, cts.Token));
            Assert.Equal(HsmErrorIds.Cancelled, ex.ErrorId);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        }
    }
}
