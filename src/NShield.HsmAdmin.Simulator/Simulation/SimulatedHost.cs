using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

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
        /// Refuses (SimulatorStoreRefused) the system's default store, a store that registers modules a simulator did not,
        /// and — unless a simulator set it up before — one holding client keys, pins, enrolled modules, trusted roots or
        /// host settings. Otherwise creates the store folder as the product does and marks it as simulated.
        /// </summary>
        public static HostStore Claim(string hostPath)
        {
            var full = Path.GetFullPath(hostPath);
            if (string.Equals(full.TrimEnd(Path.DirectorySeparatorChar),
                Path.GetFullPath(HostStoreLocation.SystemDefault).TrimEnd(Path.DirectorySeparatorChar),
                    StringComparison.OrdinalIgnoreCase))
                throw Refused(full, "it is this machine's system host store");
            var store = HostStore.Open(full);
            var marker = Path.Combine(store.Root, MarkerFileName);
            var foreign =
                store.GetRegisteredModules().Where(r => r.RegisteredBy == null
                    || !r.RegisteredBy.StartsWith("simulator:", StringComparison.Ordinal)).ToList();
            string? why = null;
            if (foreign.Count > 0) why = $"it registers modules the simulator did not ({string.Join(", ", foreign.Select(r => r.Esn))})";
            else if (!File.Exists(marker))
            {
                if (store.GetClientKeys().Count > 0) why = "it holds client keys the simulator did not make";
                else if (store.GetModules().Count > 0) why = "it lists enrolled modules the simulator did not make";
                else if (File.Exists(store.KnownHostsPath) && new FileInfo(store.KnownHostsPath).Length > 0) why = "it holds pinned server keys";
                else if (store.GetTrustedRoots().Count > 0) why = "it trusts vendor roots the simulator did not add";
                else if (File.Exists(store.ConfigurationPath)) why = "it has host settings the simulator did not make";
            }
            if (why != null) throw Refused(store.Root, why);
            if (!File.Exists(marker))
            {
                SecureFiles.EnsureStoreRoot(store.Root);
                SecureFiles.WriteAtomic(marker, "This host store was set up by the NShield.HsmAdmin simulator.\n", FileAccessScope.Public);
            }
            return store;
        }

        private static HsmException Refused(string root, string why) =>
            new HsmException(SimulatorErrorIds.SimulatorStoreRefused, HsmErrorKind.InvalidOperation,
                $"The simulator will not use the host store '{root}': {why}. Give the simulator a host folder of its own " +
                "(-HostPath), or leave it out to get a temporary one.", root);

        /// <summary>Vendor root, factory credential and stand-in hardserver of this simulator in the host store.</summary>
        public static void Prepare(HostStore store, string simRoot, SshPublicKey vendorRoot)
        {
            store.AddTrustedRoot(RootName(simRoot), vendorRoot, overwrite: true);
            var credential = FactoryCredentialPath(simRoot);
            if (!File.Exists(credential)) SecureFiles.WriteAtomic(credential, DefaultCredential.PrivateKeyOpenSsh, FileAccessScope.OwnerOnly);
            var hardserverDir = HardserverDir(simRoot, store.Root);
            var script = Path.Combine(hardserverDir, "hardserver");
            var pidFile = Path.Combine(hardserverDir, "hardserver.pid");
            if (!File.Exists(script))
            {
                SecureFiles.EnsureDirectory(Path.GetDirectoryName(hardserverDir)!, FileAccessScope.Public);
                SecureFiles.EnsureDirectory(hardserverDir, FileAccessScope.Public);
                SecureFiles.WriteAtomic(script, StandInScript, FileAccessScope.Public);
                ProcessTools.MakeExecutable(script);
            }
            string? active = null;
            // Only settings still at their default, or made by a simulator, are changed: an administrator's own stay.
            store.UpdateConfiguration(config =>
            {
                var changes = new List<string>();
                if (config.FactoryCredentialPath == null || OwnedBySimulator(config.FactoryCredentialPath))
                {
                    if (config.FactoryCredentialPath != credential) changes.Add("factory credential");
                    config.FactoryCredentialPath = credential;
                }
                var current = config.Hardserver.RestartCommand;
                // A running stand-in of another simulator stays; a default, a stopped or a missing one is replaced.
                if (current == null || (OwnedBySimulator(current) && (!File.Exists(current) || !IsRunning(config.Hardserver.PidFile))))
                {
                    if (current != script) changes.Add("stand-in hardserver");
                    config.Hardserver = new HardserverSettings { RestartCommand = script, RestartArguments = "restart", PidFile = pidFile };
                }
                // A simulated host is its own machine (issue 23): its global nonces live in the simulator's folder, never in
                // this machine's /etc/opt/nfast. Set only on a host without one; kept when the simulator is released, since
                // the host's keys stay bound to it.
                if (config.MachineFolder == null && !HasMachineBoundKeys(store))
                {
                    config.MachineFolder = MachineFolder(simRoot);
                    changes.Add("simulated machine folder");
                }
                active = config.Hardserver.PidFile;
                return changes.Count == 0 ? null : $"simulator {simRoot}: {string.Join(" and ", changes)}";
            });
            // A host's hardserver runs before any module is enrolled, as on a real host.
            if (active == pidFile && !IsRunning(pidFile)) RunScript(script, "start");
        }

        /// <summary>
        /// Takes out what <see cref="Prepare"/> put in: its vendor root, and its settings unless another simulator still has
        /// modules on the host (then they stay: never back to the real init script while simulated modules remain).
        /// Stops its stand-in hardserver.
        /// </summary>
        public static void Release(string hostPath, string simRoot)
        {
            var script = Path.Combine(HardserverDir(simRoot, Path.GetFullPath(hostPath)), "hardserver");
            RunScript(script, "stop");
            if (!Directory.Exists(hostPath)) return;
            var store = HostStore.Open(hostPath);
            store.RemoveTrustedRoot(RootName(simRoot));
            var others =
                store.GetRegisteredModules().Any(r => r.RegisteredBy != null && r.RegisteredBy.StartsWith("simulator:", StringComparison.Ordinal)
                                                              && r.RegisteredBy != RegisteredBy(simRoot));
            if (others) return;
            var mine = simRoot.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            store.UpdateConfiguration(config =>
            {
                var changes = new List<string>();
                if (config.FactoryCredentialPath != null && config.FactoryCredentialPath.StartsWith(mine, StringComparison.Ordinal))
                {
                    config.FactoryCredentialPath = null;
                    changes.Add("factory credential");
                }
                if (config.Hardserver.RestartCommand != null && config.Hardserver.RestartCommand.StartsWith(mine, StringComparison.Ordinal))
                {
                    config.Hardserver = new HardserverSettings();
                    changes.Add("stand-in hardserver");
                }
                return changes.Count == 0 ? null : $"simulator {simRoot} removed: {string.Join(" and ", changes)} back to the defaults";
            });
        }

        /// <summary>The simulated machine's folder (global nonces of the hosts it set up).</summary>
        public static string MachineFolder(string simRoot) => Path.Combine(simRoot, "machine");

        static bool HasMachineBoundKeys(HostStore store) => store.GetClientKeys().Any(k => k.ProtectionSpec.IsMachineBound);

        public static string FactoryCredentialPath(string simRoot) => Path.Combine(simRoot, "factory-credential");

        private static string HardserverDir(string simRoot, string hostRoot) => Path.Combine(simRoot, "hardservers", ShortHash(hostRoot));

        // A path inside a simulator's folder (one holding simulator.json within three levels up): a setting a simulator made.
        private static bool OwnedBySimulator(string path)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            for (int i = 0; i < 3 && !string.IsNullOrEmpty(dir); i++, dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, Simulator.StateFileName))) return true;
            return false;
        }

        private static bool IsRunning(string? pidFile) =>
            pidFile != null && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && ProcessTools.IsAlive(pid);

        private static void RunScript(string script, string verb)
        {
            if (!File.Exists(script) || Environment.OSVersion.Platform != PlatformID.Unix) return;
            var start = new System.Diagnostics.ProcessStartInfo(script, verb) { UseShellExecute = false };
            // Just written, the script can be "busy" (ETXTBSY) for an instant: another thread's fork may still hold the
            // write descriptor until its exec closes it (close-on-exec). Try again briefly.
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    using (var p = System.Diagnostics.Process.Start(start)!) p.WaitForExit(10_000);
                    return;
                }
                catch (System.ComponentModel.Win32Exception e) when (e.NativeErrorCode == 26 && attempt < 50)
                {
                    System.Threading.Thread.Sleep(20);
                }
            }
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
            "  start|restart) stop; nohup sleep 2147483647 >/dev/null 2>&1 </dev/null & echo " +
            "$! > \"$pidfile.tmp\"; mv \"$pidfile.tmp\" \"$pidfile\" ;;\n" +
            "  stop) stop ;;\n" +
            "  *) echo \"usage: $0 start|stop|restart\" >&2; exit 2 ;;\n" +
            "esac\n";
    }
}
