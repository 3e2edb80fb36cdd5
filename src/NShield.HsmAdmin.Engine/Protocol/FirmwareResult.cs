using System;
using System.Text.Json;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>The "result" of a successful firmware reply (see docs/firmware-protocol.md).</summary>
    internal sealed class FirmwareResult
    {
        public FirmwareResult(JsonElement result) { Result = result; }
        public JsonElement Result { get; }

        public string GetString(string name) =>
            Result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

        /// <summary>
        /// Parses one reply line. A failed reply becomes a typed error carrying the firmware's code, so
        /// callers branch on ids, never on message text.
        /// </summary>
        public static FirmwareResult Parse(string esn, string service, string verb, string? stdout, int? exitStatus)
        {
            var line = (stdout ?? "").Trim();
            if (line.Length == 0)
                throw new HsmException(HsmErrorIds.ConnectionFailed, HsmErrorKind.ConnectionError,
                    $"Module {esn} closed the {service} channel during '{verb}' without replying (exit status {exitStatus?.ToString() ?? "none"}). " +
                    "The operation may or may not have taken effect on the module; run the command again to complete it.", esn);
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException)
            {
                throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {esn} sent a reply on {service} that is not valid JSON for '{verb}'.", esn);
            }
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Malformed(esn, service, verb, "the reply is not a JSON object");
            CheckProtocol(esn, service, verb, root);
            if (!root.TryGetProperty("ok", out var ok) || (ok.ValueKind != JsonValueKind.True && ok.ValueKind != JsonValueKind.False))
                throw Malformed(esn, service, verb, "'ok' is missing or not true/false");
            if (ok.ValueKind == JsonValueKind.True)
            {
                if (!root.TryGetProperty("result", out var r) || r.ValueKind != JsonValueKind.Object)
                    throw Malformed(esn, service, verb, "'result' is missing or not an object");
                return new FirmwareResult(r.Clone());
            }
            string code = "E_UNKNOWN", message = "";
            if (!root.TryGetProperty("error", out var err) || err.ValueKind != JsonValueKind.Object)
                throw Malformed(esn, service, verb, "a failed reply has no 'error' object");
            if (!err.TryGetProperty("code", out var c) || c.ValueKind != JsonValueKind.String)
                throw Malformed(esn, service, verb, "the error 'code' is missing or not a string");
            code = Printable(c.GetString()!, 40);
            if (err.TryGetProperty("message", out var m))
            {
                if (m.ValueKind != JsonValueKind.String) throw Malformed(esn, service, verb, "the error 'message' is not a string");
                message = Printable(m.GetString()!, 500);
            }
            if (code == FirmwareErrorCodes.Clock)
                throw ModuleErrors.ClockInvalid(esn, $"'{verb}'", "the module refused: " + (message.Length > 0 ? message : code));
            var typed = FirmwareRefusals.Map(esn, verb, code, message);
            if (typed != null) throw typed;
            throw new ModuleErrorException(esn, service, verb, KindOf(code), code, message);
        }

        /// <summary>The protocol major version this host speaks (docs/firmware-protocol.md).</summary>
        public const int ProtocolMajorVersion = FirmwareProtocol.Version;

        /// <summary>
        /// "protocol" must be a number whose integer part (the major version) is <see cref="ProtocolMajorVersion"/>;
        /// a fractional part is a minor version, which only adds fields, and is accepted.
        /// </summary>
        private static void CheckProtocol(string esn, string service, string verb, JsonElement root)
        {
            if (!root.TryGetProperty("protocol", out var p) || p.ValueKind != JsonValueKind.Number || !p.TryGetDouble(out var version))
                throw Malformed(esn, service, verb, "'protocol' is missing or not a number");
            var major = Math.Floor(version);
            if (major != ProtocolMajorVersion)
                throw new HsmException(HsmErrorIds.ProtocolVersionUnsupported, HsmErrorKind.InvalidData,
                    $"Module {esn} answered '{verb}' on {service} in firmware protocol version {Printable(p.GetRawText(), 20)}; this host speaks " +
                    $"major version {ProtocolMajorVersion} only, so the reply was not used. Update NShield.HsmAdmin or the module's firmware.", esn);
        }

        internal static HsmException Malformed(string esn, string service, string verb, string why) =>
            new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                $"Module {esn} sent a reply to '{verb}' on {service} that does not follow the firmware protocol: {why}.", esn);

        /// <summary>Module text going into our messages: printable ASCII only, bounded.</summary>
        internal static string Printable(string text, int max) => ModuleErrors.Printable(text, max);

        private static HsmErrorKind KindOf(string code) => code switch
        {
            FirmwareErrorCodes.Credential => HsmErrorKind.PermissionDenied,
            FirmwareErrorCodes.Mode => HsmErrorKind.InvalidOperation,
            FirmwareErrorCodes.BadRequest or FirmwareErrorCodes.TooLarge or FirmwareErrorCodes.UnknownCommand
                or FirmwareErrorCodes.WrongService => HsmErrorKind.InvalidArgument,
            _ => HsmErrorKind.DeviceError,
        };
    }
}
