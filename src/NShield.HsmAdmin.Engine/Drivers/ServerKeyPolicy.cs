using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// How a channel treats the server key the module presents. Decided before authentication:
    /// a key that does not satisfy the policy ends the connection before any credential is offered.
    /// </summary>
    public sealed class ServerKeyPolicy
    {
        private ServerKeyPolicy(SshPublicKey? expected, string? pinLocation)
        {
            Expected = expected; PinLocation = pinLocation;
        }

        /// <summary>The pinned (or certified) key; null means "first contact": accept and report what was presented.</summary>
        public SshPublicKey? Expected { get; }
        /// <summary>Where the pin is kept, so a refusal can tell the admin what to inspect.</summary>
        public string? PinLocation { get; }

        public static ServerKeyPolicy Pinned(SshPublicKey expected, string pinLocation) => new ServerKeyPolicy(expected, pinLocation);

        /// <summary>
        /// First contact with a factory-state module, used only with the well-known default credential
        /// (nothing secret is sent): the presented key is checked against the module's certificate chain
        /// before any of our keys are installed.
        /// </summary>
        public static ServerKeyPolicy FirstContact() => new ServerKeyPolicy(null, null);
    }
}
