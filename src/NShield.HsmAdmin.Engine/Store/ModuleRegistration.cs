using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Where one module is (an entry of module-registry.json): its ESN, the address its service endpoints
    /// listen on, the SSH login name, a TCP port per service and the transport ("ssh" for real modules).
    /// </summary>
    public sealed class ModuleRegistration
    {
        public string Esn { get; set; } = "";
        public string Transport { get; set; } = ModuleTransports.Ssh;
        public string Address { get; set; } = "";
        public string User { get; set; } = ModuleEndpointDefaults.User;
        /// <summary>Service → TCP port; every service has one (defaults filled in at registration).</summary>
        public Dictionary<string, int> Ports { get; set; } = new Dictionary<string, int>(StringComparer.Ordinal);
        public DateTimeOffset RegisteredAt { get; set; }
        /// <summary>Free text naming who registered it (e.g. a simulator's folder); informational.</summary>
        public string? RegisteredBy { get; set; }

        public ModuleAddress ToAddress() =>
            new ModuleAddress(Modules.Esn.Parse(Esn), Transport, Address, User, new Dictionary<string, int>(Ports, StringComparer.Ordinal));

        /// <summary>
        /// Checks and canonicalises every field (ESN upper case, service names, default ports filled in).
        /// Throws a typed error (InvalidEsn, InvalidAddress, InvalidPort, UnknownService, InvalidUserName, UnknownTransport).
        /// </summary>
        public ModuleRegistration Validated() => Validated(requireTransport: true);

        /// <summary>
        /// As <see cref="Validated()"/>; with requireTransport false (reading the store) a transport no loaded module provides
        /// is kept as written (using such a module then fails with UnknownTransport, as it should).
        /// </summary>
        public ModuleRegistration Validated(bool requireTransport)
        {
            var esn = Modules.Esn.Parse(Esn);
            var known = ModuleTransports.Names.Any(n => string.Equals(n, Transport ?? ModuleTransports.Ssh, StringComparison.OrdinalIgnoreCase));
            var transport = requireTransport || known ? ModuleTransports.Canonical(Transport) : Transport!;
            var address = (Address ?? "").Trim();
            var problem = transport == ModuleTransports.Ssh
                ? ModuleEndpointDefaults.CheckHostAddress(address)
                : known && requireTransport ? ModuleTransports.Find(transport)!.CheckAddress(address) : null;
            if (problem == null && transport == ModuleTransports.Ssh) address = ModuleEndpointDefaults.Canonical(address);
            if (problem != null)
                throw new HsmException(HsmErrorIds.InvalidAddress, HsmErrorKind.InvalidArgument,
                    $"'{Address}' is not an address module {esn} can be reached at: {problem}.", Address);
            var user = (User ?? "").Trim();
            if (!ModuleEndpointDefaults.UserPattern.IsMatch(user))
                throw new HsmException(HsmErrorIds.InvalidUserName, HsmErrorKind.InvalidArgument,
                    $"'{User}' is not a valid SSH user name (letters, digits, '.', '_', '-'; at most 64; not starting with '-').", User);
            var ports = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var pair in Ports ?? new Dictionary<string, int>())
            {
                var service = ModuleServices.Canonical(pair.Key);
                ports[service] = CheckPort(service, pair.Value);
            }
            foreach (var service in ModuleServices.All)
                if (!ports.ContainsKey(service)) ports[service] = ModuleEndpointDefaults.Ports[service];
            return new ModuleRegistration
            {
                Esn = esn, Transport = transport, Address = address, User = user, Ports = ports,
                RegisteredAt = RegisteredAt, RegisteredBy = RegisteredBy,
            };
        }

        public static int CheckPort(string service, int port)
        {
            if (port < 1 || port > 65535)
                throw new HsmException(HsmErrorIds.InvalidPort, HsmErrorKind.InvalidArgument,
                    $"{port} is not a TCP port (1-65535) for the {service} service.", port);
            return port;
        }

        /// <summary>Same place and login (RegisteredAt/RegisteredBy aside).</summary>
        public bool SameEndpoints(ModuleRegistration other) =>
            Esn == other.Esn
            && string.Equals(Transport, other.Transport, StringComparison.OrdinalIgnoreCase) &&
            Address == other.Address && User == other.User &&
            ModuleServices.All.All(s => Ports.TryGetValue(s, out var a) && other.Ports.TryGetValue(s, out var b) && a == b);
    }

    /// <summary>
    /// Documented defaults for a registration. The vendor does not publish the ports and login of a module's
    /// service endpoints; these are ours, and every one can be overridden per module (and per service).
    /// </summary>
    public static class ModuleEndpointDefaults
    {
        public const string User = "nshield";

        public static readonly IReadOnlyDictionary<string, int> Ports = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [ModuleServices.SshAdmin] = 2201,
            [ModuleServices.NCoreApi] = 2202,
            [ModuleServices.Setup] = 2203,
            [ModuleServices.Updater] = 2204,
            [ModuleServices.Monitor] = 2205,
            [ModuleServices.Launcher] = 2206,
        };

        // Letters, digits, '.', '_', '-' (not first), '@' for directory accounts (user@domain); at most 64.
        internal static readonly Regex UserPattern = new Regex("^[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}$", RegexOptions.CultureInvariant);

        /// <summary>Null for a unicast IPv4/IPv6 address or a DNS host name; otherwise why not (<see cref="HostAddresses"/>).</summary>
        public static string? CheckHostAddress(string address)
        {
            // "hsm3.example.net:22" or "10.0.0.5:22": a host with a port, which goes in -Port (issue 21: say so, rather than
            // "not an IP address" for what is a host name).
            var colon = address.LastIndexOf(':');
            if (colon > 0 && address.IndexOf(':') == colon && int.TryParse(address.Substring(colon + 1), out _))
                return $"the address is a host name or an IP address without a port: give '{address.Substring(0, colon)}' as the address " +
                    $"and the ports with -Port (e.g. -Port @{{ sshadmin = {address.Substring(colon + 1)} }})";
            return HostAddresses.Check(address);
        }

        /// <summary>The stored form: IP addresses as IPAddress writes them (no brackets), host names lower case.</summary>
        public static string Canonical(string address) => HostAddresses.Canonical(address);
    }
}
