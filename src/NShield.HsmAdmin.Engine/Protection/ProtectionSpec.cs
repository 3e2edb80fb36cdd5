using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>One input of a client key's passphrase derivation [vendor doc].</summary>
    public enum ProtectionInput
    {
        /// <summary>K: random nonce per key, stored beside the key (makes every key's passphrase different).</summary>
        KeyNonce,
        /// <summary>F: fixed nonce built into the software.</summary>
        FixedNonce,
        /// <summary>S: SMBIOS system UUID (ties the key to the machine; root-only on Linux).</summary>
        SystemUuid,
        /// <summary>B: baseboard serial (absent on many systems, all VMs).</summary>
        BaseboardId,
        /// <summary>G: machine-wide nonce made on first use, readable by root/Administrators only (ties the key to this OS install).</summary>
        GlobalNonce,
        /// <summary>P: a passphrase the user types (not usable unattended).</summary>
        UserPassphrase,
    }

    /// <summary>
    /// A set of <see cref="ProtectionInput"/>s written as letters, e.g. "KFG" (case-insensitive, any order, no duplicates).
    /// The empty set, written "none", means the key file is not encrypted.
    /// </summary>
    public sealed class ProtectionSpec : IEquatable<ProtectionSpec>
    {
        /// <summary>Canonical order: also the order inputs enter the derivation.</summary>
        static readonly (char Letter, ProtectionInput Input)[] Letters =
        {
            ('K', ProtectionInput.KeyNonce), ('F', ProtectionInput.FixedNonce), ('S', ProtectionInput.SystemUuid),
            ('B', ProtectionInput.BaseboardId), ('G', ProtectionInput.GlobalNonce), ('P', ProtectionInput.UserPassphrase),
        };

        readonly HashSet<ProtectionInput> _inputs;

        ProtectionSpec(IEnumerable<ProtectionInput> inputs) { _inputs = new HashSet<ProtectionInput>(inputs); }

        public static readonly ProtectionSpec None = new ProtectionSpec(Array.Empty<ProtectionInput>());

        /// <summary>
        /// "KFG": works unattended (the hardserver loads the ncoreapi key at boot, so no P), gives every key its own
        /// passphrase (K), and ties the key to this OS install (G) so a copied key file is useless elsewhere.
        /// S and B are left out because VMs (and many servers) have no DMI: a default must work everywhere.
        /// </summary>
        public static readonly ProtectionSpec Default = Parse("KFG");

        public static ProtectionSpec Of(params ProtectionInput[] inputs) => new ProtectionSpec(inputs);

        /// <summary>The inputs in canonical (derivation) order.</summary>
        public IReadOnlyList<ProtectionInput> Inputs => Letters.Where(l => _inputs.Contains(l.Input)).Select(l => l.Input).ToList();

        public bool Contains(ProtectionInput input) => _inputs.Contains(input);
        public bool IsNone => _inputs.Count == 0;
        /// <summary>True when the passphrase depends on this machine (S, B or G).</summary>
        public bool IsMachineBound => Contains(ProtectionInput.SystemUuid) || Contains(ProtectionInput.BaseboardId)
            || Contains(ProtectionInput.GlobalNonce);

        /// <summary>True when opening the key needs the user's passphrase (P).</summary>
        public bool NeedsPassphrase => Contains(ProtectionInput.UserPassphrase);

        /// <summary>
        /// The protection a new key for <paramref name="service"/> gets when this one is asked for all services:
        /// P never goes on ncoreapi implicitly, because the hardserver loads that key unattended at every start
        /// and cannot type a passphrase. The other inputs stay as asked.
        /// </summary>
        public ProtectionSpec ForService(string service) =>
            NeedsPassphrase && string.Equals(service, ModuleServices.NCoreApi, StringComparison.OrdinalIgnoreCase)
                ? new ProtectionSpec(_inputs.Where(i => i != ProtectionInput.UserPassphrase))
                : this;

        public static char LetterOf(ProtectionInput input) => Letters.First(l => l.Input == input).Letter;

        public static ProtectionSpec Parse(string? text)
        {
            var trimmed = (text ?? "").Trim();
            if (trimmed.Length == 0 || trimmed.Equals("none", StringComparison.OrdinalIgnoreCase)) return None;
            var seen = new HashSet<ProtectionInput>();
            foreach (var c in trimmed)
            {
                var hit = Letters.Where(l => l.Letter == char.ToUpperInvariant(c)).ToList();
                if (hit.Count == 0)
                    throw Invalid(text, $"'{c}' is not a protection input.");
                if (!seen.Add(hit[0].Input))
                    throw Invalid(text, $"'{char.ToUpperInvariant(c)}' appears more than once.");
            }
            return new ProtectionSpec(seen);
        }

        public static bool TryParse(string? text, out ProtectionSpec? spec)
        {
            try { spec = Parse(text); return true; }
            catch (HsmException) { spec = null; return false; }
        }

        static HsmException Invalid(string? text, string why) => new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
            $"Invalid protection '{text}': {why} Use any combination of K (key nonce), F (fixed nonce), S (system UUID), " +
            "B (baseboard id), G (global nonce), P (passphrase), e.g. 'KFG', or 'none' for an unencrypted key.", text);

        /// <summary>Canonical letters ("KFG"), or "none".</summary>
        public override string ToString()
        {
            if (IsNone) return "none";
            var sb = new StringBuilder();
            foreach (var i in Inputs) sb.Append(LetterOf(i));
            return sb.ToString();
        }

        public bool Equals(ProtectionSpec? other) => other != null && _inputs.SetEquals(other._inputs);
        public override bool Equals(object? obj) => Equals(obj as ProtectionSpec);
        public override int GetHashCode() => ToString().GetHashCode();
    }
}
