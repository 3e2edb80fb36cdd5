using System;
using System.Linq;
using System.Net;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>The host addresses the SSH transport reaches: unicast IP addresses and DNS host names, as people write them.</summary>
    internal static class HostAddresses
    {
        /// <summary>Null for a unicast IPv4/IPv6 address (dotted quad or standard IPv6 form, optionally [bracketed]) or
        /// a DNS host name; otherwise why not.</summary>
        public static string? Check(string address)
        {
            if (address.Length == 0) return "it is empty";
            var bare = Unbracket(address);
            if (LooksNumeric(bare) || bare.Contains(":"))
            {
                // Only the forms people write: no "127.1", "0x7f000001" or "1" that IPAddress would also accept.
                if (!IPAddress.TryParse(bare, out var ip)
                    || (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && bare.Split('.').Length != 4))
                    return "it is not an IP address in dotted-quad or IPv6 form";
                if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) || ip.Equals(IPAddress.Broadcast) || ip.Equals(IPAddress.IPv6None))
                    return "it is not a unicast address";
                if (ip.IsIPv6Multicast
                    || (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (ip.GetAddressBytes()[0] & 0xF0) == 0xE0))
                    return "it is a multicast address";
                return null;
            }
            if (bare.Length > 253 || Uri.CheckHostName(bare) != UriHostNameType.Dns) return "it is neither an IP address nor a DNS host name";
            return null;
        }

        /// <summary>The stored form: IP addresses as IPAddress writes them (no brackets), host names lower case.</summary>
        public static string Canonical(string address)
        {
            var bare = Unbracket(address);
            return IPAddress.TryParse(bare, out var ip) && (LooksNumeric(bare) || bare.Contains(":")) ? ip.ToString() : bare.ToLowerInvariant();
        }

        static string Unbracket(string a) => a.Length > 2 && a[0] == '[' && a[a.Length - 1] == ']' ? a.Substring(1, a.Length - 2) : a;

        static bool LooksNumeric(string a) => a.Length > 0 && a.All(c => char.IsDigit(c) || c == '.')
            || a.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
    }
}
