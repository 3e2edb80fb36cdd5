using System;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// The few libc calls netstandard2.0 lacks (no File.SetUnixFileMode / UnixCreateMode there).
    /// open(O_CREAT|O_EXCL, mode) is what lets a secret file be born 0600: no window where it is world-readable.
    /// </summary>
    internal static class UnixNative
    {
        [DllImport("libc", SetLastError = true, EntryPoint = "open")]
        static extern int open_(string path, int flags, int mode);
        [DllImport("libc", SetLastError = true, EntryPoint = "close")]
        static extern int close_(int fd);
        [DllImport("libc", SetLastError = true, EntryPoint = "chmod")]
        static extern int chmod_(string path, int mode);
        [DllImport("libc", SetLastError = true, EntryPoint = "mkdir")]
        static extern int mkdir_(string path, int mode);
        [DllImport("libc", SetLastError = true, EntryPoint = "rename")]
        static extern int rename_(string from, string to);
        [DllImport("libc", SetLastError = true, EntryPoint = "fsync")]
        static extern int fsync_(int fd);

        static bool IsMac => RuntimeInformation.IsOSPlatform(OSPlatform.OSX);
        static int O_RDONLY => 0;
        static int O_WRONLY => 1;
        static int O_CREAT => IsMac ? 0x200 : 0x40;
        static int O_EXCL => IsMac ? 0x800 : 0x80;
        static int O_CLOEXEC => IsMac ? 0x1000000 : 0x80000;
        const int EEXIST = 17, EACCES = 13, EPERM = 1;

        /// <summary>Permission errors as UnauthorizedAccessException, like the rest of System.IO, so callers map them once.</summary>
        static Exception Failure(string what, int errno) => errno == EACCES || errno == EPERM
            ? new UnauthorizedAccessException($"{what}: {new Win32Exception(errno).Message}")
            : new System.IO.IOException($"{what}: {new Win32Exception(errno).Message}");

        /// <summary>Creates a new file with exactly <paramref name="mode"/> (chmod after, since umask may strip bits) and returns its fd.</summary>
        public static int CreateExclusive(string path, int mode)
        {
            int fd = open_(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
            if (fd < 0)
            {
                int errno = Marshal.GetLastWin32Error();
                if (errno == EEXIST) throw new System.IO.IOException($"File '{path}' already exists.");
                throw Failure($"Cannot create '{path}'", errno);
            }
            Chmod(path, mode);
            return fd;
        }

        public static void Chmod(string path, int mode)
        {
            if (chmod_(path, mode) != 0)
                throw Failure($"chmod {Convert.ToString(mode, 8)} '{path}' failed", Marshal.GetLastWin32Error());
        }

        /// <summary>mkdir with a mode; returns false if it already exists.</summary>
        public static bool MakeDirectory(string path, int mode)
        {
            if (mkdir_(path, mode) == 0) { Chmod(path, mode); return true; }
            int errno = Marshal.GetLastWin32Error();
            if (errno == EEXIST) return false;
            throw Failure($"Cannot create directory '{path}'", errno);
        }

        /// <summary>rename(2): atomically replaces <paramref name="to"/>.</summary>
        public static void Rename(string from, string to)
        {
            if (rename_(from, to) != 0)
                throw Failure($"rename '{from}' -> '{to}' failed", Marshal.GetLastWin32Error());
        }

        /// <summary>fsync a directory so a rename inside it survives power loss (best effort).</summary>
        public static void SyncDirectory(string path)
        {
            int fd = open_(path, O_RDONLY | O_CLOEXEC, 0);
            if (fd < 0) return;
            fsync_(fd);
            close_(fd);
        }
    }
}
