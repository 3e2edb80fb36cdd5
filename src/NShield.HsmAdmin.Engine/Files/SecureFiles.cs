using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.AccessControl;
using System.Text;
using Microsoft.Win32.SafeHandles;
using NShield.HsmAdmin.Interop;

namespace NShield.HsmAdmin.Files
{
    /// <summary>
    /// Creates files and folders already restricted to their <see cref="FileAccessScope"/> (never chmod-after-write)
    /// and writes them atomically: temp file in the same folder, write, Flush(true), rename over the target.
    /// </summary>
    public static class SecureFiles
    {
        static bool IsWindows => RuntimeInformation.IsOSPlatform(OSPlatform.Windows);

        static int UnixMode(FileAccessScope scope, bool directory) => scope switch
        {
            FileAccessScope.Public => directory ? 0x1ED /*0755*/ : 0x1A4 /*0644*/,
            _ => directory ? 0x1C0 /*0700*/ : 0x180 /*0600*/,
        };

        public static void EnsureDirectory(string path, FileAccessScope scope)
        {
            if (Directory.Exists(path)) return;
            var parent = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent)) Directory.CreateDirectory(parent);
            if (IsWindows)
            {
                if (scope == FileAccessScope.Public) Directory.CreateDirectory(path);
                else new DirectoryInfo(path).Create(DirectorySecurityFor(scope));
            }
            else UnixNative.MakeDirectory(path, UnixMode(scope, directory: true));
        }

        /// <summary>
        /// The host store folder itself: 0755 on Unix; on Windows a protected ACL (owner, Administrators, SYSTEM, inherited
        /// by everything inside, nothing inherited from the parent), see <see cref="StoreAcl"/>. An existing folder is left as it is.
        /// </summary>
        public static void EnsureStoreRoot(string path)
        {
            if (Directory.Exists(path)) return;
            if (!IsWindows) { EnsureDirectory(path, FileAccessScope.Public); return; }
            var parent = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent)) Directory.CreateDirectory(parent);
            new DirectoryInfo(path).Create(StoreAcl.DirectorySecurity(StoreAcl.Scope.StoreRoot));
        }

        /// <summary>Creates a new file (fails if it exists) restricted from birth.</summary>
        public static FileStream CreateNew(string path, FileAccessScope scope)
        {
            if (IsWindows)
            {
                if (scope == FileAccessScope.Public)
                    return new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                return new FileInfo(path).Create(FileMode.CreateNew, FileSystemRights.Write | FileSystemRights.Read | FileSystemRights.Delete,
                    FileShare.None, 4096, FileOptions.None, FileSecurityFor(scope));
            }
            int fd = UnixNative.CreateExclusive(path, UnixMode(scope, directory: false));
            return new FileStream(new SafeFileHandle((IntPtr)fd, ownsHandle: true), FileAccess.Write);
        }

        /// <param name="durable">
        /// False: atomic (readers see the old or the new file, never a torn one) but not flushed to disk, for files that are
        /// diagnostics rewritten very often (the simulated firmware's log), where two fsyncs per write cost more than they save.
        /// </param>
        public static void WriteAtomic(string path, string text, FileAccessScope scope, bool durable = true) =>
            WriteAtomic(path, new UTF8Encoding(false).GetBytes(text), scope, durable);

        public static void WriteAtomic(string path, byte[] content, FileAccessScope scope, bool durable = true)
        {
            var temp = TempPathFor(path);
            try
            {
                using (var fs = CreateNew(temp, scope))
                {
                    fs.Write(content, 0, content.Length);
                    fs.Flush(flushToDisk: durable);
                }
                ReplaceAtomic(temp, path, durable);
            }
            catch
            {
                TryDelete(temp);
                throw;
            }
        }

        /// <summary>Moves <paramref name="source"/> over <paramref name="target"/> in one step (same folder or same volume).</summary>
        public static void ReplaceAtomic(string source, string target, bool durable = true)
        {
            if (IsWindows)
            {
                // A lock-free reader holding the target open makes Replace fail for a moment: retry briefly.
                for (int attempt = 0; ; attempt++)
                {
                    try
                    {
                        if (File.Exists(target)) File.Replace(source, target, null, ignoreMetadataErrors: true);
                        else File.Move(source, target);
                        return;
                    }
                    catch (IOException) when (attempt < 20) { System.Threading.Thread.Sleep(10 + attempt * 5); }
                    catch (UnauthorizedAccessException) when (attempt < 20) { System.Threading.Thread.Sleep(10 + attempt * 5); }
                }
            }
            else
            {
                UnixNative.Rename(source, target);
                if (durable) UnixNative.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
            }
        }

        public static string TempPathFor(string path) =>
            Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!,
                "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N").Substring(0, 12) + ".tmp");

        public static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        static StoreAcl.Scope AclScope(FileAccessScope scope) =>
            scope == FileAccessScope.Administrators ? StoreAcl.Scope.Administrators : StoreAcl.Scope.OwnerOnly;

        static FileSecurity FileSecurityFor(FileAccessScope scope) => StoreAcl.FileSecurity(AclScope(scope));

        static DirectorySecurity DirectorySecurityFor(FileAccessScope scope) => StoreAcl.DirectorySecurity(AclScope(scope));
    }
}
