using System;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// The errors opening a channel can end in, the same whichever transport opened it, so callers (and
    /// runbooks) see one id, one category and one message for one situation.
    /// </summary>
    public static class ChannelErrors
    {
        public static HsmException ServerKeyChanged(ModuleAddress module, string service, ServerKeyPolicy policy, SshPublicKey presented) =>
            new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                $"Module {module.Esn} presented a different {service} server key than the one pinned for it: expected {policy.Expected!.Fingerprint}, " +
                $"presented {presented.Fingerprint} at {module.Endpoint(service)}. The connection was closed before authentication and nothing was sent. " +
                $"Server keys only change when a module returns to factory state; if that happened, run Invoke-HsmEnroll for it, otherwise treat this as an attack. " +
                $"The pin is kept in {policy.PinLocation} (host name nshield-{module.Esn}-{service}).", module.Esn);

        public static HsmException KeyRefused(ModuleAddress module, string service, Exception? inner = null) =>
            new HsmException(HsmErrorIds.AuthenticationFailed, HsmErrorKind.AuthenticationError,
                $"The module refused this host's {service} client key ({service} on module {module.Esn}, {module.Endpoint(service)}). " +
                "If the module was returned to factory state, run Invoke-HsmEnroll; if the host's keys were lost, restore them with Restore-HsmSshKey.",
                module.Esn, inner);

        public static HsmException NotRunning(ModuleAddress module, string service, Exception? inner = null) =>
            new HsmException(HsmErrorIds.ServiceNotRunning, HsmErrorKind.ConnectionError,
                $"Nothing accepts connections for {service} on module {module.Esn} ({module.Endpoint(service)}). " +
                "The service may not be running (a module in recovery mode runs no ncoreapi).", module.Esn, inner);
    }
}
