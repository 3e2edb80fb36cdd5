using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// What the simulator sets up in a host store, all through the store's public API (locked, audited), exactly
    /// as an administrator would for real modules: the modules' registrations, its vendor root as a trusted root,
    /// the factory credential's location, and a stand-in hardserver (a real long-running process restarted by a
    /// script) in the host configuration. It never touches a store that holds modules or keys it did not make.
    /// </summary>
    internal static class SimulatedHost
    {
        /// <summary>Marks a store the simulator has set up (the product ignores the file).</summary>
        public const string MarkerFileName = ".nshield-simulated-host";

        public static string RegisteredBy(string simRoot) => "simulator:" + simRoot;

        /// <summary>The trusted-root name of one simulator's vendor root (distinct per simulator, so several can share a host).</summary>
        public static string RootName(string simRoot) => "simulated-vendor-root-" + ShortHash(simRoot);

        /// <summary>
        /// Refuses (SimulatorStoreRefused) a store that holds registrations not made by a simulator, or client keys,
        /// pins or enrolled modules while it was never set up by a simulator; marks the store as simulated otherwise.
        /// </summary>
        public static HostStore Claim(string hostPath)
        {
            var store = HostStore.Open(hostPath);
            var marker = Path.Combine(store.Root, MarkerFileName);
            var foreign = store.GetRegisteredModules().Where(r => r.RegisteredBy == null || !r.RegisteredBy.StartsWith("simulator:", StringComparison.Ordinal)).ToList();
            string? why = null;
            if (foreign.Count > 0) why = $"it registers modules the simulator did not ({string.Join(", ", foreign.Select(r => r.Esn))})";
            else if (!File.Exists(marker))
            {
                if (store.GetClientKeys().Count > 0) why = "it holds client keys the simulator did not make";
                else if (store.GetModules().Count > 0) why = "it lists enrolled modules the simulator did not make";
            }
            if (why != null)
                throw new HsmException(HsmErrorIds.SimulatorStoreRefused, HsmErrorKind.InvalidOperation,
                    $"The simulator will not use the host store '{store.Root}': {why}. Give the simulator a host folder of its own " +
                    "(-HostPath), or leave it out to get a temporary one.", store.Root);
            if (!File.Exists(marker))
            {
                Directory.CreateDirectory(store.Root);
                AtomicFile.WriteAllText(marker, "This host store was set up by the NShield.HsmAdmin simulator.\n");
            }
            return store;
        }

        /// <summary>Vendor root, factory credential and stand-in hardserver of this simulator in the host store.</summary>
        public static void Prepare(HostStore store, string simRoot, SshPublicKey vendorRoot)
        {
            store.AddTrustedRoot(RootName(simRoot), vendorRoot, overwrite: true);
            var credential = FactoryCredentialPath(simRoot);
            if (!File.Exists(credential)) AtomicFile.WriteAllText(credential, DefaultCredential.PrivateKeyOpenSsh, ownerOnly: true);
            var hardserverDir = HardserverDir(simRoot, store.Root);
            var script = Path.Combine(hardserverDir, "hardserver");
            var pidFile = Path.Combine(hardserverDir, "hardserver.pid");
            if (!File.Exists(script))
            {
                Directory.CreateDirectory(hardserverDir);
                AtomicFile.WriteAllText(script, StandInScript);
                Native.MakeExecutable(script);
            }
            var config = store.GetConfiguration();
            var changed = false;
            // Only settings still at their default, or set by a simulator, are changed: an admin's own settings stay.
            if (config.FactoryCredentialPath == null || IsSimulatorPath(config.FactoryCredentialPath))
            {
                changed |= config.FactoryCredentialPath != credential;
                config.FactoryCredentialPath = credential;
            }
            if (config.Hardserver.RestartCommand == null || IsSimulatorPath(config.Hardserver.RestartCommand))
            {
                if (config.Hardserver.RestartCommand == null || !IsRunning(config.Hardserver.PidFile))
                {
                    changed |= config.Hardserver.RestartCommand != script;
                    config.Hardserver.RestartCommand = script;
                    config.Hardserver.RestartArguments = "restart";
                    config.Hardserver.PidFile = pidFile;
                }
            }
            if (changed) store.SetConfiguration(config, "simulator " + simRoot + ": factory credential and stand-in hardserver");
            // A host's hardserver runs before any module is enrolled, as on a real host.
            if (config.Hardserver.PidFile == pidFile && !IsRunning(pidFile)) RunScript(script, "start");
        }

        /// <summary>Takes out what <see cref="Prepare"/> put in (its vendor root, its settings) and stops the stand-in hardserver.</summary>
        public static void Release(string hostPath, string simRoot)
        {
            if (!Directory.Exists(hostPath)) return;
            var store = HostStore.Open(hostPath);
            store.RemoveTrustedRoot(RootName(simRoot));
            var config = store.GetConfiguration();
            var mine = simRoot.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            var changed = false;
            if (config.FactoryCredentialPath != null && config.FactoryCredentialPath.StartsWith(mine, StringComparison.Ordinal))
            {
                config.FactoryCredentialPath = null;
                changed = true;
            }
            if (config.Hardserver.RestartCommand != null && config.Hardserver.RestartCommand.StartsWith(mine, StringComparison.Ordinal))
            {
                RunScript(config.Hardserver.RestartCommand, "stop");
                config.Hardserver = new HardserverSettings();
                changed = true;
            }
            if (changed) store.SetConfiguration(config, "simulator " + simRoot + " removed");
        }

        public static string FactoryCredentialPath(string simRoot) => Path.Combine(simRoot, "factory-credential");

        private static string HardserverDir(string simRoot, string hostRoot) => Path.Combine(simRoot, "hardservers", ShortHash(hostRoot));

        private static bool IsSimulatorPath(string path) =>
            path.Contains(Path.DirectorySeparatorChar + "hardservers" + Path.DirectorySeparatorChar) || Path.GetFileName(path) == "factory-credential";

        private static bool IsRunning(string? pidFile) =>
            pidFile != null && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && Native.IsAlive(pid);

        private static void RunScript(string script, string verb)
        {
            if (!File.Exists(script) || Environment.OSVersion.Platform != PlatformID.Unix) return;
            var start = new System.Diagnostics.ProcessStartInfo(script, verb) { UseShellExecute = false };
            using (var p = System.Diagnostics.Process.Start(start)!) p.WaitForExit(10_000);
        }

        private static string ShortHash(string text)
        {
            using (var sha = SHA256.Create())
                return BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(text)), 0, 5).Replace("-", "").ToLowerInvariant();
        }

        // A real process with a real start time, so the product reads it exactly as it reads the real hardserver.
        private const string StandInScript =
            "#!/bin/sh\n" +
            "# Stand-in hardserver of a simulated host: 'restart' stops the process in hardserver.pid and starts a new one.\n" +
            "dir=$(dirname \"$0\"); pidfile=\"$dir/hardserver.pid\"\n" +
            "stop() { [ -f \"$pidfile\" ] && kill \"$(cat \"$pidfile\")\" 2>/dev/null; rm -f \"$pidfile\"; }\n" +
            "case \"$1\" in\n" +
            "  start|restart) stop; nohup sleep 2147483647 >/dev/null 2>&1 </dev/null & echo $! > \"$pidfile.tmp\"; mv \"$pidfile.tmp\" \"$pidfile\" ;;\n" +
            "  stop) stop ;;\n" +
            "  *) echo \"usage: $0 start|stop|restart\" >&2; exit 2 ;;\n" +
            "esac\n";
    }
}
