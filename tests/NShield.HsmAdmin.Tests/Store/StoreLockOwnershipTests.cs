using System;
using System.Diagnostics;
using System.IO;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    /// <summary>
    /// Issue 23, item 4: no account other than the store's owner can block the store. The lock file is owner-only, so
    /// another account cannot even open it to flock it (real setpriv, real flock(1)); the timeout names the process that
    /// really holds the lock (from /proc/locks), never the last holder the product remembered.
    /// </summary>
    public class StoreLockOwnershipTests
    {
        static bool CanRun => OperatingSystem.IsLinux() && UnixNative.EffectiveUserId() == 0 && File.Exists("/usr/bin/setpriv") && File.Exists("/usr/bin/flock");

        static string Mode(string path) => ProcessRunner.Run("/usr/bin/stat", new[] { "-c", "%a %U", path }).StdOut.Trim();

        [Fact]
        public void Another_account_cannot_open_the_lock_file_to_hold_it_and_changes_go_on()
        {
            if (!CanRun) return;
            using var dir = new TempDirectory();
            ProcessRunner.Run("/bin/chmod", "755", dir.Path);
            var store = new HostStore(dir.File("host"));
            store.WriteDocument("probe", new { n = 1 });
            Assert.Equal("600 root", Mode(store.LockPath));

            var other = ProcessRunner.Run("/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                "/usr/bin/flock", "-n", store.LockPath, "true");
            Assert.NotEqual(0, other.ExitCode);
            Assert.Contains("Permission denied", other.StdErr);

            store.DefaultLockTimeout = TimeSpan.FromSeconds(5);
            store.WriteDocument("probe", new { n = 2 });
            Assert.Contains("2", File.ReadAllText(store.DocumentPath("probe")));
        }

        [Fact]
        public void A_lock_file_an_earlier_version_left_readable_by_all_is_made_owner_only_when_next_taken()
        {
            if (!CanRun) return;
            using var dir = new TempDirectory();
            var store = new HostStore(dir.File("host"));
            store.WriteDocument("probe", new { n = 1 });
            ProcessRunner.Run("/bin/chmod", "644", store.LockPath);
            store.WriteDocument("probe", new { n = 2 });
            Assert.Equal("600 root", Mode(store.LockPath));
        }

        [Fact]
        public void The_timeout_names_the_process_that_really_holds_the_lock()
        {
            if (!CanRun) return;
            using var dir = new TempDirectory();
            var store = new HostStore(dir.File("host"));
            store.WriteDocument("probe", new { n = 1 });
            var start = new ProcessStartInfo("/usr/bin/flock", new[] { "-n", store.LockPath, "-c", "echo locked; exec sleep 60" })
            { RedirectStandardOutput = true, UseShellExecute = false };
            using var holder = Process.Start(start)!;
            try
            {
                Assert.Equal("locked", holder.StandardOutput.ReadLine());
                store.DefaultLockTimeout = TimeSpan.FromMilliseconds(300);
                var e = Assert.Throws<HsmException>(() => store.WriteDocument("probe", new { n = 2 }));
                Assert.Equal(HsmErrorIds.StoreLockTimeout, e.ErrorId);
                Assert.Contains($"process {holder.Id} (flock, account root)", e.Message);
            }
            finally { holder.Kill(entireProcessTree: true); holder.WaitForExit(); }
        }
    }
}
