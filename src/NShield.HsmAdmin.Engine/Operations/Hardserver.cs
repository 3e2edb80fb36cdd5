using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The host daemon that talks to modules over ncoreapi. It reads the ncoreapi client key when it
    /// starts, so after a roll of that key it must be restarted.
    /// </summary>
    public abstract class Hardserver
    {
        public const string StateDocument = "hardserver.json";

        /// <summary>A simulated host (its store has a hardserver.json) gets the simulated hardserver; others the platform's.</summary>
        public static Hardserver For(HsmHost host) =>
            File.Exists(Path.Combine(host.Path, StateDocument)) ? new SimulatedHardserver(host.Path) : (Hardserver)new PlatformHardserver();

        /// <summary>Fingerprint of the ncoreapi key the running hardserver loaded; null when it cannot be known.</summary>
        public abstract string? LoadedNcoreapiFingerprint { get; }

        public abstract string Description { get; }

        public abstract void Restart(HostStore store);

        public bool? IsKeyCurrent(HostStore store)
        {
            var loaded = LoadedNcoreapiFingerprint;
            var current = store.GetClientKey(ModuleServices.NCoreApi)?.Fingerprint;
            if (loaded == null || current == null) return null;
            return string.Equals(loaded, current, StringComparison.Ordinal);
        }
    }

    internal sealed class SimulatedHardserver : Hardserver
    {
        private readonly string _hostPath;
        public SimulatedHardserver(string hostPath) { _hostPath = hostPath; }

        // "" = running without an ncoreapi key (started before the host had one).
        public override string? LoadedNcoreapiFingerprint => Simulation.SimulatedHardserver.Read(_hostPath).LoadedNcoreapiFingerprint ?? "";
        public override string Description => $"simulated hardserver of {_hostPath}";
        public override void Restart(HostStore store) => Simulation.SimulatedHardserver.Restart(_hostPath);
    }

    /// <summary>The real one: Linux init script, Windows service "nFast Server".</summary>
    internal sealed class PlatformHardserver : Hardserver
    {
        public const string LinuxInitScript = "/opt/nfast/sbin/init.d-ncipher";
        public const string WindowsService = "nFast Server";

        // The real hardserver does not publish which key it loaded; status reports "unknown".
        public override string? LoadedNcoreapiFingerprint => null;

        public override string Description => RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? $"Windows service '{WindowsService}'" : LinuxInitScript;

        public override void Restart(HostStore store)
        {
            var windows = RuntimeInformation.IsOSPlatform(OSPlatform.Windows);
            if (!windows && !File.Exists(LinuxInitScript))
                throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.ObjectNotFound,
                    $"No hardserver is installed here ({LinuxInitScript} not found). On a simulated host, start the simulator for this host first.");
            var start = windows
                ? new ProcessStartInfo("powershell.exe", $"-NoProfile -Command Restart-Service -Name '{WindowsService}' -ErrorAction Stop")
                : new ProcessStartInfo(LinuxInitScript, "restart");
            start.UseShellExecute = false;
            start.RedirectStandardError = true;
            start.RedirectStandardOutput = true;
            using (var process = Process.Start(start)!)
            {
                var stderr = process.StandardError.ReadToEnd();
                process.StandardOutput.ReadToEnd();
                if (!process.WaitForExit(120_000) || process.ExitCode != 0)
                    throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.InvalidOperation,
                        $"Restarting the hardserver ({Description}) failed: {stderr.Trim()}");
            }
        }
    }
}
