using System;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Interop
{
    /// <summary>
    /// Every libc call of the product and the simulator (one interop file per OS; WindowsNative for Windows): the few
    /// netstandard2.0 lacks (no File.SetUnixFileMode / UnixCreateMode there), plus signals and a pidfd wait for the simulator.
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
        [DllImport("libc", EntryPoint = "geteuid")]
        static extern uint geteuid_();
        [DllImport("libc", EntryPoint = "getpwuid_r")]
        static extern int getpwuid_r_(uint uid, IntPtr pwd, IntPtr buf, IntPtr buflen, out IntPtr result);
        [DllImport("libc", SetLastError = true, EntryPoint = "chown")]
        static extern int chown_(string path, uint owner, uint group);
        [DllImport("libc", SetLastError = true, EntryPoint = "getgrnam")]
        static extern IntPtr getgrnam_(string name);
        [DllImport("libc", SetLastError = true, EntryPoint = "getgrgid")]
        static extern IntPtr getgrgid_(uint gid);
        [DllImport("libc", SetLastError = true, EntryPoint = "readlink")]
        static extern IntPtr readlink_(string path, byte[] buffer, IntPtr size);
        [DllImport("libc", SetLastError = true, EntryPoint = "statx")]
        static extern int statx_(int dirfd, string path, int flags, uint mask, byte[] buffer);

        static bool IsMac => RuntimeInformation.IsOSPlatform(OSPlatform.OSX);
        static int O_RDONLY => 0;
        static int O_WRONLY => 1;
        static int O_CREAT => IsMac ? 0x200 : 0x40;
        static int O_EXCL => IsMac ? 0x800 : 0x80;
        static int O_CLOEXEC => IsMac ? 0x1000000 : 0x80000;
        const int EEXIST = 17, EACCES = 13, EPERM = 1, ENOENT = 2, ENOTDIR = 20, ERANGE = 34;

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

        /// <summary>The target of a symbolic link as stored in it; null when the path is not a link (or does not exist).</summary>
        public static string? ReadLink(string path)
        {
            var buffer = new byte[4096];
            long n = readlink_(path, buffer, (IntPtr)buffer.Length).ToInt64();
            return n <= 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n);
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

        public static void CloseFd(int fd) => close_(fd);

        /// <summary>The effective user id of this process (the account files are created for and checked against).</summary>
        public static uint EffectiveUserId() => geteuid_();

        /// <summary>Changes only the group of <paramref name="path"/> (the owner stays: uid -1).</summary>
        public static void ChangeGroup(string path, uint gid)
        {
            if (chown_(path, uint.MaxValue, gid) != 0) throw Failure($"Cannot change the group of '{path}'", Marshal.GetLastWin32Error());
        }

        /// <summary>The gid of a group name (or a number), null when no such group exists. struct group: name, passwd, gid.</summary>
        public static uint? GroupId(string name)
        {
            if (uint.TryParse(name, out var number)) return getgrgid_(number) == IntPtr.Zero ? (uint?)null : number;
            var entry = getgrnam_(name);
            return entry == IntPtr.Zero ? (uint?)null : (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        }

        /// <summary>The name of a gid, or the number as text when it has none.</summary>
        public static string GroupName(uint gid)
        {
            var entry = getgrgid_(gid);
            return entry == IntPtr.Zero ? gid.ToString() : Marshal.PtrToStringAnsi(Marshal.ReadIntPtr(entry)) ?? gid.ToString();
        }

        /// <summary>
        /// The login name of the effective user from the password database (getpwuid_r), never from $USER/$LOGNAME,
        /// which the caller controls. "uid N" when the database has no entry (e.g. an arbitrary uid in a container).
        /// </summary>
        public static string EffectiveUserName() => UserName(geteuid_());

        /// <summary>The login name of <paramref name="uid"/> from the password database; "uid N" when it has none.</summary>
        public static string UserName(uint uid)
        {
            // struct passwd is 48 bytes on 64-bit Linux (72 on macOS); pw_name is its first field everywhere.
            IntPtr pwd = Marshal.AllocHGlobal(256);
            try
            {
                for (int size = 16 * 1024; size <= 1024 * 1024; size *= 4)
                {
                    IntPtr buf = Marshal.AllocHGlobal(size);
                    try
                    {
                        int rc = getpwuid_r_(uid, pwd, buf, (IntPtr)size, out var result);
                        if (rc == ERANGE) continue;
                        if (rc != 0 || result == IntPtr.Zero) break;
                        var name = Marshal.PtrToStringAnsi(Marshal.ReadIntPtr(result));
                        if (!string.IsNullOrEmpty(name)) return name!;
                        break;
                    }
                    finally { Marshal.FreeHGlobal(buf); }
                }
            }
            finally { Marshal.FreeHGlobal(pwd); }
            return "uid " + uid;
        }

        /// <summary>Mode bits and owner of a path (following symlinks, as OpenSSH's StrictModes does).</summary>
        public readonly struct FileStatus
        {
            public FileStatus(int mode, uint owner, uint group = 0, ulong inode = 0, uint deviceMajor = 0, uint deviceMinor = 0)
            {
                Mode = mode; Owner = owner; Group = group; Inode = inode; DeviceMajor = deviceMajor; DeviceMinor = deviceMinor;
            }
            public ulong Inode { get; }
            public uint DeviceMajor { get; }
            public uint DeviceMinor { get; }
            /// <summary>st_mode: file type and permission bits.</summary>
            public int Mode { get; }
            public uint Owner { get; }
            public uint Group { get; }
            public int Permissions => Mode & 0xFFF; // 07777
            public bool IsDirectory => (Mode & 0xF000) == 0x4000;
            public bool IsRegularFile => (Mode & 0xF000) == 0x8000;
        }

        /// <summary>
        /// statx(2): a layout that is the same on every Linux architecture (struct stat is not), in glibc since 2.28.
        /// Null when the path does not exist. Throws PlatformNotSupportedException where statx is missing (not Linux).
        /// </summary>
        public static FileStatus? Stat(string path)
        {
            const int AT_FDCWD = -100;
            const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_UID = 0x8, STATX_GID = 0x10, STATX_INO = 0x100;
            var buffer = new byte[256]; // struct statx is 256 bytes
            int rc;
            try { rc = statx_(AT_FDCWD, path, 0, STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO, buffer); }
            catch (EntryPointNotFoundException e) { throw new PlatformNotSupportedException("statx is not available on this system.", e); }
            if (rc != 0)
            {
                int errno = Marshal.GetLastWin32Error();
                if (errno == ENOENT || errno == ENOTDIR) return null;
                throw Failure($"Cannot stat '{path}'", errno);
            }
            uint uid = BitConverter.ToUInt32(buffer, 20);   // stx_uid
            uint gid = BitConverter.ToUInt32(buffer, 24);   // stx_gid
            int mode = BitConverter.ToUInt16(buffer, 28);   // stx_mode
            ulong ino = BitConverter.ToUInt64(buffer, 32);  // stx_ino
            return new FileStatus(mode, uid, gid, ino, BitConverter.ToUInt32(buffer, 136), BitConverter.ToUInt32(buffer, 140)); // stx_dev_major/minor
        }
    }
}
