using System;
using System.Collections.Generic;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// One module on a host's "PCIe bus" (&lt;hostPath&gt;/attached-modules.json): how the host-side driver reaches it.
    /// transport "ssh": endpoints are Address:Ports[service]; "inprocess": the firmware is called in-process on ModuleDir.
    /// </summary>
    public sealed class AttachedModule
    {
        public const string SshTransport = "ssh";
        public const string InProcessTransport = "inprocess";

        public string Esn { get; set; } = "";
        public string Transport { get; set; } = SshTransport;
        public string Address { get; set; } = "127.0.0.1";
        /// <summary>Service name → TCP port (empty for inprocess).</summary>
        public Dictionary<string, int> Ports { get; set; } = new Dictionary<string, int>(StringComparer.Ordinal);
        /// <summary>The simulated module's state folder (simulated modules only).</summary>
        public string? ModuleDir { get; set; }
        /// <summary>The simulator that owns the module (simulated modules only).</summary>
        public string? SimulatorRoot { get; set; }

        public bool IsInProcess => string.Equals(Transport, InProcessTransport, StringComparison.OrdinalIgnoreCase);

        public int PortOf(string service) => Ports.TryGetValue(service, out var p) ? p : 0;

        public override string ToString() => $"{Esn} ({Transport})";
    }
}
