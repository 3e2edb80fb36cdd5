using System;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Firmware;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>State of a host's simulated hardserver (&lt;hostPath&gt;/hardserver.json).</summary>
    public sealed class HardserverStatus
    {
        public bool Running { get; set; }
        /// <summary>Fingerprint of the ncoreapi client key the hardserver loaded when it (re)started; null if none existed.</summary>
        public string? LoadedNcoreapiFingerprint { get; set; }
        public DateTimeOffset? StartedAt { get; set; }
    }

    /// <summary>
    /// The simulated hardserver of a host: it loads the ncoreapi client key when it starts, so a rolled key is visible until
    /// <see cref="Restart"/>. Reads &lt;hostPath&gt;/client-keys/ncoreapi.json (field "fingerprint", written by the host store).
    /// </summary>
    public static class SimulatedHardserver
    {
        public const string FileName = "hardserver.json";

        public static string PathOf(string hostPath) => Path.Combine(hostPath, FileName);

        /// <summary>The ncoreapi client key fingerprint currently in the host store, or null.</summary>
        public static string? CurrentNcoreapiFingerprint(string hostPath)
        {
            var p = Path.Combine(hostPath, "client-keys", "ncoreapi.json");
            if (!File.Exists(p)) return null;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(p));
                // The store's ClientKeyRecord ("fingerprint"); matched case-insensitively so naming policy changes do not break it.
                foreach (var prop in doc.RootElement.EnumerateObject())
                    if (string.Equals(prop.Name, "fingerprint", StringComparison.OrdinalIgnoreCase) && prop.Value.ValueKind == JsonValueKind.String)
                        return prop.Value.GetString();
                return null;
            }
            catch (JsonException) { return null; }
        }

        public static HardserverStatus Read(string hostPath)
        {
            var p = PathOf(hostPath);
            if (!File.Exists(p)) return new HardserverStatus { Running = false };
            using var doc = JsonDocument.Parse(File.ReadAllBytes(p));
            var r = doc.RootElement;
            var s = new HardserverStatus { Running = r.TryGetProperty("running", out var run) && run.ValueKind == JsonValueKind.True };
            if (r.TryGetProperty("loadedNcoreapiFingerprint", out var f) && f.ValueKind == JsonValueKind.String) s.LoadedNcoreapiFingerprint = f.GetString();
            if (r.TryGetProperty("startedAt", out var t) && t.ValueKind == JsonValueKind.String)
                s.StartedAt = DateTimeOffset.Parse(t.GetString()!, CultureInfo.InvariantCulture);
            return s;
        }

        /// <summary>(Re)starts the hardserver: it loads the host's current ncoreapi client key.</summary>
        public static HardserverStatus Restart(string hostPath)
        {
            var s = new HardserverStatus { Running = true, LoadedNcoreapiFingerprint = CurrentNcoreapiFingerprint(hostPath), StartedAt = DateTimeOffset.UtcNow };
            Write(hostPath, s);
            return s;
        }

        /// <summary>Starts the hardserver if this host has never had one (simulator start/attach); leaves a running one alone.</summary>
        public static HardserverStatus EnsureStarted(string hostPath)
        {
            var cur = Read(hostPath);
            return cur.Running ? cur : Restart(hostPath);
        }

        public static void Stop(string hostPath)
        {
            var s = Read(hostPath);
            s.Running = false;
            Write(hostPath, s);
        }

        private static void Write(string hostPath, HardserverStatus s)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteBoolean("running", s.Running);
                if (s.LoadedNcoreapiFingerprint != null) w.WriteString("loadedNcoreapiFingerprint", s.LoadedNcoreapiFingerprint); else w.WriteNull("loadedNcoreapiFingerprint");
                if (s.StartedAt != null) w.WriteString("startedAt", s.StartedAt.Value.ToString("o", CultureInfo.InvariantCulture)); else w.WriteNull("startedAt");
                w.WriteEndObject();
            }
            Directory.CreateDirectory(hostPath);
            AtomicFile.WriteAllText(PathOf(hostPath), Encoding.UTF8.GetString(ms.ToArray()) + "\n");
        }
    }
}
