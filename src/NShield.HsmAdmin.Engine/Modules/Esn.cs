using System;
using System.Text.RegularExpressions;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>
    /// A module's electronic serial number: three groups of four hex digits, canonical uppercase ("8A2C-91F3-0D4E"). A value
    /// type parsed once where an ESN enters (a cmdlet's -Esn, the registry, a module's answer), so two ESNs compare as
    /// plain ordinal strings everywhere after. It reads as its text (implicitly a string); a string becomes an ESN only
    /// through <see cref="Parse"/>.
    /// </summary>
    public readonly struct Esn : IEquatable<Esn>, IComparable<Esn>, IErrorTarget
    {
        static readonly Regex Pattern = new Regex("^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$", RegexOptions.CultureInvariant);

        private readonly string? _value;

        private Esn(string canonical) { _value = canonical; }

        /// <summary>The canonical text ("" for the default value, which no parse returns).</summary>
        public string Value => _value ?? "";

        public static Esn Parse(string? text)
        {
            var t = (text ?? "").Trim();
            if (!Pattern.IsMatch(t))
                throw new HsmException(HsmErrorIds.InvalidEsn, HsmErrorKind.InvalidArgument,
                    $"'{text}' is not a module ESN. Expected three groups of four hexadecimal digits, e.g. 8A2C-91F3-0D4E.", text);
            return new Esn(t.ToUpperInvariant());
        }

        static readonly Regex WildcardPattern = new Regex(@"^[0-9A-Fa-f\-*?\[\]]{1,64}$", RegexOptions.CultureInvariant);

        /// <summary>
        /// An -Esn value of a command that takes wildcards: a pattern (with * ? [ ]) of hexadecimal digits and dashes, or else a
        /// well-formed ESN, in canonical (uppercase) form either way. Anything else is InvalidEsn ("DA2A-1164-CE2", "12345").
        /// </summary>
        public static string ParsePattern(string? text)
        {
            var t = (text ?? "").Trim();
            if (t.IndexOfAny(new[] { '*', '?', '[' }) < 0) return Parse(text);
            if (!WildcardPattern.IsMatch(t))
                throw new HsmException(HsmErrorIds.InvalidEsn, HsmErrorKind.InvalidArgument,
                    $"'{text}' is not a module ESN pattern. Use hexadecimal digits, dashes and the wildcards * ? [ ], e.g. 8A2C-*.", text);
            return t.ToUpperInvariant();
        }

        public static bool TryParse(string? text, out Esn esn)
        {
            var t = (text ?? "").Trim();
            esn = Pattern.IsMatch(t) ? new Esn(t.ToUpperInvariant()) : default;
            return esn._value != null;
        }

        public static implicit operator string(Esn esn) => esn.Value;
        object IErrorTarget.ErrorTarget => Value;
        public bool Equals(Esn other) => string.Equals(Value, other.Value, StringComparison.Ordinal);
        public override bool Equals(object? obj) => obj is Esn other && Equals(other);
        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);
        public int CompareTo(Esn other) => string.CompareOrdinal(Value, other.Value);
        public static bool operator ==(Esn a, Esn b) => a.Equals(b);
        public static bool operator !=(Esn a, Esn b) => !a.Equals(b);
        public override string ToString() => Value;
    }
}
