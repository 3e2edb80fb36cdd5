using System;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>One command as the firmware sees it: which module, which service endpoint, which key authenticated, verb, JSON body.</summary>
    public sealed class FirmwareRequest
    {
        public string ModuleDir { get; set; } = "";
        public string Service { get; set; } = "";
        /// <summary>SHA256 fingerprint of the client key that authenticated the session.</summary>
        public string KeyFingerprint { get; set; } = "";
        public string Verb { get; set; } = "";
        /// <summary>UTF-8 JSON body (may be empty). Bodies over FirmwareProtocol.MaxBodyBytes are refused with E_TOO_LARGE.</summary>
        public byte[] Body { get; set; } = new byte[0];
        /// <summary>The caller already waited out the delay fault (the in-process transport awaits it instead of blocking a thread).</summary>
        public bool DelayAwaited { get; set; }

        public FirmwareRequest() { }
        public FirmwareRequest(string moduleDir, string service, string keyFingerprint, string verb, string? body = null)
        {
            ModuleDir = moduleDir; Service = service; KeyFingerprint = keyFingerprint; Verb = verb;
            Body = body == null ? new byte[0] : Encoding.UTF8.GetBytes(body);
        }
    }

    /// <summary>The firmware's answer: one JSON line and the process exit code; Dropped = the firmware "dropped the connection" (no reply).</summary>
    public sealed class FirmwareReply
    {
        public int ExitCode { get; set; }
        public string Json { get; set; } = "";
        public bool Dropped { get; set; }
    }

    internal sealed class FirmwareError : Exception
    {
        public string Code { get; }
        public FirmwareError(string code, string message) : base(message) { Code = code; }
    }

    internal static class ReplyWriter
    {
        // Relaxed escaping: '+' in base64 stays '+' (JSON is never embedded in HTML here).
        internal static readonly JsonWriterOptions Options =
            new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public static string Ok<T>(T result, JsonTypeInfo<T> type)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, Options))
            {
                w.WriteStartObject();
                w.WriteNumber("protocol", FirmwareProtocol.Version);
                w.WriteBoolean("ok", true);
                w.WritePropertyName("result");
                JsonSerializer.Serialize(w, result, type);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }

        public static string Error(string code, string message)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, Options))
            {
                w.WriteStartObject();
                w.WriteNumber("protocol", FirmwareProtocol.Version);
                w.WriteBoolean("ok", false);
                w.WriteStartObject("error");
                w.WriteString("code", code);
                w.WriteString("message", message);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }
    }
}
