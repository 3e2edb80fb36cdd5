using System.Linq;
using System.Security;
using System.Text;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>
    /// The rule every NEW passphrase meets (issue 21): a portable backup's (-Passphrase, or typed at Backup-HsmSshKey's prompt)
    /// and the host's client keys' with protection P (-KeyPassphrase when enroll creates P keys, -NewKeyPassphrase, or typed at
    /// the prompt). At least <see cref="MinimumLength"/> characters, and not one character repeated. A passphrase that only
    /// opens something that exists already (Restore-HsmSshKey -Passphrase, Move-HsmModule -Passphrase, -KeyPassphrase of
    /// existing keys) is never refused: a backup made before the rule must still restore; <see cref="IsWeak"/> lets those
    /// commands suggest a new backup instead.
    /// </summary>
    public static class PassphrasePolicy
    {
        public const int MinimumLength = 12;

        /// <summary>The rule in words, for messages and help.</summary>
        public const string Rule = "at least 12 characters, not all the same character";

        /// <summary>Why <paramref name="passphrase"/> breaks the rule (never its text), or null when it meets it.</summary>
        public static string? Weakness(SecureString passphrase)
        {
            var bytes = PassphraseBytes.FromSecureString(passphrase);
            char[]? chars = null;
            try
            {
                chars = Encoding.UTF8.GetChars(bytes);
                if (chars.Length < MinimumLength) return $"it has {chars.Length} character{(chars.Length == 1 ? "" : "s")}";
                if (chars.All(c => c == chars[0])) return "it is one character repeated";
                return null;
            }
            finally
            {
                PassphraseBytes.Zero(bytes);
                if (chars != null) System.Array.Clear(chars, 0, chars.Length);
            }
        }

        public static bool IsWeak(SecureString passphrase) => Weakness(passphrase) != null;

        /// <summary>
        /// Throws <see cref="HsmErrorIds.PassphraseTooWeak"/> naming the rule when a new passphrase breaks it; <paramref name="what"/>
        /// says which passphrase ("The passphrase given with -Passphrase"), <paramref name="outcome"/> what was not done.
        /// </summary>
        public static void Require(SecureString passphrase, string what, object? target, string outcome = "Nothing was written.")
        {
            var weakness = Weakness(passphrase);
            if (weakness == null) return;
            throw new HsmException(HsmErrorIds.PassphraseTooWeak, HsmErrorKind.InvalidArgument,
                $"{what} is too weak: {weakness}, and a new passphrase needs {Rule}. {outcome}", target)
            {
                RecommendedAction = $"Choose a passphrase of at least {MinimumLength} characters, e.g. a few unrelated words.",
            };
        }
    }
}
