using System;
using System.Collections.Generic;
using System.IO;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>An injected fault rule: kind failAt | dropBefore | dropAfter, for one verb, firing Count more times.</summary>
    public sealed class FaultRule
    {
        public string Kind { get; set; } = "failAt";
        public string Verb { get; set; } = "";
        public int Count { get; set; } = 1;
    }

    /// <summary>Contents of state.json. Plain DOM (de)serialisation: no reflection, fast firmware start.</summary>
    public sealed class ModuleState
    {
        public string Esn { get; set; } = "";
        public ModuleMode Mode { get; set; } = ModuleMode.FactoryState;
        public bool Enrolled { get; set; }
        public string FirmwareVersion { get; set; } = ModuleFirmware.FirmwareVersion;
        /// <summary>Absolute dotnet host and firmware dll used in every authorized_keys forced command.</summary>
        public string DotnetPath { get; set; } = "";
        public string FirmwareDll { get; set; } = "";
        public string Transport { get; set; } = "ssh";
        public List<FaultRule> Faults { get; set; } = new List<FaultRule>();
        public int DelayMs { get; set; }
        public bool Refuse { get; set; }
        public bool InvalidClock { get; set; }
        /// <summary>How many entries the module's command log keeps (the newest).</summary>
        public int LogCapacity { get; set; } = FirmwareProtocol.MaxLogEntries;

        public string ToJson()
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("esn", Esn);
                w.WriteString("mode", Mode.ToString());
                w.WriteBoolean("enrolled", Enrolled);
                w.WriteString("firmwareVersion", FirmwareVersion);
                w.WriteString("dotnet", DotnetPath);
                w.WriteString("firmwareDll", FirmwareDll);
                w.WriteString("transport", Transport);
                w.WriteStartObject("faults");
                w.WriteStartArray("rules");
                foreach (var f in Faults)
                {
                    w.WriteStartObject();
                    w.WriteString("kind", f.Kind); w.WriteString("verb", f.Verb); w.WriteNumber("count", f.Count);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteNumber("delayMs", DelayMs);
                w.WriteBoolean("refuse", Refuse);
                w.WriteBoolean("invalidClock", InvalidClock);
                w.WriteEndObject();
                w.WriteNumber("logCapacity", LogCapacity);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }

        public static ModuleState FromJson(string json)
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            var s = new ModuleState
            {
                Esn = r.GetProperty("esn").GetString() ?? "",
                Mode = (ModuleMode)Enum.Parse(typeof(ModuleMode), r.GetProperty("mode").GetString() ?? "FactoryState"),
                Enrolled = r.GetProperty("enrolled").GetBoolean(),
            };
            if (r.TryGetProperty("firmwareVersion", out var fv)) s.FirmwareVersion = fv.GetString() ?? s.FirmwareVersion;
            if (r.TryGetProperty("dotnet", out var d)) s.DotnetPath = d.GetString() ?? "";
            if (r.TryGetProperty("firmwareDll", out var fd)) s.FirmwareDll = fd.GetString() ?? "";
            if (r.TryGetProperty("transport", out var tr)) s.Transport = tr.GetString() ?? "ssh";
            if (r.TryGetProperty("faults", out var f) && f.ValueKind == JsonValueKind.Object)
            {
                if (f.TryGetProperty("rules", out var rules))
                    foreach (var e in rules.EnumerateArray())
                        s.Faults.Add(new FaultRule { Kind = e.GetProperty("kind").GetString() ?? "", Verb = e.GetProperty("verb").GetString() ?? "", Count = e.GetProperty("count").GetInt32() });
                if (f.TryGetProperty("delayMs", out var dm)) s.DelayMs = dm.GetInt32();
                if (f.TryGetProperty("refuse", out var rf)) s.Refuse = rf.GetBoolean();
                if (f.TryGetProperty("invalidClock", out var ic)) s.InvalidClock = ic.GetBoolean();
            }
            if (r.TryGetProperty("logCapacity", out var lc)) s.LogCapacity = lc.GetInt32();
            return s;
        }
    }

    /// <summary>File layout of one module's state folder (see docs/firmware-protocol.md).</summary>
    public sealed class ModuleLayout
    {
        public string Dir { get; }
        public ModuleLayout(string dir) { Dir = Path.GetFullPath(dir); }
        public string StateFile => Path.Combine(Dir, "state.json");
        public string LockFile => Path.Combine(Dir, ".lock");
        public string LogFile => Path.Combine(Dir, "log.json");
        public string IdentityKey => Path.Combine(Dir, "identity.key");
        public string IdentityPub => Path.Combine(Dir, "identity.pub");
        public string Warrant => Path.Combine(Dir, "warrant");
        public string VendorRootPubCopy => Path.Combine(Dir, "vendor-root.pub");
        public string ServiceDir(string svc) => Path.Combine(Dir, "services", svc);
        public string HostKey(string svc) => Path.Combine(ServiceDir(svc), "host_key");
        public string HostKeyPub(string svc) => Path.Combine(ServiceDir(svc), "host_key.pub");
        public string Certificate(string svc) => Path.Combine(ServiceDir(svc), "certificate");
        public string AuthorizedKeys(string svc) => Path.Combine(ServiceDir(svc), "authorized_keys");
        public string SshdConfig(string svc) => Path.Combine(ServiceDir(svc), "sshd_config");
        public string PidFile(string svc) => Path.Combine(ServiceDir(svc), "sshd.pid");
        public string PortFile(string svc) => Path.Combine(ServiceDir(svc), "port");
        public string SshdLog(string svc) => Path.Combine(ServiceDir(svc), "sshd.log");
    }

    /// <summary>The simulator's file writes go through the engine's one atomic writer; plus a cross-process module lock.</summary>
    public static class AtomicFile
    {
        /// <summary>Temp file created with its final permissions (0600 when ownerOnly), flushed, renamed over the target.</summary>
        public static void WriteAllText(string path, string text, bool ownerOnly = false)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            SecureFiles.WriteAtomic(path, text, ownerOnly ? FileAccessScope.OwnerOnly : FileAccessScope.Public);
        }

        /// <summary>Exclusive lock on a module folder, across processes (sshd sessions run the firmware concurrently).</summary>
        public static IDisposable Lock(string lockPath, int timeoutMs = 20000)
        {
            var start = Environment.TickCount;
            while (true)
            {
                try
                {
                    return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                }
                catch (IOException) when (Environment.TickCount - start < timeoutMs)
                {
                    Thread.Sleep(5);
                }
            }
        }
    }
}
