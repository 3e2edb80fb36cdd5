using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Request bodies of the firmware protocol (docs/firmware-protocol.md), built in one place.</summary>
    internal static class FirmwareBodies
    {
        public static string Enroll(IReadOnlyDictionary<string, string> clientKeyLines) =>
            JsonSerializer.Serialize(new Dictionary<string, object> { ["clientKeys"] = clientKeyLines });

        public static string AddKey(string service, string publicKeyLine) =>
            JsonSerializer.Serialize(new Dictionary<string, string> { ["service"] = service, ["publicKey"] = publicKeyLine });

        public static string RemoveKey(string service, string fingerprint) =>
            JsonSerializer.Serialize(new Dictionary<string, string> { ["service"] = service, ["fingerprint"] = fingerprint });

        public static string SetKeys(string service, IEnumerable<string> publicKeyLines) =>
            JsonSerializer.Serialize(new Dictionary<string, object> { ["service"] = service, ["publicKeys"] = publicKeyLines.ToArray() });

        public static string FactoryState(int timeoutSeconds) =>
            JsonSerializer.Serialize(new Dictionary<string, int> { ["timeoutSeconds"] = timeoutSeconds });

        /// <summary>Parses a keys.list reply into service -> fingerprints installed.</summary>
        public static Dictionary<string, HashSet<string>> ParseKeyList(JsonElement result)
        {
            var map = new Dictionary<string, HashSet<string>>();
            if (result.ValueKind == JsonValueKind.Object && result.TryGetProperty("keys", out var keys) && keys.ValueKind == JsonValueKind.Object)
                foreach (var svc in keys.EnumerateObject())
                    map[svc.Name] = new HashSet<string>(svc.Value.EnumerateArray()
                        .Select(k => k.TryGetProperty("fingerprint", out var f) ? f.GetString() ?? "" : ""));
            return map;
        }
    }
}
