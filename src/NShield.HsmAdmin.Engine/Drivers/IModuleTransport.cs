using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Opens authenticated channels to a module's service endpoints. The product ships one transport, SSH
    /// (<see cref="SshModuleTransport"/>); others plug in through <see cref="ModuleTransports.Register"/>.
    /// Every transport checks the server key against the policy before it authenticates.
    /// </summary>
    public interface IModuleTransport
    {
        Task<IModuleChannel> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken);

        /// <summary>Null when the address is one this transport can reach; otherwise why not (shown to the user).</summary>
        string? CheckAddress(string address);
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
