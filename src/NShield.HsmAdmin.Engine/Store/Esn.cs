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

        static readonly Regex WildcardPattern = new Regex(@"^[0-9A-Fa-f\-*?\[\]]{1,64}$", RegexOptions.CultureInvariant);

        /// <summary>
        /// An -Esn value of a command that takes wildcards: a pattern (with * ? [ ]) of hexadecimal digits and dashes, or else a
        /// well-formed ESN (canonical form returned). Anything else is InvalidEsn ("DA2A-1164-CE2", "12345").
        /// </summary>
        public static string ParsePattern(string? text)
        {
            var t = (text ?? "").Trim();
            if (t.IndexOfAny(new[] { '*', '?', '[' }) < 0) return Parse(text);
            if (!WildcardPattern.IsMatch(t))
                throw new HsmException(HsmErrorIds.InvalidEsn, HsmErrorKind.InvalidArgument,
                    $"'{text}' is not a module ESN pattern. Use hexadecimal digits, dashes and the wildcards * ? [ ], e.g. 8A2C-*.", text);
            return t;
        }

        public static bool TryParse(string? text, out string esn)
        {
            var t = (text ?? "").Trim();
            esn = Pattern.IsMatch(t) ? t.ToUpperInvariant() : "";
            return esn.Length > 0;
        }
    }
}
