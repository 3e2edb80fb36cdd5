using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// The transports modules can be reached by, by name. "ssh" is built in; another assembly (the simulator's
    /// in-process transport, or an adapter for the vendor's own protocol) adds its own with <see cref="Register"/>,
    /// so the engine never needs to know about it.
    /// </summary>
    public static class ModuleTransports
    {
        public const string Ssh = "ssh";

        private static readonly ConcurrentDictionary<string, IModuleTransport> Registered =
            new ConcurrentDictionary<string, IModuleTransport>(StringComparer.OrdinalIgnoreCase);

        /// <summary>Adds (or replaces) a transport. "ssh" cannot be replaced.</summary>
        public static void Register(string name, IModuleTransport transport)
        {
            if (string.IsNullOrWhiteSpace(name) || name.Any(c => !(char.IsLetterOrDigit(c) || c == '-' || c == '.')))
                throw new ArgumentException("A transport name is letters, digits, '-' and '.'.", nameof(name));
            if (string.Equals(name, Ssh, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException("The ssh transport is built in and cannot be replaced.", nameof(name));
            Registered[name] = transport ?? throw new ArgumentNullException(nameof(transport));
        }

        /// <summary>Every transport name this process can use: "ssh" and the registered ones.</summary>
        public static IReadOnlyList<string> Names =>
            new[] { Ssh }.Concat(Registered.Keys.OrderBy(k => k, StringComparer.Ordinal)).ToList();

        /// <summary>The registered transport of that name, or null ("ssh" is the host's own instance, see HsmHost).</summary>
        public static IModuleTransport? Find(string name) =>
            Registered.TryGetValue(name ?? "", out var t) ? t : null;

        /// <summary>The canonical name, or an UnknownTransport error listing what is available.</summary>
        public static string Canonical(string? name)
        {
            if (string.IsNullOrWhiteSpace(name) || string.Equals(name, Ssh, StringComparison.OrdinalIgnoreCase)) return Ssh;
            var match = Registered.Keys.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase));
            return match ?? throw Unknown(name!);
        }

        public static HsmException Unknown(string name) =>
            new HsmException(HsmErrorIds.UnknownTransport, HsmErrorKind.InvalidArgument,
                $"No transport named '{name}' is available in this session (available: {string.Join(", ", Names)}). " +
                "Modules registered with another transport need the module that provides it (e.g. Import-Module NShield.HsmAdmin.Simulator).", name);
    }
}
