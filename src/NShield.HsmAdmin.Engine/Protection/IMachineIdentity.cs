namespace NShield.HsmAdmin.Protection
{
    /// <summary>
    /// The machine-bound protection inputs (S, B, G). Injectable so tests (and a second simulated host) can be a
    /// different machine. Every member throws <see cref="ProtectionInputUnavailableException"/> rather than
    /// inventing a value.
    /// </summary>
    public interface IMachineIdentity
    {
        /// <summary>Where the identity comes from, for messages (e.g. "this machine (/etc/opt/nfast/hsmadmin)").</summary>
        string Description { get; }

        /// <summary>S: the SMBIOS system UUID as bytes.</summary>
        byte[] GetSystemUuid();

        /// <summary>B: the baseboard serial as bytes.</summary>
        byte[] GetBaseboardId();

        /// <summary>G: the machine-wide nonce; created (once, race-free) when <paramref name="createIfMissing"/>.
        /// Opening a key must pass false: a missing nonce means the key came from another install.</summary>
        byte[] GetGlobalNonce(bool createIfMissing);
    }

    /// <summary>Why an input is unavailable: it does not exist here, or this account may not read it.</summary>
    public enum UnavailableReason
    {
        Absent,
        AccessDenied,
    }

    public sealed class ProtectionInputUnavailableException : HsmException
    {
        public ProtectionInput Input { get; }
        public UnavailableReason Reason { get; }

        public ProtectionInputUnavailableException(ProtectionInput input, UnavailableReason reason, string message, object? target = null,
            System.Exception? inner = null)
            : base(HsmErrorIds.ProtectionInputUnavailable,
                   reason == UnavailableReason.AccessDenied ? HsmErrorKind.PermissionDenied : HsmErrorKind.ResourceUnavailable,
                   message, target, inner)
        {
            Input = input;
            Reason = reason;
        }
    }
}
