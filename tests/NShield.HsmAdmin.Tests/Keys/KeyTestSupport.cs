using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    /// <summary>Keys generated once per test run: RSA-4096 generation is slow, so tests share them (never dispose these).</summary>
    internal static class TestKeys
    {
        private static readonly ConcurrentDictionary<SshKeyAlgorithm, Lazy<SshKeyPair>> Cache = new();

        public static SshKeyPair Get(SshKeyAlgorithm a) =>
            Cache.GetOrAdd(a, x => new Lazy<SshKeyPair>(() => SshKeyPair.Generate(x, $"test-{x}@nshield"))).Value;

        public static IEnumerable<object[]> AllAlgorithms =>
            Enum.GetValues<SshKeyAlgorithm>().Select(a => new object[] { a });

        public static readonly byte[] Passphrase = Encoding.UTF8.GetBytes("correct horse battery staple");
        public const string PassphraseText = "correct horse battery staple";
    }

    /// <summary>The real /usr/bin/ssh-keygen, the reference every key we write must satisfy.</summary>
    internal static class SshKeygen
    {
        public const string Path = "/usr/bin/ssh-keygen";

        public static string[] TypeArgs(SshKeyAlgorithm a) => a switch
        {
            SshKeyAlgorithm.Ed25519 => new[] { "-t", "ed25519" },
            SshKeyAlgorithm.EcdsaP256 => new[] { "-t", "ecdsa", "-b", "256" },
            SshKeyAlgorithm.EcdsaP384 => new[] { "-t", "ecdsa", "-b", "384" },
            SshKeyAlgorithm.EcdsaP521 => new[] { "-t", "ecdsa", "-b", "521" },
            SshKeyAlgorithm.Rsa3072 => new[] { "-t", "rsa", "-b", "3072" },
            _ => new[] { "-t", "rsa", "-b", "4096" },
        };

        public static ProcessResult Run(params string[] args) => ProcessRunner.Run(Path, args);

        public static ProcessResult MustRun(params string[] args)
        {
            var r = Run(args);
            Assert.True(r.ExitCode == 0, $"ssh-keygen {string.Join(" ", args)} failed: {r}");
            return r;
        }

        /// <summary>Generates a key with ssh-keygen; returns the private key path (the .pub sits next to it).</summary>
        public static string Generate(TempDirectory dir, string name, string passphrase, params string[] typeArgs)
        {
            string path = dir.File(name);
            MustRun(typeArgs.Concat(new[] { "-q", "-N", passphrase, "-C", "made-by-ssh-keygen", "-f", path }).ToArray());
            return path;
        }

        /// <summary>"type base64" of a public key line, without the comment.</summary>
        public static string TypeAndData(string line) => string.Join(" ", line.Trim().Split(' ').Take(2));
    }

    internal static class KeyAssert
    {
        public static SshKeyFormatException Throws(string errorId, Action action)
        {
            var ex = Assert.Throws<SshKeyFormatException>(action);
            Assert.Equal(errorId, ex.ErrorId);
            return ex;
        }
    }
}
