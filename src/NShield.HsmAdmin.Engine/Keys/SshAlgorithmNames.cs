using System;
using System.Collections.Generic;
using System.Linq;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>Maps between SshKeyAlgorithm, OpenSSH key type names and what users type for -Algorithm.</summary>
    public static class SshAlgorithmNames
    {
        private static readonly (SshKeyAlgorithm Alg, string Display, string KeyType)[] Table =
        {
            (SshKeyAlgorithm.Ed25519, "Ed25519", "ssh-ed25519"),
            (SshKeyAlgorithm.EcdsaP256, "ECDSA-P256", "ecdsa-sha2-nistp256"),
            (SshKeyAlgorithm.EcdsaP384, "ECDSA-P384", "ecdsa-sha2-nistp384"),
            (SshKeyAlgorithm.EcdsaP521, "ECDSA-P521", "ecdsa-sha2-nistp521"),
            (SshKeyAlgorithm.Rsa3072, "RSA-3072", "ssh-rsa"),
            (SshKeyAlgorithm.Rsa4096, "RSA-4096", "ssh-rsa"),
        };

        /// <summary>Display names accepted by Parse, in the order help text should list them.</summary>
        public static IReadOnlyList<string> ValidNames { get; } = Table.Select(t => t.Display).ToArray();

        /// <summary>The distinct OpenSSH key types the engine reads and writes.</summary>
        public static IReadOnlyList<string> KeyTypes { get; } = Table.Select(t => t.KeyType).Distinct().ToArray();

        public static string ToKeyType(SshKeyAlgorithm algorithm) => Row(algorithm).KeyType;

        public static string ToDisplayName(SshKeyAlgorithm algorithm) => Row(algorithm).Display;

        /// <summary>
        /// Case-insensitive; ignores '-', '_' and spaces, so "ECDSA-P256", "EcdsaP256", "ecdsa-sha2-nistp256",
        /// "rsa_4096" all work. "ssh-rsa" alone is refused: it does not say which size.
        /// </summary>
        public static SshKeyAlgorithm Parse(string userInput)
        {
            string n = new string((userInput ?? "").Where(c => c != '-' && c != '_' && c != ' ').ToArray()).ToLowerInvariant();
            switch (n)
            {
                case "ed25519": case "sshed25519": return SshKeyAlgorithm.Ed25519;
                case "ecdsap256": case "ecdsasha2nistp256": case "p256": case "nistp256": return SshKeyAlgorithm.EcdsaP256;
                case "ecdsap384": case "ecdsasha2nistp384": case "p384": case "nistp384": return SshKeyAlgorithm.EcdsaP384;
                case "ecdsap521": case "ecdsasha2nistp521": case "p521": case "nistp521": return SshKeyAlgorithm.EcdsaP521;
                case "rsa3072": case "sshrsa3072": return SshKeyAlgorithm.Rsa3072;
                case "rsa4096": case "sshrsa4096": return SshKeyAlgorithm.Rsa4096;
            }
            throw new HsmException(HsmErrorIds.InvalidAlgorithm, HsmErrorKind.InvalidArgument,
                $"'{userInput}' is not a supported key algorithm. Valid algorithms: {string.Join(", ", ValidNames)}.",
                userInput);
        }

        private static (SshKeyAlgorithm Alg, string Display, string KeyType) Row(SshKeyAlgorithm a)
        {
            foreach (var t in Table) if (t.Alg == a) return t;
            throw new ArgumentOutOfRangeException(nameof(a), a, "Unknown SshKeyAlgorithm.");
        }
    }
}
