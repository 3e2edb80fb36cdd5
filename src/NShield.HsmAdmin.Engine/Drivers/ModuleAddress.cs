using System;
using System.Collections.Generic;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Where a module's service endpoints are, as discovery reports it (see <see cref="Discovery.IModuleDiscovery"/>):
    /// the transport that reaches it, the address, the SSH login name and a port per service.
    /// </summary>
    public sealed class ModuleAddress
    {
        public ModuleAddress(Modules.Esn esn, string transport, string host, string user, IReadOnlyDictionary<string, int> ports)
        {
            Esn = esn;
            Transport = string.IsNullOrEmpty(transport) ? ModuleTransports.Ssh : transport;
            Host = host;
            User = user;
            Ports = ports;
        }

        public Modules.Esn Esn { get; }
        /// <summary>Name of the transport that reaches the module: "ssh" for real modules (see <see cref="ModuleTransports"/>).</summary>
        public string Transport { get; }
        /// <summary>Host name or IP address (for other transports, whatever address form that transport documents).</summary>
        public string Host { get; }
        /// <summary>The SSH login name the module's endpoints accept.</summary>
        public string User { get; }
        public IReadOnlyDictionary<string, int> Ports { get; }

        public bool IsSsh => string.Equals(Transport, ModuleTransports.Ssh, StringComparison.OrdinalIgnoreCase);

        public string Endpoint(string service)
        {
            if (!IsSsh) return $"{Transport}:{Host}";
            var host = Host.Contains(":") ? "[" + Host + "]" : Host;
            return Ports.TryGetValue(service, out var port) ? $"{host}:{port}" : $"{host}:?";
        }
    }
}
