using System.Text.Json;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>The "result" of a successful firmware reply (see docs/firmware-protocol.md).</summary>
    public sealed class FirmwareResult
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
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True)
                return new FirmwareResult(root.TryGetProperty("result", out var r) ? r.Clone() : default);
            string code = "E_UNKNOWN", message = "";
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object)
            {
                if (err.TryGetProperty("code", out var c)) code = c.GetString() ?? code;
                if (err.TryGetProperty("message", out var m)) message = m.GetString() ?? "";
            }
            throw new ModuleErrorException(esn, service, verb, code, message);
        }
    }

    /// <summary>The module refused a request; FirmwareCode is the protocol's error code (E_MODE, E_FAULT, ...).</summary>
    public sealed class ModuleErrorException : HsmException
    {
        public ModuleErrorException(string esn, string service, string verb, string firmwareCode, string message)
            : base(HsmErrorIds.ModuleError, KindOf(firmwareCode),
                $"Module {esn} refused '{verb}' on {service}: {firmwareCode} {message}".TrimEnd(), esn)
        {
            FirmwareCode = firmwareCode;
        }

        public string FirmwareCode { get; }

        private static HsmErrorKind KindOf(string code) => code switch
        {
            "E_CREDENTIAL" => HsmErrorKind.PermissionDenied,
            "E_MODE" => HsmErrorKind.InvalidOperation,
            "E_BAD_REQUEST" or "E_TOO_LARGE" or "E_UNKNOWN_COMMAND" or "E_WRONG_SERVICE" => HsmErrorKind.InvalidArgument,
            _ => HsmErrorKind.DeviceError,
        };
    }
}
