using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>
    /// Simulated modules die with their owner: the process that started the simulator. Unless it was started persistent
    /// (<c>Start-HsmSimulator -Persistent</c>), <see cref="Simulator.Start"/> launches one watcher per simulator, the firmware
    /// program with <c>--owner-watch</c>, in a session of its own. It blocks on a pidfd of the owner (poll, no timer: no CPU
    /// while the owner lives; kernels before 5.3 fall back to a check every 2 s) and, once the owner is gone however it
    /// died (SIGKILL included), stops its processes: every sshd endpoint, the stand-in
    /// hardservers and any firmware still running a command of this simulator; then deletes the simulator's folder when Start
    /// created it. It never opens a host store (the watcher is the Native AOT firmware, whose trimmed build leaves the store's
    /// JSON out): registrations left in a host store outside the folder are removed by the next simulator started on that host,
    /// as after any crash. A normal stop ends the watcher (its pid is in simulator.json).
    /// </summary>
    public static class OwnerWatch
    {
        /// <summary>The firmware program's first argument that makes it a watcher instead of a module command.</summary>
        public const string Verb = "--owner-watch";

        /// <summary>This process's id (netstandard2.0 has no Environment.ProcessId).</summary>
        internal static readonly int SelfPid = Process.GetCurrentProcess().Id;

        /// <summary>Starts the watcher of the simulator in root for the owner process; returns its pid (0 where it cannot run).</summary>
        internal static int Start(string root, string firmware, string dotnet, bool removeRoot, int owner)
        {
            if (Environment.OSVersion.Platform != PlatformID.Unix || firmware.Length == 0) return 0;
            var self = owner;
            var program = firmware.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? $"{Q(dotnet)} {Q(firmware)}" : Q(firmware);
            var setsid = File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid " : "";
            // Its own session (a signal to the owner's process group or terminal never reaches it) and no inherited stdio
            // (a runner that waits for the owner's output to end never waits for it).
            var cmd = $"exec {setsid}{program} {Verb} {Q(root)} {self} {StartTime(self)} {(removeRoot ? 1 : 0)} </dev/null >/dev/null 2>&1";
            if (cmd.Contains("\"") || cmd.Contains("\\")) return 0;
            using var proc = Process.Start(new ProcessStartInfo("/bin/sh", "-c \"" + cmd + "\"") { UseShellExecute = false })!;
            return proc.Id;
        }

        /// <summary>The watcher's program: <c>--owner-watch ROOT OWNER-PID OWNER-START-TIME REMOVE-ROOT(0|1)</c>.</summary>
        public static int Run(string[] args)
        {
            if (args.Length < 5 || args[0] != Verb || !int.TryParse(args[2], out var owner) || !long.TryParse(args[3], out var started)) return 2;
            var root = Path.GetFullPath(args[1]);
            WaitForExit(owner, started);
            Cleanup(root, args[4] == "1");
            return 0;
        }

        /// <summary>Stops what is left of the simulator in root after its owner died; also used by tests.</summary>
        internal static void Cleanup(string root, bool removeRoot)
        {
            // simulator.json read directly, not through Simulator: that would pull the engine's drivers and store into the
            // trimmed watcher.
            var state = Path.Combine(root, Simulator.StateFileName);
            SimulatorFile? f = null;
            try { f = JsonSerializer.Deserialize(File.ReadAllBytes(state), SimulatorJson.Default.SimulatorFile); } catch (Exception) { }
            // Started again persistent in the same folder meanwhile, or already gone: nothing of ours to stop.
            if (f == null || f.Persistent) return;
            if (!f.Stopped)
            {
                foreach (var m in f.Modules ?? new List<SimulatorModuleEntry>())
                {
                    if (string.IsNullOrEmpty(m.ModuleDir)) continue;
                    var l = new ModuleLayout(m.ModuleDir!);
                    foreach (var svc in ModuleServices.All)
                    {
                        try { SshdEndpoint.Stop(l, svc); } catch (Exception) { }
                    }
                }
                f.Stopped = true;
                try
                {
                    SecureFiles.WriteAtomic(state, JsonSerializer.Serialize(f, SimulatorJson.Default.SimulatorFile) + "\n", FileAccessScope.Public);
                }
                catch (Exception) { }
            }
            KillStrays(root);
            if (!removeRoot) return;
            for (int attempt = 0; attempt < 5 && Directory.Exists(root); attempt++)
            {
                try { Directory.Delete(root, true); }
                catch (Exception) { Thread.Sleep(200); }
            }
        }

        /// <summary>Processes of this simulator that a stop left (or could not reach): sshd and firmware naming a file under
        /// root/modules/, stand-in hardservers by their pid files.</summary>
        internal static void KillStrays(string root)
        {
            if (!Directory.Exists("/proc")) return;
            var modules = Path.Combine(root, "modules") + Path.DirectorySeparatorChar;
            var self = SelfPid;
            var ownUid = Uid(self);
            var victims = new List<int>();
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == self) continue;
                string[] args;
                try { args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split(new[] { '\0' }, StringSplitOptions.RemoveEmptyEntries); }
                catch (Exception) { continue; }
                // Only this simulator's own processes: an argument that IS a path under root/modules/ (sshd -f <config>,
                // firmware --module-dir <dir>), never a mere substring (a simulator at /srv/x/lab is not /x/lab's), and
                // only processes of the watcher's own account.
                if (args.Contains(Verb) || !args.Skip(1).Any(a => a.StartsWith(modules, StringComparison.Ordinal))) continue;
                if (Uid(pid) == ownUid) victims.Add(pid);
            }
            foreach (var pidFile in SafeFiles(Path.Combine(root, "hardservers"), "hardserver.pid"))
            {
                var pid = ProcessTools.ReadPidFile(pidFile);
                if (pid > 1 && ProcessTools.Comm(pid) == "sleep" && Uid(pid) == ownUid) victims.Add(pid);
            }
            foreach (var pid in victims) ProcessTools.Signal(pid, ProcessTools.SIGKILL);
            foreach (var pid in victims) ProcessTools.WaitUntil(() => !ProcessTools.IsAlive(pid), 2000, 20);
        }

        /// <summary>The real uid of a process (/proc/pid/status), or null when it cannot be read.</summary>
        private static string? Uid(int pid)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                        return line.Split(new[] { '\t', ' ' }, StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
            }
            catch (Exception) { }
            return null;
        }

        /// <summary>Ends a watcher (a normal stop): only a process whose command line is this simulator's watcher.</summary>
        internal static void End(int pid, string root)
        {
            if (pid <= 1 || pid == SelfPid) return;
            try
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
                if (!cmdline.Contains(Verb) || !cmdline.Contains(root)) return;
            }
            catch (Exception) { return; }
            ProcessTools.Signal(pid, ProcessTools.SIGKILL);
            // A stop leaves nothing of the simulator running, its watcher included (a zombie counts as gone).
            ProcessTools.WaitUntil(() => !ProcessTools.IsAlive(pid), 2000, 10);
        }

        private static IEnumerable<string> SafeFiles(string dir, string name)
        {
            try { return Directory.Exists(dir) ? Directory.GetFiles(dir, name, SearchOption.AllDirectories) : Array.Empty<string>(); }
            catch (Exception) { return Array.Empty<string>(); }
        }

        // ------------------------------------------------------------------ waiting for the owner

        private static void WaitForExit(int pid, long started)
        {
            bool exited = false;
            // A pidfd taken after the owner's death could name a new process with its pid: the start time rules that out.
            try { exited = SimulatorNative.WaitForProcessExit(pid, () => StartTime(pid) == started); }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException) { }
            if (exited) return;
            // No pidfd (kernel before 5.3) or the wait failed: one check every 2 s, per simulator.
            while (StartTime(pid) == started && ProcessTools.IsAlive(pid)) Thread.Sleep(2000);
        }

        /// <summary>A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, it names one process.</summary>
        internal static long StartTime(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
                return long.Parse(fields[19], CultureInfo.InvariantCulture);
            }
            catch (Exception) { return -1; }
        }

        private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";
    }
}
