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
                $"until the clock is set, so {what} was not done and nothing was changed on the host or the module. Boot the module " +
                "in Recovery mode, set its clock there (the module's own clock setting), boot it normally, then run the command again.",
                esn);

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
