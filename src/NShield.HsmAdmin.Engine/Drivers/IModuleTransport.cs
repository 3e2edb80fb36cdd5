using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Opens authenticated sessions with a module's services. The product ships one transport, SSH
    /// (<see cref="SshModuleTransport"/>, speaking the JSON command set through <see cref="Protocol.JsonExecSession"/>);
    /// others plug in through <see cref="ModuleTransports.Register"/>.
    /// </summary>
    /// <remarks>
    /// A transport checks the server key against the policy before it authenticates, so a wrong key never sees the
    /// credential. The engine does not rely on it: it compares <see cref="IModuleSession.ServerKey"/> with the pin again
    /// before it calls any module action (HsmHost.OpenAsync), and refuses a session that presents another key.
    /// </remarks>
    public interface IModuleTransport
    {
        /// <summary>Opens and authenticates a session with one service of one module, or raises an <see cref="HsmException"/>.</summary>
        Task<IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential,
            ServerKeyPolicy policy, CancellationToken cancellationToken);

        /// <summary>Null when the address is one this transport can reach; otherwise why not (shown to the user).</summary>
        string? CheckAddress(string address);
    }
}
