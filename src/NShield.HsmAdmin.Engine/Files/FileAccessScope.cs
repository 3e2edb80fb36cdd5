namespace NShield.HsmAdmin.Files
{
    /// <summary>Who may read a file the product writes.</summary>
    public enum FileAccessScope
    {
        /// <summary>Public data (pins, public keys, module list): 0644, inherited ACL.</summary>
        Public,
        /// <summary>Secrets of the writing account (private keys): 0600, owner-only ACL.</summary>
        OwnerOnly,
        /// <summary>Machine secrets (global nonce): 0600 root; Administrators + SYSTEM only on Windows.</summary>
        Administrators,
    }
}
