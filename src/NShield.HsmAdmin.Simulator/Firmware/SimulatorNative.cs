using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The libc calls only the simulator needs (signalling its sshd and firmware processes, finding its parent, waiting for
    /// its owner process to exit, making the scripts it writes executable). The product's own native calls stay in the engine's Interop/ files.
    /// </summary>
    internal static class SimulatorNative
    {
        [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
        private static extern int kill_(int pid, int sig);
        [DllImport("libc", EntryPoint = "getppid")]
        private static extern int getppid_();
        [DllImport("libc", SetLastError = true, EntryPoint = "chmod")]
        private static extern int chmod_(string path, int mode);
        [DllImport("libc", SetLastError = true, EntryPoint = "close")]
        private static extern int close_(int fd);
        [DllImport("libc", SetLastError = true, EntryPoint = "syscall")]
        private static extern long syscall_(long number, long arg1, long arg2);
        [DllImport("libc", SetLastError = true, EntryPoint = "poll")]
        private static extern int poll_(ref PollFd fds, ulong count, int timeout);

        [StructLayout(LayoutKind.Sequential)]
        private struct PollFd { public int Fd; public short Events; public short Revents; }

        public const int SIGHUP = 1, SIGKILL = 9, SIGTERM = 15;

        /// <summary>kill(2); a negative pid signals the process group. False when it fails (no such process, not ours).</summary>
        public static bool Kill(int pid, int signal) => kill_(pid, signal) == 0;

        /// <summary>getppid(2).</summary>
        public static int ParentProcessId() => getppid_();

        /// <summary>
        /// Blocks until the process exits, through a pidfd (Linux 5.3+; the same syscall number on x86-64 and arm64), with no
        /// timer. Returns false at once when no pidfd can be had (older kernel, no such process) or the wait fails: the caller
        /// then checks another way. <paramref name="stillSame"/> runs once the pidfd is open, to rule out a reused pid.
        /// </summary>
        public static bool WaitForProcessExit(int pid, System.Func<bool> stillSame)
        {
            const long SysPidfdOpen = 434;
            const short POLLIN = 1;
            const int EINTR = 4;
            int fd = (int)syscall_(SysPidfdOpen, pid, 0);
            if (fd < 0) return false;
            try
            {
                if (!stillSame()) return true;
                var p = new PollFd { Fd = fd, Events = POLLIN };
                while (true)
                {
                    int r = poll_(ref p, 1, -1);
                    if (r > 0) return true;
                    if (r < 0 && Marshal.GetLastWin32Error() != EINTR) return false;
                }
            }
            finally { close_(fd); }
        }

        /// <summary>chmod(2); throws when it fails.</summary>
        public static void Chmod(string path, int mode)
        {
            if (chmod_(path, mode) != 0)
                throw new System.IO.IOException($"chmod '{path}' failed (errno {Marshal.GetLastWin32Error()}).");
        }
    }
}
