using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The libc calls only the simulator needs (signalling its sshd and firmware processes, finding its parent, making the
    /// scripts it writes executable). The product's own native calls stay in the engine's Interop/ files.
    /// </summary>
    internal static class SimulatorNative
    {
        [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
        private static extern int kill_(int pid, int sig);
        [DllImport("libc", EntryPoint = "getppid")]
        private static extern int getppid_();
        [DllImport("libc", SetLastError = true, EntryPoint = "chmod")]
        private static extern int chmod_(string path, int mode);

        public const int SIGHUP = 1, SIGKILL = 9, SIGTERM = 15;

        /// <summary>kill(2); a negative pid signals the process group. False when it fails (no such process, not ours).</summary>
        public static bool Kill(int pid, int signal) => kill_(pid, signal) == 0;

        /// <summary>getppid(2).</summary>
        public static int ParentProcessId() => getppid_();

        /// <summary>chmod(2); throws when it fails.</summary>
        public static void Chmod(string path, int mode)
        {
            if (chmod_(path, mode) != 0)
                throw new System.IO.IOException($"chmod '{path}' failed (errno {Marshal.GetLastWin32Error()}).");
        }
    }
}
