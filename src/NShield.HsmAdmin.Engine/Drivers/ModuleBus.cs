using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using NShield.HsmAdmin.Firmware;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// The simulated "PCIe bus": &lt;hostPath&gt;/attached-modules.json lists the modules attached to a host.
    /// Written atomically (temp + flush + rename) under &lt;hostPath&gt;/.attached-modules.lock; readers never see a partial file.
    /// Format: {"version":1,"modules":[{"esn","transport","address","ports":{svc:port},"moduleDir","simulatorRoot"}]}.
    /// </summary>
    public static class ModuleBus
    {
        public const string FileName = "attached-modules.json";

        public static string PathOf(string hostPath) => System.IO.Path.Combine(hostPath, FileName);

        /// <summary>Modules attached to the host (empty when the file does not exist). Throws HsmException(StoreCorrupt) on a damaged file.</summary>
        public static IReadOnlyList<AttachedModule> Read(string hostPath)
        {
            var path = PathOf(hostPath);
            if (!File.Exists(path)) return new AttachedModule[0];
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
                var list = new List<AttachedModule>();
                foreach (var e in doc.RootElement.GetProperty("modules").EnumerateArray())
                {
                    var m = new AttachedModule
                    {
                        Esn = e.GetProperty("esn").GetString() ?? "",
                        Transport = e.TryGetProperty("transport", out var t) ? t.GetString() ?? AttachedModule.SshTransport : AttachedModule.SshTransport,
                        Address = e.TryGetProperty("address", out var a) ? a.GetString() ?? "127.0.0.1" : "127.0.0.1",
                        ModuleDir = e.TryGetProperty("moduleDir", out var md) && md.ValueKind == JsonValueKind.String ? md.GetString() : null,
                        SimulatorRoot = e.TryGetProperty("simulatorRoot", out var sr) && sr.ValueKind == JsonValueKind.String ? sr.GetString() : null,
                    };
                    if (e.TryGetProperty("ports", out var ports) && ports.ValueKind == JsonValueKind.Object)
                        foreach (var p in ports.EnumerateObject()) m.Ports[p.Name] = p.Value.GetInt32();
                    list.Add(m);
                }
                return list;
            }
            catch (Exception e) when (e is JsonException || e is KeyNotFoundException || e is InvalidOperationException || e is FormatException)
            {
                throw new HsmException(HsmErrorIds.StoreCorrupt, HsmErrorKind.InvalidData,
                    $"The module list '{path}' is damaged ({e.Message}). Restart the simulator or remove the file.", path, e);
            }
        }

        /// <summary>Adds or replaces (by ESN) a module on the host's bus.</summary>
        public static void Attach(string hostPath, AttachedModule module) =>
            Update(hostPath, list => { list.RemoveAll(m => string.Equals(m.Esn, module.Esn, StringComparison.OrdinalIgnoreCase)); list.Add(module); });

        /// <summary>Removes a module from the host's bus; false if it was not attached.</summary>
        public static bool Detach(string hostPath, string esn)
        {
            bool removed = false;
            Update(hostPath, list => removed = list.RemoveAll(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase)) > 0);
            return removed;
        }

        /// <summary>Read-modify-write under the bus lock.</summary>
        public static void Update(string hostPath, Action<List<AttachedModule>> change)
        {
            Directory.CreateDirectory(hostPath);
            using (AtomicFile.Lock(System.IO.Path.Combine(hostPath, ".attached-modules.lock")))
            {
                var list = Read(hostPath).ToList();
                change(list);
                Write(hostPath, list);
            }
        }

        /// <summary>Replaces the whole list (atomic). Prefer <see cref="Update"/> when others may write concurrently.</summary>
        public static void Write(string hostPath, IEnumerable<AttachedModule> modules)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteNumber("version", 1);
                w.WriteStartArray("modules");
                foreach (var m in modules.OrderBy(x => x.Esn, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("esn", m.Esn);
                    w.WriteString("transport", m.Transport);
                    w.WriteString("address", m.Address);
                    w.WriteStartObject("ports");
                    foreach (var svc in ModuleServices.All) if (m.Ports.TryGetValue(svc, out var p)) w.WriteNumber(svc, p);
                    w.WriteEndObject();
                    if (m.ModuleDir != null) w.WriteString("moduleDir", m.ModuleDir); else w.WriteNull("moduleDir");
                    if (m.SimulatorRoot != null) w.WriteString("simulatorRoot", m.SimulatorRoot); else w.WriteNull("simulatorRoot");
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            AtomicFile.WriteAllText(PathOf(hostPath), Encoding.UTF8.GetString(ms.ToArray()) + "\n");
        }
    }
}
