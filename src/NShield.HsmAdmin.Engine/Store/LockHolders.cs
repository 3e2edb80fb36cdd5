using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using NShield.HsmAdmin.Interop;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Who really holds a file lock, for the StoreLockTimeout message (issue 23, item 4): on Linux the kernel's own table
    /// (/proc/locks: pid, device and inode of every flock), with the holder's command and account from /proc/&lt;pid&gt;.
    /// Elsewhere, or when the table does not say, the message says it cannot tell, rather than naming a remembered holder.
    /// </summary>
    internal static class LockHolders
    {
        public static string Describe(string lockPath)
        {
            var holders = Find(lockPath);
            return holders.Count == 0
                ? "this system does not say which process holds it"
                : string.Join("; ", holders);
        }

        static List<string> Find(string lockPath)
        {
            var found = new List<string>();
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return found;
            try
            {
                if (UnixNative.Stat(lockPath) is not { } st) return found;
                foreach (var line in File.ReadAllLines("/proc/locks"))
                {
                    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters carry "->" and hold nothing.
                    if (line.Contains("->")) continue;
                    var f = line.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
                    if (f.Length < 6) continue;
                    var id = f[5].Split(':');
                    if (id.Length != 3 || !ulong.TryParse(id[2], out var inode) || inode != st.Inode) continue;
                    if (!uint.TryParse(id[0], NumberStyles.HexNumber, null, out var major) || major != st.DeviceMajor) continue;
                    if (!uint.TryParse(id[1], NumberStyles.HexNumber, null, out var minor) || minor != st.DeviceMinor) continue;
                    if (int.TryParse(f[4], out var pid)) found.Add(Process(pid));
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            catch (PlatformNotSupportedException) { }
            return found.Distinct().ToList();
        }

        static string Process(int pid)
        {
            string command = "?", account = "?";
            try { command = File.ReadAllText($"/proc/{pid}/comm").Trim(); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            try
            {
                var uid = File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?
                    .Split(new[] { '\t', ' ' }, StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
                if (uint.TryParse(uid, out var u)) account = UnixNative.UserName(u);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return $"process {pid} ({command}, account {account})";
        }
    }
}
