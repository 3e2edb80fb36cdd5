using System;
using System.Text.RegularExpressions;

namespace NShield.HsmAdmin.Store
{
    /// <summary>A module's electronic serial number: three groups of four hex digits, canonical uppercase ("8A2C-91F3-0D4E").</summary>
    public static class Esn
    {
        static readonly Regex Pattern = new Regex("^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$", RegexOptions.CultureInvariant);

        public static string Parse(string? text)
        {
            var t = (text ?? "").Trim();
            if (!Pattern.IsMatch(t))
                throw new HsmException(HsmErrorIds.InvalidEsn, HsmErrorKind.InvalidArgument,
                    $"'{text}' is not a module ESN. Expected three groups of four hexadecimal digits, e.g. 8A2C-91F3-0D4E.", text);
            return t.ToUpperInvariant();
        }

        public static bool TryParse(string? text, out string esn)
        {
            var t = (text ?? "").Trim();
            esn = Pattern.IsMatch(t) ? t.ToUpperInvariant() : "";
            return esn.Length > 0;
        }
    }
}
