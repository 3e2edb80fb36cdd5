using System;
using System.IO;
using System.Threading;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Hardserver
{
    /// <summary>
    /// The real hardserver code (restart through a configured command, state read from the running process),
    /// against a stand-in: a script at the configured path that starts a long-running process.
    /// </summary>
    public sealed class PlatformHardserverTests : IDisposable
    {
        private readonly TempDirectory _dir = new TempDirectory();
        private readonly string _script;
        private readonly string _pidFile;

        public PlatformHardserverTests()
        {
            _pidFile = _dir.File("hardserver.pid");
            _script = _dir.File("init.d-ncipher");
            File.WriteAllText(_script,
                "#!/bin/sh\n" +
                $"pidfile='{_pidFile}'\n" +
                // Like the vendor's init script, stop waits (here at most 5 s) until the old process is gone or a zombie: the
                // test checks it at once (a bare kill lost that race under load: "the old process was stopped").
                "stop() { [ -f \"$pidfile\" ] || return 0; p=$(cat \"$pidfile\"); kill \"$p\" 2>/dev/null; i=0\n" +
                "  while [ $i -lt 100 ] && kill -0 \"$p\" 2>/dev/null && ! grep -q ') Z' /proc/$p/stat 2>/dev/null; do\n" +
                "    sleep 0.05; i=$((i+1)); done\n" +
                "  rm -f \"$pidfile\"; }\n" +
                "case \"$1\" in\n" +
                "  restart) stop; nohup sleep 600 >/dev/null 2>&1 </dev/null & echo $! > \"$pidfile\" ;;\n" +
                "  stop) stop ;;\n" +
                "  fail) echo 'hardserver: cannot open /dev/nfast' >&2; exit 3 ;;\n" +
                "esac\n");
            File.SetUnixFileMode(_script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        public void Dispose()
        {
            Run("stop");
            _dir.Dispose();
        }

        private void Run(string verb) => new PlatformHardserver(new HardserverSettings { RestartCommand = _script, RestartArguments = verb, PidFile = _pidFile }).Restart();

        private PlatformHardserver Configured() => new PlatformHardserver(new HardserverSettings { RestartCommand = _script, PidFile = _pidFile });

        // Running and not a zombie waiting for its reaper (/proc/<pid>/stat: "pid (comm) S ...").
        private static bool IsAlive(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var state = stat.Substring(stat.LastIndexOf(')') + 2, 1);
                return state != "Z" && state != "X";
            }
            catch (IOException) { return false; }
        }

        [Fact]
        public void Restart_runs_the_configured_command_and_the_state_comes_from_the_running_process()
        {
            var hardserver = Configured();
            Assert.False(hardserver.GetState().Running);
            hardserver.Restart();
            var first = hardserver.GetState();
            Assert.True(first.Running);
            Assert.True(first.ProcessId > 0);
            Assert.True(IsAlive(first.ProcessId!.Value), "the reported process runs");
            Assert.InRange(first.StartedAt!.Value, DateTimeOffset.Now.AddMinutes(-1), DateTimeOffset.Now.AddSeconds(5));
            hardserver.Restart();
            var second = hardserver.GetState();
            Assert.NotEqual(first.ProcessId, second.ProcessId);
            Assert.True(IsAlive(second.ProcessId!.Value));
            Assert.False(IsAlive(first.ProcessId.Value), "the old process was stopped");
            Assert.Equal($"{_script} restart", hardserver.Description);
        }

        [Fact]
        public void Key_is_current_only_when_the_process_started_after_the_key_was_switched_in()
        {
            var store = new HostStore(_dir.File("host"), Protection.FakeMachineIdentity.Full("0001"));
            var hardserver = Configured();
            Assert.Null(HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));   // no ncoreapi key: nothing to compare
            hardserver.Restart();
            // Process start times have clock-tick resolution: keep the key switch clearly after the start...
            Thread.Sleep(2 * (int)HardserverKeyState.Resolution.TotalMilliseconds);
            using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519))
                store.SaveClientKey(ModuleServices.NCoreApi, key, ProtectionSpec.None, null);
            Assert.False(HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));
            // ...and the restart clearly after the switch, as Restart-HsmHardserver does.
            HardserverKeyState.WaitPastActivation(store);
            hardserver.Restart();
            Assert.True(HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));
            Run("stop");
            Assert.False(hardserver.GetState().Running);
            Assert.False(HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));   // nothing running holds the key
        }

        [Fact]
        public void Failures_are_typed_and_unknowable_state_says_why()
        {
            var missing = new PlatformHardserver(new HardserverSettings { RestartCommand = _dir.File("nope") });
            var e = Assert.Throws<HsmException>(() => missing.Restart());
            Assert.Equal(HsmErrorIds.HardserverRestartFailed, e.ErrorId);
            Assert.Contains("Set-HsmHostConfiguration", e.Message);

            var failing = Assert.Throws<HsmException>(() => Run("fail"));
            Assert.Equal(HsmErrorIds.HardserverRestartFailed, failing.ErrorId);
            Assert.Contains("exit code 3", failing.Message);
            Assert.Contains("cannot open /dev/nfast", failing.Message);

            File.WriteAllText(_pidFile, "garbage");
            var state = Configured().GetState();
            Assert.Null(state.Running);
            Assert.Contains("holds no process id", state.UnknownReason);
        }

        [Fact]
        public void Default_settings_name_the_vendor_init_script_and_find_the_process_by_name()
        {
            var defaults = new PlatformHardserver(null);
            Assert.Equal(PlatformHardserver.LinuxInitScript + " restart", defaults.Description);
            // The machine decides: with no process named "hardserver" the honest answer is "not running" (not "unknown");
            // with exactly one, that one.
            var running = System.Diagnostics.Process.GetProcessesByName(PlatformHardserver.DefaultProcessName);
            var state = defaults.GetState();
            if (running.Length == 0) Assert.False(state.Running);
            else if (running.Length == 1) Assert.Equal(running[0].Id, state.ProcessId);
            else Assert.Null(state.Running);
        }

        [Fact]
        public void A_pid_file_others_can_write_or_naming_another_process_is_not_believed()
        {
            var hardserver = new PlatformHardserver(new HardserverSettings { RestartCommand = _script, PidFile = _pidFile, ProcessName = "sleep" });
            hardserver.Restart();
            // The script's child is 'nohup' until it has exec'd 'sleep': wait (bounded) for the name to settle.
            var real = hardserver.GetState();
            for (var i = 0; i < 100 && real.Running != true; i++) { Thread.Sleep(50); real = hardserver.GetState(); }
            Assert.True(real.Running, real.UnknownReason);
            try
            {
                // A stale pid file naming a process of another name (this test's own process): not the hardserver.
                File.WriteAllText(_pidFile, Environment.ProcessId.ToString());
                var stale = hardserver.GetState();
                Assert.Null(stale.Running);
                Assert.Contains("not named 'sleep'", stale.UnknownReason);
            }
            finally
            {
                // The stand-in's 'stop' kills whatever the pid file names: never leave this process's id in it.
                File.WriteAllText(_pidFile, real.ProcessId.ToString());
            }
            // A pid file anyone can write decides nothing.
            File.SetUnixFileMode(_pidFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite | UnixFileMode.OtherRead);
            var open = hardserver.GetState();
            Assert.Null(open.Running);
            Assert.Contains("writable by other accounts", open.UnknownReason);
        }

        [Fact]
        public void A_restart_command_others_can_write_is_refused_before_it_runs()
        {
            var marker = _dir.File("ran");
            var script = _dir.File("open-init");
            File.WriteAllText(script, $"#!/bin/sh\ntouch '{marker}'\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupWrite | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
            var e = Assert.Throws<HsmException>(() => new PlatformHardserver(new HardserverSettings { RestartCommand = script }).Restart());
            Assert.Equal(HsmErrorIds.StoreInsecurePermissions, e.ErrorId);
            Assert.False(File.Exists(marker), "the command must not have run");
        }

        [Fact]
        public void Windows_service_names_with_quotes_or_wildcards_are_refused()
        {
            Assert.Null(PlatformHardserver.CheckServiceName("nFast Server"));
            foreach (var bad in new[] { "x’; Stop-Computer; ’", "x'; calc; '", "*", "nFast\"Server", "" })
                Assert.NotNull(PlatformHardserver.CheckServiceName(bad));
        }
    }
}
