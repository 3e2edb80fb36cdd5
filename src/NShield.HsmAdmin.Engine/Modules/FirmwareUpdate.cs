namespace NShield.HsmAdmin.Modules
{
    /// <summary>What a module says after it accepted a firmware package (<see cref="IModuleSession.UpdateFirmwareAsync"/>).</summary>
    public sealed class FirmwareInstallOutcome
    {
        /// <summary>The image the package replaced: "primary" or "recovery".</summary>
        public string Image { get; set; } = "";
        public string PreviousVersion { get; set; } = "";
        public string Version { get; set; } = "";
        public int Vsn { get; set; }
        /// <summary>The module restarts to run the new image; in Recovery mode it restarts by itself into normal mode.</summary>
        public bool Rebooting { get; set; }
        /// <summary>The mode the module boots into.</summary>
        public ModuleMode ModeAfter { get; set; }
    }
}
