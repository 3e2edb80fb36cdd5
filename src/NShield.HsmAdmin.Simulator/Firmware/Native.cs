using System;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>POSIX process helpers (Linux): signals by pid, liveness, loopback port probes.</summary>
    internal static class Native
    {
        public const int SIGHUP = 1, SIGKILL = 9, SIGTERM = 15;

        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int sys_kill(int pid, int sig);

        [DllImport("libc", EntryPoint = "getppid")]
        private static extern int sys_getppid();

        public static bool Signal(int pid, int sig)
        {
            if (pid == 0 || pid == 1 || pid == -1) return false; // negative = process group
            try { return sys_kill(pid, sig) == 0; }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                var name = sig == SIGHUP ? "HUP" : sig == SIGKILL ? "KILL" : "TERM";
                using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/kill", $"-{name} {pid}") { UseShellExecute = false });
                p!.WaitForExit();
                return p.ExitCode == 0;
            }
        }

        [DllImport("libc", EntryPoint = "chmod", SetLastError = true)]
        private static extern int sys_chmod(string path, uint mode);

        /// <summary>chmod 0755 (a script the simulator writes and runs).</summary>
        public static void MakeExecutable(string path)
        {
            if (Environment.OSVersion.Platform != PlatformID.Unix) return;
            if (sys_chmod(path, 0x1ED) != 0) throw new IOException($"chmod 0755 {path} failed (errno {Marshal.GetLastWin32Error()}).");
        }

        public static int ParentPid()
        {
            try { return sys_getppid(); } catch { return -1; }
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
