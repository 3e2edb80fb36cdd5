using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.TestHooks
{
    /// <summary>
    /// Tests only: a transport with a bug (it throws an exception that is not an HsmException), to show that the fleet
    /// runner reports it as UnexpectedError for that module and the other modules go on. Never in bin/.
    /// </summary>
    public sealed class BrokenTransport : IModuleTransport
    {
        /// <summary>Registers the transport under this name in the engine of the calling session.</summary>
        public static void Register(string name) => ModuleTransports.Register(name, new BrokenTransport());

        public string? CheckAddress(string address) => null;

        public Task<Modules.IModuleSession> OpenAsync(ModuleAddress module, string service, SshKeyPair credential, ServerKeyPolicy policy, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("BrokenTransport: a transport bug (test double)");
    }
}
