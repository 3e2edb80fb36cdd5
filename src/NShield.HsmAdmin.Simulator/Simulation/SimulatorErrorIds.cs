namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// The simulator's own error ids (docs/errors.md, "Simulator"). They are raised as <see cref="HsmException"/>s like the
    /// product's, but the product never raises them, so they live here and not in <see cref="HsmErrorIds"/>.
    /// </summary>
    public static class SimulatorErrorIds
    {
        /// <summary>-Transport Ssh was asked and no OpenSSH sshd is installed.</summary>
        public const string SshdNotFound = "SshdNotFound";
        /// <summary>A simulator or its sshd could not be started, opened or changed.</summary>
        public const string SimulatorStartFailed = "SimulatorStartFailed";
        /// <summary>No simulator in the given folder, or none started in this session.</summary>
        public const string SimulatorNotFound = "SimulatorNotFound";
        /// <summary>A fault names something that is not a firmware command.</summary>
        public const string UnknownFirmwareCommand = "UnknownFirmwareCommand";
        /// <summary>The simulator will not use a host store that holds real modules or keys it did not make.</summary>
        public const string SimulatorStoreRefused = "SimulatorStoreRefused";
    }
}
