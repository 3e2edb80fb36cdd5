using System;
using System.Runtime.InteropServices;
using System.Text;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>Reads the two fields we need from a raw SMBIOS table (type 1 UUID, type 2 serial).</summary>
    internal static class SmbiosParser
    {
        /// <param name="raw">RawSMBIOSData as Windows returns it: 8-byte header, then the structure table.</param>
        public static string? SystemUuid(byte[] raw)
        {
            foreach (var (type, offset, length) in Structures(raw))
            {
                if (type != 1 || length < 0x18) continue;
                var u = new byte[16];
                Buffer.BlockCopy(raw, offset + 8, u, 0, 16);
                // SMBIOS 2.6+: first three fields little-endian, as Guid(byte[]) expects; printed like dmidecode.
                return new Guid(u).ToString().ToUpperInvariant();
            }
            return null;
        }

        public static string? BaseboardSerial(byte[] raw)
        {
            foreach (var (type, offset, length) in Structures(raw))
                if (type == 2 && length > 7) return StringAt(raw, offset, length, raw[offset + 7]);
            return null;
        }

        static System.Collections.Generic.IEnumerable<(byte Type, int Offset, int Length)> Structures(byte[] raw)
        {
            int pos = 8;
            while (pos + 4 <= raw.Length)
            {
                byte type = raw[pos], length = raw[pos + 1];
                if (length < 4 || pos + length > raw.Length) yield break;
                yield return (type, pos, length);
                if (type == 127) yield break;
                int s = pos + length;
                while (s + 1 < raw.Length && !(raw[s] == 0 && raw[s + 1] == 0)) s++;
                pos = s + 2;
            }
        }

        static string? StringAt(byte[] raw, int offset, int length, int index)
        {
            if (index == 0) return null;
            int s = offset + length;
            for (int i = 1; s < raw.Length && raw[s] != 0; i++)
            {
                int end = Array.IndexOf(raw, (byte)0, s);
                if (end < 0) return null;
                if (i == index) return Encoding.ASCII.GetString(raw, s, end - s).Trim();
                s = end + 1;
            }
            return null;
        }
    }
}
