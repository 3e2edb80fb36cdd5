using System.Text.RegularExpressions;

namespace NShield.HsmAdmin.Store
{
    /// <summary>PowerShell's wildcards (* ? [a-z]), case-insensitive, for names and ESN patterns the engine matches.</summary>
    public static class Wildcard
    {
        public static bool HasWildcards(string text) => text.IndexOfAny(new[] { '*', '?', '[' }) >= 0;

        /// <summary>The pattern as an anchored, case-insensitive expression.</summary>
        public static Regex ToRegex(string pattern) => new Regex(
            "^" + Regex.Replace(pattern, @"\[[^\]]*\]|\*|\?|[^*?\[]+", m => m.Value switch
            {
                "*" => ".*",
                "?" => ".",
                var v when v.StartsWith("[") => v,
                var v => Regex.Escape(v),
            }) + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    }
}
