using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Reads a module's identity through its session, with the engine's own check of what it claims.</summary>
    internal static class ModuleIdentityReader
    {
        /// <summary>
        /// Asks the module on an open session who it is. A module that names another ESN than the one the host enumerates
        /// at that address is refused here, once for every caller and whatever the adapter.
        /// </summary>
        public static async Task<ModuleIdentity> ReadAsync(IModuleSession session, CancellationToken ct)
        {
            var identity = await session.GetIdentityAsync(ct).ConfigureAwait(false)
                ?? throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {session.Esn} sent no identity.", session.Esn);
            if (!(Modules.Esn.TryParse(identity.Esn, out var claimed) && claimed.Value == session.Esn))
                throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                    $"The module the host enumerates as {session.Esn} says it is {identity.Esn}. Nothing was changed.", session.Esn);
            return identity;
        }
    }
}
