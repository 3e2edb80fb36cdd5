namespace NShield.HsmAdmin.Keys
{
    /// <summary>Client/server key algorithms the product generates and reads.</summary>
    public enum SshKeyAlgorithm
    {
        Ed25519,
        EcdsaP256,
        EcdsaP384,
        EcdsaP521,
        Rsa3072,
        Rsa4096,
    }
}
