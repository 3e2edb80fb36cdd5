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
                "stop() { [ -f \"$pidfile\" ] && kill \"$(cat \"$pidfile\")\" 2>/dev/null; rm -f \"$pidfile\"; }\n" +
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
            Thread.Sleep(50);   // the process start time has 10 ms resolution
            using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519))
                store.SaveClientKey(ModuleServices.NCoreApi, key, ProtectionSpec.None, null);
            Assert.False(HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));
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
            // No process named "hardserver" runs here: the honest answer is "not running", not "unknown".
            Assert.False(defaults.GetState().Running);
        }
    }
}
