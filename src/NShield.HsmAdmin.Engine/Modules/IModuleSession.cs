using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>
    /// One authenticated session with one service of one module: the module actions the product uses, typed. Operations
    /// call only this interface; a module protocol is an adapter that implements it (the built-in one,
    /// <c>Protocol.JsonExecSession</c>, runs JSON verbs as SSH exec commands). A transport
    /// (<see cref="Drivers.IModuleTransport"/>) opens sessions; the engine checks <see cref="ServerKey"/> against its pin
    /// before it calls any method.
    /// </summary>
    /// <remarks>
    /// Every method raises <see cref="HsmException"/> (ids from <see cref="HsmErrorIds"/>) and nothing else: a module's
    /// refusal is a <see cref="ModuleErrorException"/>, a reply that breaks the protocol is <c>ProtocolError</c>, a lost
    /// connection <c>ConnectionFailed</c>, a stop <c>Cancelled</c>. Key-changing methods are refused with
    /// <c>ModuleClockInvalid</c> when the module's clock is invalid outside Recovery mode (<see cref="ModuleErrors.ClockInvalid"/>).
    /// Methods only the sshadmin service serves (keys, enroll, factory state) and the monitor service serves (logs) are
    /// refused by the module on other services. Module actions (set time, reboot, firmware update) are added here, in every
    /// adapter, and in the simulator; the engine bounds each by the host's module timeout (-Timeout).
    /// </remarks>
    public interface IModuleSession : IDisposable
    {
        /// <summary>The ESN the host enumerates at this address (the module's own claim is <see cref="ModuleIdentity.Esn"/>).</summary>
        string Esn { get; }
        /// <summary>The service this session is authenticated to (<see cref="ModuleServices"/>).</summary>
        string Service { get; }
        /// <summary>The server key the module presented for this service. The engine compares it with the pin.</summary>
        SshPublicKey ServerKey { get; }

        /// <summary>Who the module is: ESN, mode, firmware, identity key and warrant, server keys and certificates, clock.</summary>
        Task<ModuleIdentity> GetIdentityAsync(CancellationToken cancellationToken);

        /// <summary>Proves the session end to end: the module answers on this service.</summary>
        Task PingAsync(CancellationToken cancellationToken);

        /// <summary>Client keys installed on the module: service → SHA256 fingerprints (sshadmin only).</summary>
        Task<IReadOnlyDictionary<string, IReadOnlyCollection<string>>> ListKeysAsync(CancellationToken cancellationToken);

        /// <summary>Installs one more client key for a service (sshadmin only). Installing a key it holds changes nothing.</summary>
        Task AddKeyAsync(string service, SshPublicKey key, CancellationToken cancellationToken);

        /// <summary>Removes a service's client key by fingerprint (sshadmin only). The module refuses to remove its last sshadmin key.</summary>
        Task RemoveKeyAsync(string service, string fingerprint, CancellationToken cancellationToken);

        /// <summary>Replaces a service's whole client key set (sshadmin only); an empty set leaves the service without keys.</summary>
        Task SetKeysAsync(string service, IReadOnlyList<SshPublicKey> keys, CancellationToken cancellationToken);

        /// <summary>
        /// Enrolls a factory-state (or recovery) module: installs one client key per service and replaces the factory
        /// credential (sshadmin only).
        /// </summary>
        Task EnrollAsync(IReadOnlyDictionary<string, SshPublicKey> clientKeys, CancellationToken cancellationToken);

        /// <summary>Returns the module to factory state; it answers before it restarts, within the given seconds (sshadmin only).</summary>
        Task ReturnToFactoryStateAsync(int timeoutSeconds, CancellationToken cancellationToken);

        /// <summary>The module's log of served commands, oldest first: at or after <paramref name="since"/>, the last
        /// <paramref name="tail"/> (monitor only).</summary>
        Task<IReadOnlyList<ModuleLogRecord>> GetLogsAsync(DateTimeOffset? since, int? tail, CancellationToken cancellationToken);

        // Clock and reboot (issue 22: hsmadmin settime, hsmadmin reset)

        /// <summary>
        /// Sets the module's clock to <paramref name="utcNow"/> (the host's UTC time), sshadmin only. Without
        /// <paramref name="adjust"/> the clock is stepped, which the module allows only in maintenance, factory state or
        /// Recovery mode (the first setting of an invalid clock); with it the module slews its (valid) clock gradually while
        /// operational. A refusal is <c>ModuleClockNotSettable</c>.
        /// </summary>
        Task<ModuleClockChange> SetTimeAsync(DateTimeOffset utcNow, bool adjust, CancellationToken cancellationToken);

        /// <summary>
        /// Reboots the module (sshadmin only): it answers, then restarts; the session is unusable afterwards. With
        /// <paramref name="recovery"/> it boots its recovery image (as with the recovery button held), which returns it to
        /// factory state with new server keys. Returns the mode the module reported before restarting.
        /// </summary>
        Task<ModuleMode> RebootAsync(bool recovery, CancellationToken cancellationToken);
        // Firmware over the updater service (issue 22 item 3)

        /// <summary>
        /// Sends a firmware package (updater only) and has the module install it: the module checks the vendor's signature
        /// (<c>FirmwareSignatureInvalid</c>), the VSN against its minimum (<c>FirmwareVsnTooLow</c>) and the whole package
        /// (<c>FirmwarePackageInvalid</c>) before it changes anything, then restarts. An adapter may send it in parts; a
        /// refused package leaves nothing on the module.
        /// </summary>
        Task<FirmwareInstallOutcome> UpdateFirmwareAsync(System.IO.Stream package, long length, CancellationToken cancellationToken);

        /// <summary>
        /// Raises the module's minimum VSN (updater only); never above the installed firmware's VSN nor below the current minimum
        /// (<c>MinimumVsnInvalid</c>).
        /// </summary>
        Task<int> SetMinimumVsnAsync(int vsn, CancellationToken cancellationToken);

        // Logs the vendor's way (issue 22 item 4)

        /// <summary>
        /// Clears the log entries numbered <paramref name="fromSequence"/> to <paramref name="throughSequence"/> (monitor only), and
        /// only those: entries the module wrote since they were read stay. Refused while ncoreapi is operational.
        /// </summary>
        Task<ModuleLogClearOutcome> ClearLogsAsync(long fromSequence, long throughSequence, CancellationToken cancellationToken);
    }
}
