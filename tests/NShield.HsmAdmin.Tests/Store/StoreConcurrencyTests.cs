using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace NShield.HsmAdmin.Tests.Store
{
    public class StoreConcurrencyTests
    {
        readonly ITestOutputHelper _out;
        public StoreConcurrencyTests(ITestOutputHelper output) { _out = output; }

        public sealed class Counter { public int Value { get; set; } }

        /// <summary>StoreStress.dll, built alongside this project (same configuration).</summary>
        internal static string StressProgram()
        {
            var baseDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            var tfm = Path.GetFileName(baseDir);
            var config = Path.GetFileName(Path.GetDirectoryName(baseDir)!);
            var repo = new DirectoryInfo(baseDir);
            while (repo != null && !File.Exists(Path.Combine(repo.FullName, "NShield.HsmAdmin.slnx"))) repo = repo.Parent;
            var dll = Path.Combine(repo!.FullName, "tests", "StoreStress", "bin", config, tfm, "StoreStress.dll");
            Assert.True(File.Exists(dll), $"{dll} was not built");
            return dll;
        }

        [Fact]
        public async Task Six_processes_incrementing_under_the_lock_lose_no_update_and_no_audit_line()
        {
            using var dir = new TempDirectory();
            const int processes = 6, iterations = 40, total = processes * iterations;
            var dll = StressProgram();
            var clock = Stopwatch.StartNew();
            var runs = Enumerable.Range(0, processes)
                .Select(i => Task.Run(() => ProcessRunner.Run("dotnet", new[] { dll, dir.Path, iterations.ToString(), "w" + i }, timeout: TimeSpan.FromSeconds(120))))
                .ToArray();
            await Task.WhenAll(runs);
            clock.Stop();
            foreach (var r in runs) Assert.True((await r).ExitCode == 0, (await r).ToString());

            var store = new HostStore(dir.Path);
            Assert.Equal(total, store.ReadDocument<Counter>("counter")!.Value);
            var lines = File.ReadAllLines(store.AuditLogPath);
            Assert.Equal(total, lines.Length);
            var values = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("detail").GetString()!.Split(':')[2]).Select(int.Parse).ToList();
            Assert.Equal(Enumerable.Range(1, total), values); // strictly serialised: audit order = counter order
            Assert.Equal(total, store.ReadAudit().Count);
            Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories).Concat(Directory.GetFiles(dir.Path, ".*")));
            _out.WriteLine($"{processes} processes x {iterations} locked read-increment-write-audit: {clock.ElapsedMilliseconds} ms wall " +
                           $"(incl. process starts), {total / clock.Elapsed.TotalSeconds:0} ops/s");
            foreach (var r in runs) _out.WriteLine((await r).StdOut.Trim());
        }

        [Fact]
        public void Threads_in_one_process_serialise_too_and_the_lock_is_reentrant_in_its_flow()
        {
            using var dir = new TempDirectory();
            var store = new HostStore(dir.Path);
            const int threads = 8, iterations = 50;
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                for (int i = 0; i < iterations; i++)
                    using (store.AcquireLock(TimeSpan.FromSeconds(60)))
                    using (store.AcquireLock(TimeSpan.FromSeconds(1))) // reentrant: no self-deadlock
                    {
                        var c = store.ReadDocument<Counter>("counter") ?? new Counter();
                        c.Value++;
                        store.WriteDocument("counter", c);
                    }
            });
            _out.WriteLine($"{threads} threads x {iterations}: {threads * iterations / clock.Elapsed.TotalSeconds:0} locked increments/s");
            Assert.Equal(threads * iterations, store.ReadDocument<Counter>("counter")!.Value);
        }

        [Fact]
        public async Task Tasks_fanned_out_by_a_lock_holder_can_write_and_do_not_lose_updates()
        {
            using var dir = new TempDirectory();
            var store = new HostStore(dir.Path);
            using (store.AcquireLock(TimeSpan.FromSeconds(5)))
            {
                await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() =>
                    store.UpsertModule(new ModuleRecord { Esn = $"0000-0000-{i:X4}", Status = ModuleStatus.Enrolled }))));
            }
            Assert.Equal(16, store.GetModules().Count);
        }

        [Fact]
        public void A_held_lock_times_out_other_processes_and_other_threads_with_StoreLockTimeout()
        {
            using var dir = new TempDirectory();
            var store = new HostStore(dir.Path);
            using (store.AcquireLock(TimeSpan.FromSeconds(5)))
            {
                var blocked = ProcessRunner.Run("dotnet", new[] { StressProgram(), dir.Path, "1", "blocked", "300" }, timeout: TimeSpan.FromSeconds(60));
                Assert.Equal(3, blocked.ExitCode);
                Assert.Contains("StoreLockTimeout", blocked.StdErr);
                Assert.Contains("store.lock", blocked.StdErr);
                Assert.Contains($"process {Environment.ProcessId} (", blocked.StdErr); // names the real holder (/proc/locks)

                // A thread outside the holder's flow (new threads inherit the flow unless suppressed) waits like a process.
                HsmException? seen = null;
                Thread t;
                using (ExecutionContext.SuppressFlow())
                {
                    t = new Thread(() =>
                    {
                        try { store.AcquireLock(TimeSpan.FromMilliseconds(200)).Dispose(); }
                        catch (HsmException e) { seen = e; }
                    });
                    t.Start();
                }
                t.Join();
                Assert.Equal(HsmErrorIds.StoreLockTimeout, seen?.ErrorId);
            }
            var free = ProcessRunner.Run("dotnet", new[] { StressProgram(), dir.Path, "1", "free", "300" }, timeout: TimeSpan.FromSeconds(60));
            Assert.Equal(0, free.ExitCode);
        }

        [SkippableFact]
        [System.Runtime.Versioning.SupportedOSPlatform("linux")]
        public void An_unprivileged_user_gets_StoreAccessDenied_naming_the_store()
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "drops privileges with setpriv (Linux)");
            Skip.If(Environment.UserName != "root", "needs root, to drop to the unprivileged user nobody");
            Skip.IfNot(File.Exists("/usr/bin/setpriv"), "needs /usr/bin/setpriv (util-linux) to drop to nobody");
            using var dir = new TempDirectory();
            var store = Path.Combine(dir.Path, "store");
            Directory.CreateDirectory(store);
            File.SetUnixFileMode(dir.Path, (UnixFileMode)Convert.ToInt32("755", 8));
            var r = ProcessRunner.Run("/usr/bin/setpriv", new[] { "--reuid=65534", "--regid=65534", "--clear-groups",
                "env", "HOME=/tmp", "DOTNET_CLI_HOME=/tmp", "dotnet", StressProgram(), store, "1", "nobody" }, timeout: TimeSpan.FromSeconds(60));
            Assert.Equal(3, r.ExitCode);
            Assert.StartsWith("StoreAccessDenied: Cannot write the host store " + store, r.StdErr);
        }
    }
}
