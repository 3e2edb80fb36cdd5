using System;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The well-known default sshadmin credential a factory-state module accepts for enrollment only
    /// [doc: factory state "resets the sshadmin SSH credential to the default"]. It is public by design.
    /// </summary>
    public static class FactoryCredential
    {
        private static readonly Lazy<SshKeyPair> Key = new Lazy<SshKeyPair>(() => OpenSshPrivateKey.Decode(DefaultCredential.PrivateKeyOpenSsh, null));

        public static SshKeyPair KeyPair => Key.Value;
    }
}
