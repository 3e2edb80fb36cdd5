namespace NShield.HsmAdmin.Modules
{
    /// <summary>
    /// The typed refusals of issue 22 (firmware, minimum VSN, the ncoreapi interlock, a full log), raised the same way by
    /// every adapter so the user sees one message, with the way out, whatever the module protocol.
    /// </summary>
    public static class ModuleRefusals
    {
        /// <summary>How the hardserver is stopped, so ncoreapi is no longer operational (the documented way).</summary>
        public const string StopHardserverAdvice =
            "Stop the hardserver first (Linux: /opt/nfast/sbin/init.d-ncipher stop; Windows: Stop-Service 'nFast Server'), " +
            "run the command again, then start the hardserver (Restart-HsmHardserver)";

        public static HsmException NCoreApiOperational(string esn, string what, string detail) =>
            new HsmException(HsmErrorIds.NCoreApiOperational, HsmErrorKind.InvalidOperation,
                $"Module {esn} refused {what} because ncoreapi is operational (the hardserver holds a session with it): changes such " +
                $"as firmware updates, the minimum VSN and log clearing are only made while ncoreapi is idle. Nothing was changed. " +
                $"{StopHardserverAdvice}. ({detail})", esn);

        public static HsmException LogFull(string esn, string what, string detail) =>
            new HsmException(HsmErrorIds.ModuleLogFull, HsmErrorKind.InvalidOperation,
                $"Module {esn} refused {what} because its log is past its safe working capacity (firmware 13.5+ refuses key changes " +
                "and firmware updates then). Nothing was changed. Retrieve and clear the log, then run the command again: " +
                $"Get-HsmLog -Esn {esn} -Path <new file> -Clear. ({detail})", esn);

        public static HsmException PackageInvalid(string esn, string detail) =>
            new HsmException(HsmErrorIds.FirmwarePackageInvalid, HsmErrorKind.InvalidData,
                $"Module {esn} refused the firmware package: it is not a whole package ({detail}). Nothing was installed; get the package " +
                "again from the vendor.", esn);

        public static HsmException SignatureInvalid(string esn, string detail) =>
            new HsmException(HsmErrorIds.FirmwareSignatureInvalid, HsmErrorKind.SecurityError,
                $"Module {esn} refused the firmware package: its signature is not the vendor's ({detail}). Nothing was installed. " +
                "Install only packages from the vendor.", esn);

        public static HsmException VsnTooLow(string esn, string detail) =>
            new HsmException(HsmErrorIds.FirmwareVsnTooLow, HsmErrorKind.InvalidOperation,
                $"Module {esn} refused the firmware package: its VSN is below the module's minimum VSN ({detail}). Nothing was " +
                "installed; a module never goes below its minimum VSN. Install a package with a VSN at or above the minimum " +
                "(Get-HsmModule shows MinimumVsn).", esn);

        public static HsmException MinimumVsnInvalid(string esn, string detail) =>
            new HsmException(HsmErrorIds.MinimumVsnInvalid, HsmErrorKind.InvalidArgument,
                $"Module {esn} refused the minimum VSN ({detail}): the minimum can only rise, and never above the installed " +
                "firmware's VSN. Nothing was changed. Install firmware with that VSN first (Update-HsmFirmware).", esn);
    }
}
