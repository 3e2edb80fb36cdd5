using System;
using System.Collections.Generic;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>What a module says about itself (<see cref="IModuleSession.GetIdentityAsync"/>): filled in by an adapter.</summary>
    public sealed class ModuleIdentity
    {
        /// <summary>The ESN the module reports (the engine refuses a module that names another ESN than its address).</summary>
        public string Esn { get; set; } = "";
        public ModuleMode Mode { get; set; }
        public bool Enrolled { get; set; }
        public string FirmwareVersion { get; set; } = "";
        /// <summary>The module's identity key (signs the warrant chain's certificates); null when it reports none.</summary>
        public SshPublicKey? IdentityKey { get; set; }
        /// <summary>The vendor's warrant for <see cref="IdentityKey"/>, base64, as the module sent it: the trust chain reads it as is.</summary>
        public string Warrant { get; set; } = "";
        /// <summary>Server key of each service the module runs.</summary>
        public Dictionary<string, SshPublicKey> ServerKeys { get; } = new Dictionary<string, SshPublicKey>();
        /// <summary>Certificate of each service's server key (base64), signed by the identity key.</summary>
        public Dictionary<string, string> Certificates { get; } = new Dictionary<string, string>();
        /// <summary>The module's clock as it reports it (null when it reports none).</summary>
        public DateTimeOffset? Clock { get; set; }
        /// <summary>
        /// False when the module's clock is invalid. Firmware 13.5+ refuses SSH key changes outside Recovery mode then. An
        /// adapter whose module does not say treats a clock before <see cref="EarliestValidClock"/> as invalid.
        /// </summary>
        public bool ClockValid { get; set; } = true;

        /// <summary>A module clock before this is unset (a module whose clock was lost counts from 1970).</summary>
        public static readonly DateTimeOffset EarliestValidClock = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

        // Firmware images, VSN, ncoreapi and the log key (issue 22 items 3, 4 and 6); null/empty when the module reports none.
        /// <summary>Version of the recovery image (<see cref="FirmwareVersion"/> is the primary image's).</summary>
        public string RecoveryFirmwareVersion { get; set; } = "";
        /// <summary>Version Security Number of the primary and the recovery image.</summary>
        public int? FirmwareVsn { get; set; }
        public int? RecoveryFirmwareVsn { get; set; }
        /// <summary>The lowest VSN the module accepts in a firmware package (hsmadmin setminvsn raises it).</summary>
        public int? MinimumVsn { get; set; }
        /// <summary>True while ncoreapi is operational (the hardserver holds a session): the module refuses changes then.</summary>
        public bool? NCoreApiOperational { get; set; }
        /// <summary>The key the module signs its log entries with, and its certificate by <see cref="IdentityKey"/> (service "log").</summary>
        public SshPublicKey? LogKey { get; set; }
        public string LogKeyCertificate { get; set; } = "";
    }

    /// <summary>What a module reported when its clock was set (<see cref="IModuleSession.SetTimeAsync"/>).</summary>
    public sealed class ModuleClockChange
    {
        /// <summary>The module's clock before the change, and whether it was valid then.</summary>
        public DateTimeOffset? ClockBefore { get; set; }
        public bool ClockValidBefore { get; set; }
        /// <summary>The module's clock when it answered: the new time after a step, still near the old one while slewing.</summary>
        public DateTimeOffset? ClockAfter { get; set; }
        /// <summary>True when the module slews (adjust) rather than steps.</summary>
        public bool Adjusted { get; set; }
        /// <summary>The correction the module is still slewing (zero after a step).</summary>
        public TimeSpan RemainingAdjustment { get; set; }
        public ModuleMode Mode { get; set; }
    }

    /// <summary>A module's mode, as it reports it.</summary>
    public enum ModuleMode
    {
        Operational,
        FactoryState,
        Recovery,
    }

    /// <summary>One command a module served, as its log keeps it (<see cref="IModuleSession.GetLogsAsync"/>).</summary>
    public sealed class ModuleLogRecord
    {
        public ModuleLogRecord(DateTimeOffset time, string service, string command, string keyFingerprint, string outcome)
        {
            Time = time; Service = service; Command = command; KeyFingerprint = keyFingerprint; Outcome = outcome;
        }

        public DateTimeOffset Time { get; }
        public string Service { get; }
        /// <summary>The module's name for what it served (the module action).</summary>
        public string Command { get; }
        /// <summary>SHA256 fingerprint of the client key that authenticated the session.</summary>
        public string KeyFingerprint { get; }
        /// <summary>"ok", or what the command ended with (the module's error code).</summary>
        public string Outcome { get; }
        /// <summary>The module's sequence number of the entry (null when the module numbers none); issue 22 item 4.</summary>
        public long? Sequence { get; set; }
        /// <summary>The module's log key's signature over the entry (<see cref="ModuleLogSigning"/>); null when unsigned.</summary>
        public byte[]? Signature { get; set; }
        /// <summary>Who signed the entry (the same object for every entry of one read); null when the module says nothing.</summary>
        public ModuleLogSigner? Signer { get; set; }
    }
}
