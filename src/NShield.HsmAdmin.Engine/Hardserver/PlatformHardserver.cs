using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Hardserver
{
    /// <summary>
    /// The real hardserver: restarted with the init script on Linux and the "nFast Server" service on Windows;
    /// found through a pid file, the service, or its process name. Every default can be overridden in the
    /// host configuration (<see cref="HardserverSettings"/>) for non-default installs.
    /// </summary>
    public sealed class PlatformHardserver : IHardserver
    {
        public const string LinuxInitScript = "/opt/nfast/sbin/init.d-ncipher";
        public const string WindowsService = "nFast Server";
        public const string DefaultProcessName = "hardserver";
        private static readonly TimeSpan RestartTimeout = TimeSpan.FromSeconds(120);

        private readonly HardserverSettings _settings;
        private readonly bool _windows = RuntimeInformation.IsOSPlatform(OSPlatform.Windows);

        public PlatformHardserver(HardserverSettings? settings) { _settings = settings ?? new HardserverSettings(); }

        public static PlatformHardserver For(HostStore store) => new PlatformHardserver(store.GetConfiguration().Hardserver);

        private string ServiceName => _settings.ServiceName ?? WindowsService;

        // A Windows service name goes into a PowerShell command line: only plain names, no quotes, no wildcards.
        private static readonly System.Text.RegularExpressions.Regex ServiceNamePattern =
            new System.Text.RegularExpressions.Regex("^[A-Za-z0-9 _.-]{1,256}$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        /// <summary>Null when the name is a plain Windows service name; otherwise why not.</summary>
        public static string? CheckServiceName(string name) =>
            ServiceNamePattern.IsMatch(name) ? null : "a service name is letters, digits, spaces, '_', '.' and '-' (no quotes or wildcards)";

        // System programs by full path: never whatever the search path finds first.
        private static string SystemProgram(string relative) =>
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.System), relative);
        private string? Command => _settings.RestartCommand ?? (_windows ? null : LinuxInitScript);
        private string Arguments => _settings.RestartArguments ?? "restart";

        public string Description => Command != null ? $"{Command} {Arguments}" : $"Windows service '{ServiceName}'";

        public void Restart()
        {
            ProcessStartInfo start;
            if (Command != null)
            {
                if (!File.Exists(Command))
                    throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.ObjectNotFound,
                        $"The hardserver restart command '{Command}' was not found. Install the Security World software, or point the host " +
                        "at the right one with Set-HsmHostConfiguration -HardserverRestartCommand.", Command);
                StorePermissions.CheckConfiguredFile(Command, "hardserver restart command");
                start = new ProcessStartInfo(Command, Arguments);
            }
            else
            {
                var bad = CheckServiceName(ServiceName);
                if (bad != null)
                    throw new HsmException(HsmErrorIds.InvalidName, HsmErrorKind.InvalidArgument,
                        $"The configured hardserver service name '{ServiceName}' is refused: {bad}.", ServiceName);
                start = new ProcessStartInfo(SystemProgram(@"WindowsPowerShell\v1.0\powershell.exe"),
                    $"-NoProfile -NonInteractive -Command \"Restart-Service -Name '{ServiceName}' -ErrorAction Stop\"");
            }
            start.UseShellExecute = false;
            start.RedirectStandardError = true;
            start.RedirectStandardOutput = true;
            start.RedirectStandardInput = true;
            var stderr = new StringBuilder();
            using (var stderrClosed = new System.Threading.ManualResetEventSlim(false))
            using (var process = new Process { StartInfo = start })
            {
                process.ErrorDataReceived += (_, e) =>
                {
                    if (e.Data == null) stderrClosed.Set();
                    else lock (stderr) stderr.AppendLine(e.Data);
                };
                process.OutputDataReceived += (_, e) => { };
                try { StartRetryingBusy(process); }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is IOException)
                {
                    throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.InvalidOperation,
                        $"Could not run the hardserver restart ({Description}): {e.Message}", Command ?? ServiceName, e);
                }
                process.StandardInput.Close();
                process.BeginErrorReadLine();
                process.BeginOutputReadLine();
                // Wait for the restart program only: a daemon it starts may keep our pipes open.
                if (!process.WaitForExit((int)RestartTimeout.TotalMilliseconds))
                {
                    try { process.Kill(); } catch (InvalidOperationException) { }
                    throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.OperationTimeout,
                        $"The hardserver restart ({Description}) did not finish within {RestartTimeout.TotalSeconds:0} s.", Command ?? ServiceName);
                }
                if (process.ExitCode != 0)
                {
                    // The message comes from stderr; give its reader a moment to drain (bounded: a daemon may hold it open).
                    stderrClosed.Wait(TimeSpan.FromSeconds(2));
                    string text;
                    lock (stderr) text = stderr.ToString().Trim();
                    throw new HsmException(HsmErrorIds.HardserverRestartFailed, HsmErrorKind.InvalidOperation,
                        $"The hardserver restart ({Description}) failed with exit code {process.ExitCode}" +
                        (text.Length > 0 ? $": {Truncate(text)}" : "."),
                        Command ?? ServiceName);
                }
            }
        }

        public HardserverState GetState()
        {
            try
            {
                var pid = FindProcessId(out var why);
                if (pid == null) return why == null ? new HardserverState { Running = false } : new HardserverState { UnknownReason = why };
                using (var process = Process.GetProcessById(pid.Value))
                    return new HardserverState { Running = true, ProcessId = pid, StartedAt = new DateTimeOffset(process.StartTime) };
            }
            catch (ArgumentException)
            {
                return new HardserverState { Running = false };   // the process ended between finding and reading it
            }
            catch (Exception e) when (e is InvalidOperationException || e is System.ComponentModel.Win32Exception ||
                                      e is UnauthorizedAccessException || e is IOException || e is NotSupportedException)
            {
                return new HardserverState { UnknownReason = $"the hardserver process could not be read ({e.Message.TrimEnd('.')})" };
            }
        }

        /// <summary>The running hardserver's pid; null with why == null when none runs, null with a reason when unknowable.</summary>
        private int? FindProcessId(out string? why)
        {
            why = null;
            if (_settings.PidFile != null)
            {
                if (!File.Exists(_settings.PidFile)) return null;
                // Whoever can write the pid file decides what the host believes: refuse one others can change.
                try { StorePermissions.CheckConfiguredFile(_settings.PidFile, "hardserver pid file"); }
                catch (HsmException e) { why = e.Message; return null; }
                string text;
                try { text = File.ReadAllText(_settings.PidFile).Trim(); }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    why = $"the pid file {_settings.PidFile} cannot be read ({e.Message.TrimEnd('.')})";
                    return null;
                }
                if (!int.TryParse(text, out var pid) || pid <= 0) { why = $"the pid file {_settings.PidFile} holds no process id"; return null; }
                if (!IsRunning(pid)) return null;
                // A pid file left behind may name a process that reused the number: check its name when one is configured.
                if (_settings.ProcessName != null && !HasName(pid, _settings.ProcessName))
                {
                    why = $"process {pid} from the pid file is not named '{_settings.ProcessName}' (a stale pid file?)";
                    return null;
                }
                return pid;
            }
            if (_windows && _settings.ProcessName == null) return ServiceProcessId(out why);
            var name = _settings.ProcessName ?? DefaultProcessName;
            var found = Process.GetProcessesByName(name);
            try
            {
                var running = found.Where(p => IsRunning(p.Id)).ToList();
                if (running.Count == 0) return null;
                if (running.Count > 1) { why = $"{running.Count} processes are named '{name}'; set -HardserverPidFile"; return null; }
                return running[0].Id;
            }
            finally { foreach (var p in found) p.Dispose(); }
        }

        // A restart script written a moment ago can be "busy" (ETXTBSY) while another thread's fork still holds its write
        // descriptor (until that child's exec closes it): try again briefly.
        private static void StartRetryingBusy(Process process)
        {
            for (int attempt = 1; ; attempt++)
            {
                try { process.Start(); return; }
                catch (System.ComponentModel.Win32Exception e) when (e.NativeErrorCode == 26 && attempt < 50)
                {
                    System.Threading.Thread.Sleep(20);
                }
            }
        }

        private static bool HasName(int pid, string name)
        {
            try { using (var p = Process.GetProcessById(pid)) return string.Equals(p.ProcessName, name, StringComparison.Ordinal); }
            catch (Exception e) when (e is ArgumentException || e is InvalidOperationException) { return false; }
        }

        private static bool IsRunning(int pid)
        {
            // Linux: a zombie (exited, not yet reaped) still has /proc/<pid>, but holds no key.
            var stat = $"/proc/{pid}/stat";
            if (File.Exists(stat))
            {
                try
                {
                    var text = File.ReadAllText(stat);
                    var state = text.Substring(text.LastIndexOf(')') + 2, 1);
                    return state != "Z" && state != "X";
                }
                catch (IOException) { return false; }
            }
            try { using (var p = Process.GetProcessById(pid)) return !p.HasExited; }
            catch (ArgumentException) { return false; }
            catch (InvalidOperationException) { return false; }
        }

        // Windows: the service's process id from "sc.exe queryex" (no ServiceController in netstandard2.0).
        private int? ServiceProcessId(out string? why)
        {
            why = null;
            if (CheckServiceName(ServiceName) is string bad) { why = $"the service name is refused: {bad}"; return null; }
            var start = new ProcessStartInfo(SystemProgram("sc.exe"), $"queryex \"{ServiceName}\"") { UseShellExecute = false,
                RedirectStandardOutput = true, CreateNoWindow = true };
            using (var sc = Process.Start(start)!)
            {
                var output = sc.StandardOutput.ReadToEnd();
                sc.WaitForExit(10_000);
                if (sc.ExitCode != 0) { why = $"the service '{ServiceName}' could not be queried (sc.exe exit {sc.ExitCode})"; return null; }
                var line = output.Split('\n').FirstOrDefault(l => l.Trim().StartsWith("PID", StringComparison.OrdinalIgnoreCase));
                var value = line?.Split(':').LastOrDefault()?.Trim();
                if (!int.TryParse(value, out var pid)) { why = $"the service '{ServiceName}' reported no process id"; return null; }
                return pid == 0 ? (int?)null : pid;
            }
        }

        private static string Truncate(string s) => s.Length <= 500 ? s : s.Substring(0, 500) + "…";
    }
}
