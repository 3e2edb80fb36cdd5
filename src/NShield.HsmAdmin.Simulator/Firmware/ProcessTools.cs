using System;
using System.IO;
using System.Net.Sockets;
using System.Threading;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>Process helpers for the simulator's sshd and firmware (Linux): signals (SimulatorNative), liveness,
    /// loopback port probes. No P/Invoke of its own.</summary>
    internal static class ProcessTools
    {
        public const int SIGHUP = SimulatorNative.SIGHUP, SIGKILL = SimulatorNative.SIGKILL, SIGTERM = SimulatorNative.SIGTERM;

        public static bool Signal(int pid, int sig)
        {
            if (pid == 0 || pid == 1 || pid == -1) return false; // negative = process group
            try { return SimulatorNative.Kill(pid, sig); }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                var name = sig == SIGHUP ? "HUP" : sig == SIGKILL ? "KILL" : "TERM";
                using var p =
                    System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/kill",
                        $"-{name} {pid}") { UseShellExecute = false });
                p!.WaitForExit();
                return p.ExitCode == 0;
            }
        }

        /// <summary>chmod 0755 (a script the simulator writes and runs).</summary>
        public static void MakeExecutable(string path)
        {
            if (Environment.OSVersion.Platform != PlatformID.Unix) return;
            SimulatorNative.Chmod(path, 0x1ED);
        }

        public static int ParentPid()
        {
            try { return SimulatorNative.ParentProcessId(); } catch { return -1; }
        }

        /// <summary>True if the pid exists and is not a zombie.</summary>
        public static bool IsAlive(int pid)
        {
            if (pid <= 1) return false;
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                int close = stat.LastIndexOf(')');
                return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
            }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return true; }
        }

        public static string? Comm(int pid)
        {
            try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); } catch { return null; }
        }

        public static int ReadPidFile(string path)
        {
            try { return int.TryParse(File.ReadAllText(path).Trim(), out var pid) ? pid : 0; }
            catch (IOException) { return 0; }
        }

        public static bool IsPortOpen(int port, int timeoutMs = 300)
        {
            try
            {
                using var c = new TcpClient();
                var t = c.ConnectAsync("127.0.0.1", port);
                return t.Wait(timeoutMs) && c.Connected;
            }
            catch (Exception) { return false; }
        }

        public static bool WaitUntil(Func<bool> condition, int timeoutMs, int pollMs = 10)
        {
            var start = Environment.TickCount;
            while (true)
            {
                if (condition()) return true;
                if (Environment.TickCount - start > timeoutMs) return false;
                Thread.Sleep(pollMs);
            }
        }
    }
}
