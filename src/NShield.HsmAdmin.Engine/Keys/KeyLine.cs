using System;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>
    /// The input policy for public key lines that arrive from outside (request bodies, identity replies),
    /// on top of <see cref="SshPublicKey.Parse"/> (which does all key parsing and validation): exactly
    /// "type base64 [comment]" on one line, no authorized_keys options, no control characters, bounded length.
    /// </summary>
    public static class KeyLine
    {
        private const int MaxLength = 16384;

        public static bool TryParse(string? line, out SshPublicKey? key, out string reason)
        {
            key = null;
            if (line == null) { reason = "no public key given"; return false; }
            var t = line.Trim();
            if (t.Length == 0 || t.Length > MaxLength) { reason = "public key line empty or too long"; return false; }
            foreach (var ch in t) if (ch < 0x20 || ch == 0x7f) { reason = "public key line contains control characters"; return false; }
            SshPublicKey k;
            try { k = SshPublicKey.Parse(t); }
            catch (SshKeyFormatException e) { reason = e.Message; return false; }
            // Parse skips leading authorized_keys options; a client must send the bare key.
            if (!t.StartsWith(k.KeyType + " ", StringComparison.Ordinal) && !t.StartsWith(k.KeyType + "\t", StringComparison.Ordinal))
            {
                reason = "expected '<type> <base64> [comment]' (no options)";
                return false;
            }
            key = k;
            reason = "";
            return true;
        }
    }
}
