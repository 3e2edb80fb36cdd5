using System;
using System.Collections.Generic;
using System.Text.Json.Serialization;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    // Request bodies and reply results of protocol version 1 (docs/firmware-protocol.md). Names are camelCase on the
    // wire (FirmwareJson). The host serialises requests and reads results with these types; the firmware does the
    // reverse. Unknown fields are ignored; a field of the wrong type fails the whole read (the host: ProtocolError).

    /// <summary>enroll: every service's client key, "type base64".</summary>
    public sealed class EnrollRequest
    {
        public Dictionary<string, string>? ClientKeys { get; set; }
    }

    /// <summary>keys.add.</summary>
    public sealed class KeysAddRequest
    {
        public string? Service { get; set; }
        public string? PublicKey { get; set; }
    }

    /// <summary>keys.remove.</summary>
    public sealed class KeysRemoveRequest
    {
        public string? Service { get; set; }
        public string? Fingerprint { get; set; }
    }

    /// <summary>keys.set: the service's whole new key set.</summary>
    public sealed class KeysSetRequest
    {
        public string? Service { get; set; }
        public List<string>? PublicKeys { get; set; }
    }

    /// <summary>factorystate.</summary>
    public sealed class FactoryStateRequest
    {
        public int? TimeoutSeconds { get; set; }
    }

    /// <summary>logs: entries at or after Since, then the last Tail of them (both optional).</summary>
    public sealed class LogsRequest
    {
        public DateTimeOffset? Since { get; set; }
        public int? Tail { get; set; }
    }

    /// <summary>settime: the host's UTC time now; adjust slews the clock towards it instead of stepping it.</summary>
    public sealed class SetTimeRequest
    {
        /// <summary>UTC, ISO 8601 (yyyy-MM-ddTHH:mm:ss.fffZ).</summary>
        public string? Time { get; set; }
        public bool? Adjust { get; set; }
    }

    /// <summary>settime.</summary>
    public sealed class SetTimeResult
    {
        public string? Esn { get; set; }
        public ModuleMode? Mode { get; set; }
        /// <summary>The module's clock before the change (UTC), and whether it was valid.</summary>
        public string? ClockBefore { get; set; }
        public bool ClockValidBefore { get; set; }
        /// <summary>The module's clock when it answered (UTC): stepped already, or still slewing.</summary>
        public string? Clock { get; set; }
        public bool Adjusted { get; set; }
        /// <summary>The correction still being slewed, in milliseconds (0 after a step).</summary>
        public long AdjustmentMs { get; set; }
    }

    /// <summary>reboot: recovery asks the module to boot its recovery image (what holding the recovery button does).</summary>
    public sealed class RebootRequest
    {
        public bool? Recovery { get; set; }
    }

    /// <summary>reboot: the module answers, then restarts.</summary>
    public sealed class RebootResult
    {
        public string? Esn { get; set; }
        public ModuleMode? Mode { get; set; }
        public bool Recovery { get; set; }
    }

    /// <summary>One service's server key in identity.</summary>
    public sealed class ServerKeyInfo
    {
        public string? PublicKey { get; set; }
        public string? Certificate { get; set; }
        public bool Running { get; set; }
    }

    /// <summary>identity.</summary>
    public sealed class IdentityResult
    {
        public string? Esn { get; set; }
        public ModuleMode? Mode { get; set; }
        public bool Enrolled { get; set; }
        public string? FirmwareVersion { get; set; }
        public int Protocol { get; set; }
        public string? IdentityKey { get; set; }
        public string? Warrant { get; set; }
        public Dictionary<string, ServerKeyInfo>? ServerKeys { get; set; }
        /// <summary>UTC, yyyy-MM-ddTHH:mm:ssZ.</summary>
        public string? Clock { get; set; }
        public bool? ClockValid { get; set; }
        // Issue 22 items 3, 4 and 6: firmware images and VSN, the ncoreapi interlock, the log signing key.
        public FirmwareInfo? Firmware { get; set; }
        public bool? NcoreapiOperational { get; set; }
        public string? LogKey { get; set; }
        public string? LogKeyCertificate { get; set; }
    }

    /// <summary>One installed client key.</summary>
    public sealed class KeyEntry
    {
        public string? PublicKey { get; set; }
        public string? Fingerprint { get; set; }
    }

    /// <summary>keys.list; keys.add, keys.remove and keys.set answer the same with the changed service only.</summary>
    public sealed class KeysResult
    {
        public string? Service { get; set; }
        public string? Fingerprint { get; set; }
        public bool? Changed { get; set; }
        public Dictionary<string, List<KeyEntry>>? Keys { get; set; }
    }

    /// <summary>enroll.</summary>
    public sealed class EnrollResult
    {
        public string? Esn { get; set; }
        public ModuleMode? Mode { get; set; }
        public bool Enrolled { get; set; }
        /// <summary>service → fingerprint installed.</summary>
        public Dictionary<string, string>? Installed { get; set; }
    }

    /// <summary>factorystate.</summary>
    public sealed class FactoryStateResult
    {
        public string? Esn { get; set; }
        public ModuleMode? Mode { get; set; }
        public int TimeoutSeconds { get; set; }
    }

    /// <summary>ping.</summary>
    public sealed class PingResult
    {
        public string? Esn { get; set; }
        public string? Service { get; set; }
        public ModuleMode? Mode { get; set; }
    }

    /// <summary>One command the module served, as its log keeps it.</summary>
    public sealed class LogRecord
    {
        public DateTimeOffset Time { get; set; }
        public string? Service { get; set; }
        public string? Verb { get; set; }
        /// <summary>SHA256 fingerprint of the client key that authenticated the session.</summary>
        public string? KeyFingerprint { get; set; }
        /// <summary>"ok" or the error code the command ended with.</summary>
        public string? Outcome { get; set; }
        /// <summary>Issue 22 item 4: the module's sequence number and its log key's signature (base64) over the entry.</summary>
        public long? Seq { get; set; }
        public string? Signature { get; set; }
    }

    /// <summary>logs: oldest first.</summary>
    public sealed class LogsResult
    {
        public List<LogRecord>? Entries { get; set; }
        /// <summary>Issue 22 item 4: the log key, its certificate, and the identity key and warrant it chains through.</summary>
        public string? LogKey { get; set; }
        public string? LogKeyCertificate { get; set; }
        public string? IdentityKey { get; set; }
        public string? Warrant { get; set; }
    }

    /// <summary>The outcome a log entry records for a command that succeeded (otherwise the error code it ended with).</summary>
    public static class LogOutcomes
    {
        public const string Ok = "ok";
    }

    /// <summary>Source-generated (trim- and Native-AOT-safe) serialisation of every protocol type.</summary>
    [JsonSourceGenerationOptions(
        PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UseStringEnumConverter = true)]
    [JsonSerializable(typeof(EnrollRequest))]
    [JsonSerializable(typeof(KeysAddRequest))]
    [JsonSerializable(typeof(KeysRemoveRequest))]
    [JsonSerializable(typeof(KeysSetRequest))]
    [JsonSerializable(typeof(FactoryStateRequest))]
    [JsonSerializable(typeof(LogsRequest))]
    [JsonSerializable(typeof(IdentityResult))]
    [JsonSerializable(typeof(KeysResult))]
    [JsonSerializable(typeof(EnrollResult))]
    [JsonSerializable(typeof(FactoryStateResult))]
    [JsonSerializable(typeof(PingResult))]
    [JsonSerializable(typeof(LogsResult))]
    [JsonSerializable(typeof(SetTimeRequest))]
    [JsonSerializable(typeof(SetTimeResult))]
    [JsonSerializable(typeof(RebootRequest))]
    [JsonSerializable(typeof(RebootResult))]
    // Issue 22 items 3 and 6 (FirmwareMessages.Firmware.cs)
    [JsonSerializable(typeof(FirmwareChunkRequest))]
    [JsonSerializable(typeof(FirmwareChunkResult))]
    [JsonSerializable(typeof(FirmwareInstallRequest))]
    [JsonSerializable(typeof(FirmwareInstallResult))]
    [JsonSerializable(typeof(SetMinVsnRequest))]
    [JsonSerializable(typeof(SetMinVsnResult))]
    [JsonSerializable(typeof(LogsClearRequest))]
    [JsonSerializable(typeof(LogsClearResult))]
    public sealed partial class FirmwareJson : JsonSerializerContext
    {
    }
}
