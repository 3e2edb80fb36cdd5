using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>
    /// Request bodies of the firmware protocol (docs/firmware-protocol.md), built in one place. Every public key sent to a
    /// module goes through <see cref="KeyOnly"/>: only "type base64", never a comment or options (a comment is free text
    /// from a key file or backup and could carry a newline, i.e. a second authorized_keys line).
    /// </summary>
    internal static class FirmwareBodies
    {
        public static string Enroll(IReadOnlyDictionary<string, SshPublicKey> clientKeys) =>
            JsonSerializer.Serialize(
                new EnrollRequest { ClientKeys = clientKeys.ToDictionary(kv => kv.Key, kv => KeyOnly(kv.Value)) },
                FirmwareJson.Default.EnrollRequest);

        public static string AddKey(string service, SshPublicKey key) =>
            JsonSerializer.Serialize(new KeysAddRequest { Service = service, PublicKey = KeyOnly(key) }, FirmwareJson.Default.KeysAddRequest);

        public static string RemoveKey(string service, string fingerprint) =>
            JsonSerializer.Serialize(new KeysRemoveRequest { Service = service, Fingerprint = fingerprint }, FirmwareJson.Default.KeysRemoveRequest);

        public static string SetKeys(string service, IEnumerable<SshPublicKey> keys) =>
            JsonSerializer.Serialize(
                new KeysSetRequest { Service = service, PublicKeys = keys.Select(KeyOnly).ToList() },
                FirmwareJson.Default.KeysSetRequest);

        /// <summary>"type base64" of a public key line: options and comment dropped (the key is parsed and checked, so
        /// nothing else survives).</summary>
        public static string KeyOnly(string publicKeyLine) => KeyOnly(SshPublicKey.Parse(publicKeyLine));

        public static string KeyOnly(SshPublicKey key) => key.KeyType + " " + System.Convert.ToBase64String(key.Blob);

        public static string FactoryState(int timeoutSeconds) =>
            JsonSerializer.Serialize(new FactoryStateRequest { TimeoutSeconds = timeoutSeconds }, FirmwareJson.Default.FactoryStateRequest);

        public static string Logs(DateTimeOffset? since, int? tail) =>
            JsonSerializer.Serialize(new LogsRequest { Since = since, Tail = tail }, FirmwareJson.Default.LogsRequest);

        /// <summary>The protocol's time format (UTC, milliseconds): identity's clock and settime's times.</summary>
        public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

        public static string SetTime(DateTimeOffset utcNow, bool adjust) =>
            JsonSerializer.Serialize(new SetTimeRequest
            {
                Time = utcNow.UtcDateTime.ToString(TimeFormat, System.Globalization.CultureInfo.InvariantCulture),
                Adjust = adjust,
            }, FirmwareJson.Default.SetTimeRequest);

        public static string Reboot(bool recovery) =>
            JsonSerializer.Serialize(new RebootRequest { Recovery = recovery }, FirmwareJson.Default.RebootRequest);

        /// <summary>A protocol time (UTC, ISO 8601); null when absent or unreadable.</summary>
        public static DateTimeOffset? ParseTime(string? text) =>
            !string.IsNullOrEmpty(text) && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t)
                ? t : (DateTimeOffset?)null;

        public static ModuleClockChange ParseSetTime(string esn, FirmwareResult reply)
        {
            var r = Read(reply.Result, FirmwareJson.Default.SetTimeResult, FirmwareVerbs.SetTime, esn);
            var after = ParseTime(r.Clock) ?? throw Malformed(FirmwareVerbs.SetTime, esn, "'clock' is missing or not a time");
            if (r.Mode is not ModuleMode mode || !Enum.IsDefined(typeof(ModuleMode), mode))
                throw Malformed(FirmwareVerbs.SetTime, esn, "'mode' is missing or not a mode of this protocol");
            return new ModuleClockChange
            {
                ClockBefore = ParseTime(r.ClockBefore), ClockValidBefore = r.ClockValidBefore, ClockAfter = after,
                Adjusted = r.Adjusted, RemainingAdjustment = TimeSpan.FromMilliseconds(r.AdjustmentMs), Mode = mode,
            };
        }

        public static ModuleMode ParseReboot(string esn, FirmwareResult reply)
        {
            var r = Read(reply.Result, FirmwareJson.Default.RebootResult, FirmwareVerbs.Reboot, esn);
            return r.Mode is ModuleMode mode && Enum.IsDefined(typeof(ModuleMode), mode)
                ? mode : throw Malformed(FirmwareVerbs.Reboot, esn, "'mode' is missing or not a mode of this protocol");
        }

        /// <summary>Reads a result as the protocol type; a result of the wrong shape is ProtocolError.</summary>
        public static T Read<T>(JsonElement result, JsonTypeInfo<T> type, string verb, string esn) where T : class
        {
            try
            {
                if (result.ValueKind != JsonValueKind.Object) throw new JsonException("the result is not an object");
                return result.Deserialize(type) ?? throw new JsonException("the result is null");
            }
            catch (Exception ex) when (ex is JsonException || ex is InvalidOperationException || ex is NotSupportedException)
            {
                throw Malformed(verb, esn, ex.Message);
            }
        }

        internal static HsmException Malformed(string verb, string esn, string why) =>
            new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                $"Module {esn} sent a {verb} reply that does not follow the firmware protocol: {FirmwareResult.Printable(why, 300)}.", esn);

        /// <summary>Parses a keys.list reply into service -> fingerprints installed; a reply of the wrong shape is ProtocolError.</summary>
        private static readonly System.Text.RegularExpressions.Regex Sha256Fingerprint =
            new System.Text.RegularExpressions.Regex("^SHA256:[A-Za-z0-9+/]{43}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        public static Dictionary<string, HashSet<string>> ParseKeyList(JsonElement reply, string esn = "")
        {
            var result = Read(reply, FirmwareJson.Default.KeysResult, FirmwareVerbs.KeysList, esn);
            if (result.Keys == null) throw Malformed(FirmwareVerbs.KeysList, esn, "'keys' is missing");
            var map = new Dictionary<string, HashSet<string>>();
            foreach (var svc in result.Keys)
            {
                if (svc.Value == null)
                    throw Malformed(FirmwareVerbs.KeysList, esn, $"'keys.{FirmwareResult.Printable(svc.Key, 20)}' is not an array");
                // Fingerprints reach the user's console (Get-HsmSshKey -Module): only well-formed ones, a bounded number.
                if (!ModuleServices.All.Contains(svc.Key))
                    throw Malformed(FirmwareVerbs.KeysList, esn, $"'keys.{FirmwareResult.Printable(svc.Key, 20)}' is not a service");
                if (svc.Value.Count > FirmwareProtocol.MaxKeysPerService)
                    throw Malformed(FirmwareVerbs.KeysList, esn, $"'keys.{svc.Key}' lists more than {FirmwareProtocol.MaxKeysPerService} keys");
                var set = new HashSet<string>();
                foreach (var k in svc.Value)
                {
                    if (k?.Fingerprint == null) throw Malformed(FirmwareVerbs.KeysList, esn, "a key entry has no 'fingerprint' string");
                    if (!Sha256Fingerprint.IsMatch(k.Fingerprint))
                        throw Malformed(FirmwareVerbs.KeysList, esn, $"'keys.{svc.Key}' has a fingerprint that is not SHA256:<43 base64 characters>");
                    set.Add(k.Fingerprint);
                }
                map[svc.Key] = set;
            }
            return map;
        }

        /// <summary>
        /// Reads an identity result. Every field the host relies on must be there with its protocol type; a missing or
        /// mistyped field, or a key that does not parse (bad blob, degenerate RSA, point off the curve), is ProtocolError.
        /// </summary>
        public static ModuleIdentity ParseIdentity(string esn, FirmwareResult reply)
        {
            var r = Read(reply.Result, FirmwareJson.Default.IdentityResult, FirmwareVerbs.Identity, esn);
            try
            {
                var id = new ModuleIdentity
                {
                    Esn = Required(r.Esn, "esn"),
                    Mode = r.Mode is ModuleMode mode && Enum.IsDefined(typeof(ModuleMode), mode)
                        ? mode : throw new FormatException("'mode' is missing or not a mode of this protocol"),
                    Enrolled = r.Enrolled,
                    // Module text reaches the terminal and the signed trust report: printable and bounded.
                    FirmwareVersion = ModuleErrors.Printable(r.FirmwareVersion ?? "", 40),
                };
                if (!string.IsNullOrEmpty(r.IdentityKey)) id.IdentityKey = SshPublicKey.Parse(r.IdentityKey!);
                id.Warrant = r.Warrant ?? "";
                if (ParseTime(r.Clock) is DateTimeOffset parsed) id.Clock = parsed;
                if (r.ClockValid is bool valid)
                    id.ClockValid = valid;
                else if (id.Clock != null)
                    id.ClockValid = id.Clock.Value >= ModuleIdentity.EarliestValidClock;
                if (r.ServerKeys == null) throw new FormatException("'serverKeys' is missing or not an object");
                foreach (var svc in r.ServerKeys)
                {
                    if (!ModuleServices.IsKnown(svc.Key)) continue;
                    if (svc.Value == null) throw new FormatException($"'serverKeys.{svc.Key}' is not an object");
                    id.ServerKeys[svc.Key] = SshPublicKey.Parse(Required(svc.Value.PublicKey, "publicKey"));
                    if (!string.IsNullOrEmpty(svc.Value.Certificate)) id.Certificates[svc.Key] = svc.Value.Certificate!;
                }
                FirmwareUpdateBodies.ReadIdentityAdditions(r, id);
                return id;
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {esn} sent an identity that cannot be read ({FirmwareResult.Printable(ex.Message, 300)}).", esn, ex);
            }
        }

        private static string Required(string? value, string name) =>
            value ?? throw new FormatException($"'{name}' is missing or not a string");

        /// <summary>Reads a logs result: at most as many entries as asked for, each with every field; ProtocolError otherwise.</summary>
        public static IReadOnlyList<ModuleLogRecord> ParseLogs(string esn, FirmwareResult reply, int? tail)
        {
            var result = Read(reply.Result, FirmwareJson.Default.LogsResult, FirmwareVerbs.Logs, esn);
            if (result.Entries == null) throw Malformed(FirmwareVerbs.Logs, esn, "'entries' is missing");
            int cap = tail ?? FirmwareProtocol.MaxLogEntries;
            if (result.Entries.Count > cap)
                throw Malformed(FirmwareVerbs.Logs, esn, $"it holds {result.Entries.Count} entries, more than the {cap} asked for");
            var records = new List<ModuleLogRecord>(result.Entries.Count);
            ModuleLogSigner? signer = null;
            try
            {
                if (!string.IsNullOrEmpty(result.LogKey))
                    signer = new ModuleLogSigner
                    {
                        LogKey = SshPublicKey.Parse(result.LogKey!), LogKeyCertificate = result.LogKeyCertificate ?? "",
                        IdentityKey = string.IsNullOrEmpty(result.IdentityKey) ? null : SshPublicKey.Parse(result.IdentityKey!),
                        Warrant = result.Warrant ?? "",
                    };
            }
            catch (HsmException) { signer = null; } // an unreadable signer leaves every entry unverified, never dropped
            foreach (var e in result.Entries)
            {
                if (e == null || e.Service == null || e.Verb == null || e.KeyFingerprint == null || e.Outcome == null)
                    throw Malformed(FirmwareVerbs.Logs, esn, "an entry lacks time, service, verb, keyFingerprint or outcome");
                byte[]? signature = null;
                if (e.Signature != null)
                {
                    try { signature = Convert.FromBase64String(e.Signature); }
                    catch (FormatException) { signature = new byte[0]; } // shown as not verified, never dropped
                }
                records.Add(new ModuleLogRecord(e.Time, e.Service, e.Verb, e.KeyFingerprint, e.Outcome)
                {
                    Sequence = e.Seq, Signature = signature, Signer = signer,
                });
            }
            return records;
        }
    }
}
