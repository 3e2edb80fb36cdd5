using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>Opens authenticated channels to a module's service endpoints (real SSH, or the simulator in-process).</summary>
    public interface IModuleTransport
    {
        Task<IModuleChannel> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken);
    }

    /// <summary>One authenticated channel to one service of one module. Commands reuse the connection.</summary>
    public interface IModuleChannel : IDisposable
    {
        string Esn { get; }
        string Service { get; }
        /// <summary>The server key the module presented (already checked against the policy).</summary>
        SshPublicKey ServerKey { get; }

        /// <summary>Runs one firmware verb with an optional JSON body; returns the "result" object as JSON text.</summary>
        Task<FirmwareResult> InvokeAsync(string verb, string? jsonBody, CancellationToken cancellationToken);
    }
}
