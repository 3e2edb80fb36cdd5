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
        /// <summary>
        /// A pinned server key differs from the one presented. The message says what to check and which commands change a
        /// pin; it never offers the presented key as something to accept (issue 16: no ready-to-paste -AcceptFingerprint).
        /// </summary>
        public static HsmException ServerKeyChanged(ModuleAddress module, string service, ServerKeyPolicy policy, SshPublicKey presented)
        {
            var ex = ServerKeyChanged(module, service, policy,
                $"Module {module.Esn} presented a different {service} server key than the one pinned for it at {module.Endpoint(service)}: " +
                $"pinned {policy.Expected!.Fingerprint}, presented {presented.Fingerprint}. ");
            // The trust report (Export-HsmTrustReport) shows what was presented beside the pin.
            ex.Data[PresentedFingerprintKey] = presented.Fingerprint;
            return ex;
        }

        /// <summary>Exception.Data key of a ServerKeyChanged error: the fingerprint of the key the module presented (public).</summary>
        public const string PresentedFingerprintKey = "PresentedFingerprint";

        /// <summary>
        /// The module offers only server keys of another type than the pinned one (the host restricts the negotiation
        /// to the pin's type, so the handshake found no common host-key algorithm): the key changed, as above.
        /// </summary>
        public static HsmException ServerKeyTypeChanged(ModuleAddress module, string service, ServerKeyPolicy policy, string presentedTypes) =>
            ServerKeyChanged(module, service, policy,
                $"Module {module.Esn} presented a {service} server key of another type than the one pinned for it at {module.Endpoint(service)}: " +
                $"pinned {policy.Expected!.KeyType} {policy.Expected.Fingerprint}, the module offers only {presentedTypes} keys. ");

        private static HsmException ServerKeyChanged(ModuleAddress module, string service, ServerKeyPolicy policy, string what) =>
            new HsmException(HsmErrorIds.ServerKeyChanged, HsmErrorKind.SecurityError,
                what + "The connection was closed before authentication and nothing was sent. Treat this as an attack until you know otherwise " +
                "(what to check: the error's ErrorDetails.RecommendedAction).", module.Esn)
            {
                RecommendedAction =
                    "Check on the module itself: compare the server keys it displays with the presented one, " +
                    "and find out whether it was returned to factory state or booted in recovery mode. " +
                    "If it was, and this host has the vendor's trusted root, run Invoke-HsmEnroll: " +
                    "it re-pins only keys the vendor chain vouches for " +
                    $"(to start over on purpose: Reset-HsmModule -Esn {module.Esn}, or the module's recovery button, then Invoke-HsmEnroll). " +
                    "If the module's own display shows the presented key and you intend to trust it, " +
                    $"Update-HsmServerKeyPin -Esn {module.Esn} shows the old and new " +
                    "keys of every service and asks before it re-pins. Invoke-HsmEnroll -AcceptFingerprint never replaces a pin. " +
                    $"The pin is kept in {policy.PinLocation} (host name nshield-{module.Esn}-{service}).",
            };

        public static HsmException KeyRefused(ModuleAddress module, string service, Exception? inner = null) =>
            new HsmException(HsmErrorIds.AuthenticationFailed, HsmErrorKind.AuthenticationError,
                $"The module refused this host's {service} client key ({service} on module {module.Esn}, {module.Endpoint(service)}). " +
                "If the module was returned to factory state, run Invoke-HsmEnroll; if the " +
                "host's keys were lost, restore them with Restore-HsmSshKey.",
                module.Esn, inner);

        public static HsmException NotRunning(ModuleAddress module, string service, Exception? inner = null) =>
            new HsmException(HsmErrorIds.ServiceNotRunning, HsmErrorKind.ConnectionError,
                $"Nothing accepts connections for {service} on module {module.Esn} ({module.Endpoint(service)}). " +
                "The service may not be running, or the module may be off or unreachable from this host.", module.Esn, inner);
    }
}
