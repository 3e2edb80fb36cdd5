using System;
using System.IO;
using System.Linq;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// Finds the programs the simulated endpoints run. sshd passes no environment to the forced command, so all paths are absolute.
    /// Firmware: $NSHIELD_HSMADMIN_FIRMWARE (the .dll, or a Native AOT nshield-sim-firmware executable, run without
    /// dotnet), else &lt;engine dir&gt;/firmware/nshield-sim-firmware (Native AOT), &lt;engine
    /// dir&gt;/firmware/nshield-sim-firmware.dll, else &lt;engine dir&gt;/nshield-sim-firmware.dll.
    /// dotnet: $DOTNET_HOST_PATH, else the current process if it is dotnet, else dotnet on PATH, else /usr/share/dotnet, /usr/lib/dotnet.
    /// sshd: $NSHIELD_HSMADMIN_SSHD, else /usr/sbin/sshd, else sshd on PATH.
    /// </summary>
    public static class FirmwareLocator
    {
        public const string FirmwareEnvVar = "NSHIELD_HSMADMIN_FIRMWARE";
        public const string SshdEnvVar = "NSHIELD_HSMADMIN_SSHD";
        public const string FirmwareDllName = "nshield-sim-firmware.dll";
        public const string FirmwareNativeName = "nshield-sim-firmware";

        public static string? TryFindFirmwareDll()
        {
            var env = Environment.GetEnvironmentVariable(FirmwareEnvVar);
            if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? Path.GetFullPath(env) : null;
            var dir = Path.GetDirectoryName(typeof(FirmwareLocator).Assembly.Location) ?? AppContext.BaseDirectory;
            // A packaged module may ship the Native AOT build as firmware/nshield-sim-firmware (no .dll): preferred, ~10x faster start.
            foreach (var c in new[] { Path.Combine(dir, "firmware", FirmwareNativeName), Path.Combine(dir, "firmware", FirmwareDllName),
                Path.Combine(dir, FirmwareDllName) })
                if (File.Exists(c)) return c;
            return null;
        }

        public static string FindFirmwareDll() => TryFindFirmwareDll()
            ?? throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.ObjectNotFound,
            $"The simulated module firmware ({FirmwareDllName}) was not found next to the " +
            $"engine or under 'firmware/'. Set {FirmwareEnvVar} to its path.");

        public static string? TryFindDotnet()
        {
            var env = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
            if (!string.IsNullOrEmpty(env) && File.Exists(env)) return env;
            try
            {
                var self = System.Diagnostics.Process.GetCurrentProcess().MainModule?.FileName;
                if (self != null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
            }
            catch (Exception) { }
            foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(p => p.Length > 0))
            {
                var c = Path.Combine(d, "dotnet");
                if (File.Exists(c)) return c;
            }
            foreach (var c in new[] { "/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/local/share/dotnet/dotnet" })
                if (File.Exists(c)) return c;
            return null;
        }

        public static string FindDotnet() => TryFindDotnet()
            ?? throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.ObjectNotFound,
            "The dotnet host was not found (needed to run the simulated firmware). Set DOTNET_HOST_PATH.");

        public static string? TryFindSshd()
        {
            var env = Environment.GetEnvironmentVariable(SshdEnvVar);
            if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
            if (File.Exists("/usr/sbin/sshd")) return "/usr/sbin/sshd";
            foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(p => p.Length > 0))
            {
                var c = Path.Combine(d, "sshd");
                if (File.Exists(c)) return c;
            }
            return null;
        }

        /// <summary>True where the Ssh transport can run (OpenSSH sshd present, not Windows).</summary>
        public static bool IsSshAvailable => Environment.OSVersion.Platform == PlatformID.Unix && TryFindSshd() != null;
    }
}
