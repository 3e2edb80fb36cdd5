using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Request bodies of the firmware protocol (docs/firmware-protocol.md), built in one place. Every public key sent to a
    /// module goes through <see cref="KeyOnly"/>: only "type base64", never a comment or options (a comment is free text
    /// from a key file or backup and could carry a newline, i.e. a second authorized_keys line).
    /// </summary>
    internal static class FirmwareBodies
    {
        public static string Enroll(IReadOnlyDictionary<string, string> clientKeyLines) =>
            JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["clientKeys"] = clientKeyLines.ToDictionary(kv => kv.Key, kv => KeyOnly(kv.Value)),
            });

        public static string AddKey(string service, string publicKeyLine) =>
            JsonSerializer.Serialize(new Dictionary<string, string> { ["service"] = service, ["publicKey"] = KeyOnly(publicKeyLine) });

        public static string RemoveKey(string service, string fingerprint) =>
            JsonSerializer.Serialize(new Dictionary<string, string> { ["service"] = service, ["fingerprint"] = fingerprint });

        public static string SetKeys(string service, IEnumerable<string> publicKeyLines) =>
            JsonSerializer.Serialize(new Dictionary<string, object> { ["service"] = service, ["publicKeys"] = publicKeyLines.Select(KeyOnly).ToArray() });

        /// <summary>"type base64" of a public key line: options and comment dropped (the key is parsed and checked, so nothing else survives).</summary>
        public static string KeyOnly(string publicKeyLine) => KeyOnly(SshPublicKey.Parse(publicKeyLine));

        public static string KeyOnly(SshPublicKey key) => key.KeyType + " " + System.Convert.ToBase64String(key.Blob);

        public static string FactoryState(int timeoutSeconds) =>
            JsonSerializer.Serialize(new Dictionary<string, int> { ["timeoutSeconds"] = timeoutSeconds });

        /// <summary>Parses a keys.list reply into service -> fingerprints installed; a reply of the wrong shape is ProtocolError.</summary>
        public static Dictionary<string, HashSet<string>> ParseKeyList(JsonElement result, string esn = "")
        {
            HsmException Bad(string why) => new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                $"Module {esn} sent a keys.list reply that does not follow the firmware protocol: {why}.", esn);
            var map = new Dictionary<string, HashSet<string>>();
            if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Object)
                throw Bad("'keys' is missing or not an object");
            foreach (var svc in keys.EnumerateObject())
            {
                if (svc.Value.ValueKind != JsonValueKind.Array) throw Bad($"'keys.{Drivers.FirmwareResult.Printable(svc.Name, 20)}' is not an array");
                var set = new HashSet<string>();
                foreach (var k in svc.Value.EnumerateArray())
                {
                    if (k.ValueKind != JsonValueKind.Object || !k.TryGetProperty("fingerprint", out var f) || f.ValueKind != JsonValueKind.String)
                        throw Bad("a key entry has no 'fingerprint' string");
                    set.Add(f.GetString()!);
                }
                map[svc.Name] = set;
            }
            return map;
        }
    }
}
