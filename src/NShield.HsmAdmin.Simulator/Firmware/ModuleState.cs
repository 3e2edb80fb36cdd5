using System;
using System.Collections.Generic;
using System.IO;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>An injected fault rule: kind failAt | dropBefore | dropAfter, for one verb, firing Count more times.</summary>
    public sealed class FaultRule
    {
        public string Kind { get; set; } = "failAt";
        public string Verb { get; set; } = "";
        public int Count { get; set; } = 1;
    }

    /// <summary>Contents of state.json (source-generated JSON: no reflection, fast firmware start, AOT-safe).</summary>
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
        // Firmware images, VSN and the ncoreapi interlock (issue 22 items 3 and 6)
        /// <summary>The primary image's VSN (its version is <see cref="FirmwareVersion"/>), the recovery image's, and the minimum accepted.</summary>
        public int FirmwareVsn { get; set; } = ModuleFirmware.DefaultVsn;
        public string RecoveryFirmwareVersion { get; set; } = ModuleFirmware.FirmwareVersion;
        public int RecoveryFirmwareVsn { get; set; } = ModuleFirmware.DefaultVsn;
        public int MinimumVsn { get; set; } = ModuleFirmware.DefaultMinimumVsn;
        /// <summary>A hardserver holds an ncoreapi session: ncoreapi is operational (in normal mode) and changes are refused.</summary>
        public bool NCoreApiSession { get; set; }
        /// <summary>How many entries the module's command log keeps (the newest).</summary>
        public int LogCapacity { get; set; } = ModuleLog.DefaultCapacity;

        // Clock and reboot (issue 22)
        /// <summary>The module's clock minus real UTC, in ms (settime steps it; the simulator's -ClockOffsetSeconds sets it).</summary>
        public long ClockOffsetMs { get; set; }
        /// <summary>A correction being slewed (settime with adjust): its size in ms and when slewing began (UTC).</summary>
        public long AdjustMs { get; set; }
        public DateTime? AdjustStarted { get; set; }
        /// <summary>ncoreapi is in (emulated) maintenance mode, as the host's nopclearfail -M sets it: the clock may be stepped.</summary>
        public bool Maintenance { get; set; }
        /// <summary>The module is rebooting until this time (UTC): it answers nothing before then.</summary>
        public DateTime? BootingUntil { get; set; }
        /// <summary>How long a reboot takes, in ms.</summary>
        public int BootMs { get; set; } = DefaultBootMs;
        public const int DefaultBootMs = 1500;

        /// <summary>The part of <see cref="AdjustMs"/> slewed by <paramref name="now"/> (SimulatedSlewMsPerSecond, towards the target).</summary>
        public long SlewedMs(DateTime now)
        {
            if (AdjustMs == 0 || AdjustStarted == null) return 0;
            var elapsed = Math.Max(0, (now - AdjustStarted.Value).TotalSeconds);
            var done = (long)Math.Min(Math.Abs(AdjustMs), elapsed * FirmwareProtocol.SimulatedSlewMsPerSecond);
            return AdjustMs < 0 ? -done : done;
        }

        /// <summary>The module's clock at real UTC time <paramref name="now"/>; an invalid clock reads 1970.</summary>
        public DateTime ModuleClock(DateTime now) =>
            InvalidClock ? new DateTime(1970, 1, 1, 0, 0, 5, DateTimeKind.Utc) : now.AddMilliseconds(ClockOffsetMs + SlewedMs(now));

        public bool IsBooting(DateTime now) => BootingUntil != null && now < BootingUntil.Value;

        public string ToJson() => JsonSerializer.Serialize(new ModuleStateFile
        {
            Esn = Esn, Mode = Mode, Enrolled = Enrolled, FirmwareVersion = FirmwareVersion, Dotnet = DotnetPath,
            FirmwareDll = FirmwareDll, Transport = Transport, LogCapacity = LogCapacity,
            Faults = new FaultSettings { Rules = Faults, DelayMs = DelayMs, Refuse = Refuse, InvalidClock = InvalidClock },
            Clock = new ClockSettings { OffsetMs = ClockOffsetMs, AdjustMs = AdjustMs, AdjustStarted = AdjustStarted },
            Maintenance = Maintenance, BootingUntil = BootingUntil, BootMs = BootMs,
            Images = new FirmwareImages
            {
                PrimaryVsn = FirmwareVsn, RecoveryVersion = RecoveryFirmwareVersion, RecoveryVsn = RecoveryFirmwareVsn, MinimumVsn = MinimumVsn,
            },
            NcoreapiSession = NCoreApiSession,
        }, SimulatorJson.Default.ModuleStateFile);

        public static ModuleState FromJson(string json)
        {
            var f = JsonSerializer.Deserialize(json, SimulatorJson.Default.ModuleStateFile) ?? throw new JsonException("state.json is null");
            var faults = f.Faults ?? new FaultSettings();
            return new ModuleState
            {
                Esn = f.Esn ?? "", Mode = f.Mode, Enrolled = f.Enrolled, FirmwareVersion = f.FirmwareVersion ?? ModuleFirmware.FirmwareVersion,
                DotnetPath = f.Dotnet ?? "", FirmwareDll = f.FirmwareDll ?? "", Transport = f.Transport ?? "ssh",
                LogCapacity = f.LogCapacity ?? ModuleLog.DefaultCapacity,
                Faults = faults.Rules ?? new List<FaultRule>(), DelayMs = faults.DelayMs, Refuse = faults.Refuse, InvalidClock = faults.InvalidClock,
                ClockOffsetMs = f.Clock?.OffsetMs ?? 0, AdjustMs = f.Clock?.AdjustMs ?? 0, AdjustStarted = f.Clock?.AdjustStarted,
                Maintenance = f.Maintenance, BootingUntil = f.BootingUntil, BootMs = f.BootMs ?? DefaultBootMs,
                FirmwareVsn = f.Images?.PrimaryVsn ?? ModuleFirmware.DefaultVsn,
                RecoveryFirmwareVersion = f.Images?.RecoveryVersion ?? ModuleFirmware.FirmwareVersion,
                RecoveryFirmwareVsn = f.Images?.RecoveryVsn ?? ModuleFirmware.DefaultVsn,
                MinimumVsn = f.Images?.MinimumVsn ?? ModuleFirmware.DefaultMinimumVsn,
                NCoreApiSession = f.NcoreapiSession,
            };
        }
    }

    /// <summary>state.json as stored (docs/firmware-protocol.md, "Module state folder").</summary>
    internal sealed class ModuleStateFile
    {
        public string? Esn { get; set; }
        public ModuleMode Mode { get; set; } = ModuleMode.FactoryState;
        public bool Enrolled { get; set; }
        public string? FirmwareVersion { get; set; }
        public string? Dotnet { get; set; }
        public string? FirmwareDll { get; set; }
        public string? Transport { get; set; }
        public FaultSettings? Faults { get; set; }
        public int? LogCapacity { get; set; }
        public ClockSettings? Clock { get; set; }
        public bool Maintenance { get; set; }
        public DateTime? BootingUntil { get; set; }
        public int? BootMs { get; set; }
        public FirmwareImages? Images { get; set; }
        public bool NcoreapiSession { get; set; }
    }

    /// <summary>The module's clock in state.json: offset from real UTC and a correction being slewed (issue 22).</summary>
    internal sealed class ClockSettings
    {
        public long OffsetMs { get; set; }
        public long AdjustMs { get; set; }
        public DateTime? AdjustStarted { get; set; }
    }

    /// <summary>The module's firmware images and minimum VSN in state.json (issue 22 item 3).</summary>
    internal sealed class FirmwareImages
    {
        public int PrimaryVsn { get; set; }
        public string? RecoveryVersion { get; set; }
        public int RecoveryVsn { get; set; }
        public int MinimumVsn { get; set; }
    }

    internal sealed class FaultSettings
    {
        public List<FaultRule>? Rules { get; set; }
        public int DelayMs { get; set; }
        public bool Refuse { get; set; }
        public bool InvalidClock { get; set; }
    }

    /// <summary>simulator.json as stored.</summary>
    internal sealed class SimulatorFile
    {
        public int Version { get; set; } = 1;
        public string? Root { get; set; }
        public string? Transport { get; set; }
        public string? Sshd { get; set; }
        public string? Dotnet { get; set; }
        public string? FirmwareDll { get; set; }
        public string? VendorRootPublicKey { get; set; }
        public bool Stopped { get; set; }
        /// <summary>Outlives the process that started it (no watcher).</summary>
        public bool Persistent { get; set; }
        /// <summary>The process that started it, and the pid of the watcher that stops it once that process is gone (0: none).</summary>
        public int Owner { get; set; }
        public int Watcher { get; set; }
        public List<string>? Hosts { get; set; }
        public List<SimulatorModuleEntry>? Modules { get; set; }
    }

    internal sealed class SimulatorModuleEntry
    {
        public string? Esn { get; set; }
        public string? HostPath { get; set; }
        public string? ModuleDir { get; set; }
    }

    /// <summary>The simulator's own files, source-generated (the firmware reads state.json on every command, Native AOT included).</summary>
    [JsonSourceGenerationOptions(
        PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
        WriteIndented = true,
        UseStringEnumConverter = true)]
    [JsonSerializable(typeof(ModuleStateFile))]
    [JsonSerializable(typeof(SimulatorFile))]
    internal sealed partial class SimulatorJson : JsonSerializerContext
    {
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
        /// <summary>The key the module signs its log with, and its certificate by the identity key (issue 22 item 4).</summary>
        public string LogKey => Path.Combine(Dir, "log.key");
        public string LogKeyPub => Path.Combine(Dir, "log.pub");
        public string LogCertificate => Path.Combine(Dir, "log.certificate");
        /// <summary>A firmware package being received (firmware.chunk); gone once installed or refused.</summary>
        public string FirmwareStaging => Path.Combine(Dir, "firmware-staging.bin");
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
}
