using System.Collections.Generic;

namespace NShield.HsmAdmin.Drivers
{
    public enum ModuleTransportKind { Ssh, InProcess }

    /// <summary>Where a module's service endpoints are: what the host's bus reports for one attached module.</summary>
    public sealed class ModuleAddress
    {
        public ModuleAddress(string esn, ModuleTransportKind transport, string host, string user,
            IReadOnlyDictionary<string, int> ports, string? moduleDirectory)
        {
            Esn = esn; Transport = transport; Host = host; User = user; Ports = ports; ModuleDirectory = moduleDirectory;
        }

        public string Esn { get; }
        public ModuleTransportKind Transport { get; }
        public string Host { get; }
        /// <summary>The SSH login name the module's endpoints accept.</summary>
        public string User { get; }
        public IReadOnlyDictionary<string, int> Ports { get; }
        /// <summary>Simulated modules only: the module's state folder (the in-process transport calls the firmware on it).</summary>
        public string? ModuleDirectory { get; }

        public string Endpoint(string service) =>
            Ports.TryGetValue(service, out var port) ? $"{Host}:{port}" : $"{Host}:?";
    }
}
