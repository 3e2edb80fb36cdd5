using System.Text;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>The module refused a request; <see cref="FirmwareCode"/> is the module's own code for why (E_MODE, E_FAULT, ...).</summary>
    public sealed class ModuleErrorException : HsmException
    {
        /// <param name="esn">The module.</param>
        /// <param name="service">The service the request went to.</param>
        /// <param name="action">The module action, as the module protocol names it.</param>
        /// <param name="kind">How the refusal is categorised (the adapter maps its protocol's codes to kinds).</param>
        /// <param name="firmwareCode">The module's code for the refusal (printable, bounded).</param>
        /// <param name="message">The module's text (printable, bounded).</param>
        public ModuleErrorException(string esn, string service, string action, HsmErrorKind kind, string firmwareCode, string message)
            : base(HsmErrorIds.ModuleError, kind, $"Module {esn} refused '{action}' on {service}: {firmwareCode} {message}".TrimEnd(), esn)
        {
            FirmwareCode = firmwareCode;
        }

        public string FirmwareCode { get; }
    }

    /// <summary>Errors every adapter raises the same way, so the user sees one message whatever the module protocol.</summary>
    public static class ModuleErrors
    {
        /// <summary>
        /// ModuleClockInvalid: firmware 13.5+ refuses SSH key changes while the module's clock is invalid outside Recovery
        /// mode. The engine raises it from the module's identity before it changes anything; an adapter raises it when the
        /// module refuses for that reason anyway.
        /// </summary>
        public static HsmException ClockInvalid(string esn, string what, string detail) =>
            new HsmException(HsmErrorIds.ModuleClockInvalid, HsmErrorKind.InvalidOperation,
                $"Module {esn} reports an invalid clock ({detail}); firmware 13.5+ refuses SSH key changes in normal (Primary) mode " +
                $"until the clock is set, so {what} was not done and nothing was changed on the host or the module. Set the clock " +
                $"from this host's UTC time with Set-HsmModuleTime -Esn {esn} (a module in normal mode must be in maintenance mode " +
                "first: nopclearfail -M -m <MODULEID> -w; in factory state or Recovery mode it needs nothing more), then run the command again.",
                esn)
            {
                RecommendedAction = $"Set-HsmModuleTime -Esn {esn} (an operational module in maintenance mode first), then run the command again.",
            };

        /// <summary>
        /// ModuleClockNotSettable: the module refused settime (a step outside maintenance, factory state or Recovery mode; an
        /// adjustment of an invalid clock or one too large to slew). Nothing was changed.
        /// </summary>
        public static HsmException ClockNotSettable(string esn, bool adjust, string detail, System.Exception? inner = null) =>
            new HsmException(HsmErrorIds.ModuleClockNotSettable, HsmErrorKind.InvalidOperation,
                $"Module {esn} did not {(adjust ? "adjust" : "set")} its clock ({Printable(detail, 300)}); nothing was changed. " +
                (adjust
                    ? "-Adjust slews a valid clock by a bounded amount: set an invalid or far-off clock without -Adjust, " +
                      "with the module in maintenance mode."
                    : "Setting (stepping) the clock needs the module in maintenance mode (nopclearfail -M -m <MODULEID> -w), factory state or " +
                      "Recovery mode; while it is operational use Set-HsmModuleTime -Adjust."),
                esn, inner)
            {
                RecommendedAction = adjust
                    ? $"Put module {esn} in maintenance mode, then Set-HsmModuleTime -Esn {esn} (without -Adjust)."
                    : $"Put module {esn} in maintenance mode (nopclearfail -M -m <MODULEID> -w), or use Set-HsmModuleTime -Esn {esn} -Adjust.",
            };

        /// <summary>Module text going into the product's messages and output: printable ASCII only, at most max characters.</summary>
        public static string Printable(string text, int max)
        {
            var sb = new StringBuilder();
            foreach (var ch in text)
            {
                if (sb.Length >= max) { sb.Append("..."); break; }
                sb.Append(ch >= 0x20 && ch < 0x7f ? ch : '?');
            }
            return sb.ToString();
        }
    }
}
