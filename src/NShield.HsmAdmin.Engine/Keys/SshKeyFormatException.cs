using System;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// A key file or public key line could not be read. ErrorId is one of HsmErrorIds.KeyFileTruncated,
    /// KeyFileCorrupt, KeyWrongPassphrase, KeyPassphraseRequired, KeyTypeUnsupported, NotAnOpenSshKey.
    /// Kind: AuthenticationError for the two passphrase errors (the data is fine, the credential is not),
    /// InvalidData for everything else. Messages never contain key material or passphrases.
    /// </summary>
    public sealed class SshKeyFormatException : HsmException
    {
        public SshKeyFormatException(string errorId, string message, object? target = null, Exception? inner = null)
            : base(errorId, KindFor(errorId), message, target, inner)
        {
        }

        private static HsmErrorKind KindFor(string errorId) =>
            errorId == HsmErrorIds.KeyWrongPassphrase || errorId == HsmErrorIds.KeyPassphraseRequired
                ? HsmErrorKind.AuthenticationError
                : HsmErrorKind.InvalidData;

        internal static SshKeyFormatException Corrupt(string what) =>
            new SshKeyFormatException(HsmErrorIds.KeyFileCorrupt,
                $"The key is corrupt: {what}. Restore the file from a backup or generate a new key.");

        internal static SshKeyFormatException Unsupported(string what) =>
            new SshKeyFormatException(HsmErrorIds.KeyTypeUnsupported,
                $"{what} is not supported. Supported key types: {string.Join(", ", SshAlgorithmNames.KeyTypes)}.");
    }
}
