using System;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Trust;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Checks signed log entries (issue 22 item 4): the module's log key must chain to a trusted vendor root (root → warrant →
    /// the log key's certificate by the identity key, the same chain enrollment checks for server keys), and each entry's
    /// signature must cover it. An entry that fails is shown with its status, never dropped.
    /// </summary>
    public sealed class ModuleLogVerification
    {
        public const string Verified = "Verified", Tampered = "Tampered", Unsigned = "Unsigned", KeyNotTrusted = "KeyNotTrusted";

        private readonly SshPublicKey? _logKey;
        /// <summary>Why the log key is not trusted (null: it is).</summary>
        public string? KeyProblem { get; }

        private ModuleLogVerification(SshPublicKey? logKey, string? keyProblem) { _logKey = logKey; KeyProblem = keyProblem; }

        public static ModuleLogVerification Untrusted(string why) => new ModuleLogVerification(null, why);

        /// <summary>The verifier for one module's log, from the signer it reported with the entries.</summary>
        public static ModuleLogVerification For(HostStore store, string esn, ModuleLogSigner identity)
        {
            if (identity.LogKey == null) return Untrusted("the module reports no log key");
            if (identity.IdentityKey == null) return Untrusted("the module reports no identity key");
            var roots = store.GetTrustedRoots();
            if (roots.Count == 0) return Untrusted("no trusted vendor root is configured");
            foreach (var root in roots)
            {
                TrustChainResult result;
                try
                {
                    result = TrustChain.Verify(root.PublicKey.ToAuthorizedKeysLine(), esn, identity.IdentityKey.ToAuthorizedKeysLine(),
                        identity.Warrant,
                        ModuleLogSigning.CertificateService, identity.LogKey.Blob, identity.LogKeyCertificate);
                }
                catch (Exception ex) when (!(ex is OperationCanceledException)) { continue; }
                if (result.Ok) return new ModuleLogVerification(identity.LogKey, null);
            }
            return Untrusted("the log key does not chain to a trusted vendor root");
        }

        /// <summary>The entry's status: Verified, Tampered, Unsigned or KeyNotTrusted.</summary>
        public string Check(string esn, ModuleLogRecord e)
        {
            if (e.Signature == null || e.Sequence == null) return Unsigned;
            if (_logKey == null) return KeyNotTrusted;
            var signed = ModuleLogSigning.ToBeSigned(esn, e.Sequence.Value, e.Time, e.Service, e.Command, e.KeyFingerprint, e.Outcome);
            return _logKey.Verify(signed, e.Signature) ? Verified : Tampered;
        }
    }
}
