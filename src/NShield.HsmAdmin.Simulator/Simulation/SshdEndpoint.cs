using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Simulation
{
    /// <summary>Starts and stops the OpenSSH sshd of one (module, service) endpoint on 127.0.0.1.</summary>
    internal static class SshdEndpoint
    {
        private static readonly object PortGate = new object();
        private static readonly HashSet<int> Reserved = new HashSet<int>();

        internal static int PickFreePort()
        {
            lock (PortGate)
            {
                for (int i = 0; i < 50; i++)
                {
                    var l = new TcpListener(IPAddress.Loopback, 0);
                    l.Start();
                    int port = ((IPEndPoint)l.LocalEndpoint).Port;
                    l.Stop();
                    if (Reserved.Add(port)) return port;
                }
                throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.ResourceUnavailable, "No free loopback port found.");
            }
        }

        internal static string Config(ModuleLayout l, string svc, int port, string user) => string.Join("\n", new[]
        {
            "# nShield simulated module endpoint: " + svc + " (generated; do not edit)",
            "ListenAddress 127.0.0.1",
            "Port " + port,
            "HostKey " + l.HostKey(svc),
            "PidFile " + l.PidFile(svc),
            "AuthorizedKeysFile " + l.AuthorizedKeys(svc),
            "StrictModes no",
            "UsePAM no",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin prohibit-password",
            "DisableForwarding yes",
            "PermitTTY no",
            "PermitTunnel no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 100:30:200",
            "MaxSessions 10",
            "LoginGraceTime 30",
            "ClientAliveInterval 0",
            // INFO (not ERROR): "Server listening on" is an INFO message and is how start and HUP-reload completion are detected.
            "LogLevel INFO",
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512@openssh.com",
            "HostKeyAlgorithms ssh-ed25519",
            // bash reads ~/.bashrc when it sees SSH_CLIENT and SHLVL < 2; starting the forced command's shell at SHLVL 1
            // (it increments to 2) skips it: saves root's ~250 ms pyenv init per command without touching any account.
            "SetEnv SHLVL=1 DOTNET_TieredPGO=0 DOTNET_TC_QuickJitForLoops=1 DOTNET_NOLOGO=1",
            "Subsystem sftp internal-sftp",
            "AllowUsers " + user,
            "",
        });

        /// <summary>Starts sshd for the endpoint (preferring preferredPort), waits for "Server listening on"; returns (pid, port).</summary>
        internal static (int Pid, int Port) Start(ModuleLayout l, string svc, string sshdPath, int preferredPort = 0)
        {
            var user = Environment.UserName;
            if (user == "root" && !Directory.Exists("/run/sshd"))
            {
                Directory.CreateDirectory("/run/sshd");
                try
                {
                    using var p = Process.Start(new ProcessStartInfo("/bin/chmod", "755 /run/sshd") { UseShellExecute = false });
                    p!.WaitForExit();
                }
                catch (Exception) { }
            }
            string lastLog = "";
            for (int attempt = 0; attempt < 8; attempt++)
            {
                int port = attempt == 0 && preferredPort > 0 ? preferredPort : PickFreePort();
                SecureFiles.WriteAtomic(l.SshdConfig(svc), Config(l, svc, port, user), FileAccessScope.Public);
                SecureFiles.WriteAtomic(l.PortFile(svc), port + "\n", FileAccessScope.Public);
                try { File.Delete(l.PidFile(svc)); } catch (IOException) { }
                int before = ModuleFirmware.CountListening(l.SshdLog(svc));
                long logStart = File.Exists(l.SshdLog(svc)) ? new FileInfo(l.SshdLog(svc)).Length : 0;
                var setsid = File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid " : "";
                // -r: no re-exec of sshd per connection; on 2 cores it cuts a 16-module enroll by about 10%
                // (the re-exec only re-randomises a simulator's address space).
                var cmd = $"exec {setsid}{Q(sshdPath)} -D -r -e -f {Q(l.SshdConfig(svc))} </dev/null >/dev/null 2>>{Q(l.SshdLog(svc))}";
                if (cmd.Contains("\"") || cmd.Contains("\\"))
                    throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidArgument,
                        "Simulator paths must not contain '\"' or '\\'.", l.Dir);
                var psi = new ProcessStartInfo("/bin/sh", "-c \"" + cmd + "\"") { UseShellExecute = false };
                using var proc = Process.Start(psi)!;
                int pid = proc.Id;
                bool ok = ProcessTools.WaitUntil(() => ModuleFirmware.CountListening(l.SshdLog(svc)) > before || proc.HasExited, 15000, 5);
                if (ok && !proc.HasExited)
                {
                    ProcessTools.WaitUntil(() => ProcessTools.ReadPidFile(l.PidFile(svc)) == pid, 2000, 5);
                    return (pid, port);
                }
                if (!proc.HasExited) { ProcessTools.Signal(pid, ProcessTools.SIGKILL); proc.WaitForExit(2000); }
                lastLog = Tail(l.SshdLog(svc), logStart);
                if (!(lastLog.Contains("Address already in use") || lastLog.Contains("Cannot bind"))) break;
            }
            throw new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.ResourceUnavailable,
                $"sshd for {svc} did not start: {lastLog.Trim()}", l.Dir);
        }

        /// <summary>Stops the endpoint's sshd (and its session processes, which share its process group) and waits until it is gone.</summary>
        internal static void Stop(ModuleLayout l, string svc, int knownPid = 0)
        {
            var pid = knownPid > 0 ? knownPid : ProcessTools.ReadPidFile(l.PidFile(svc));
            if (pid > 0 && ProcessTools.IsAlive(pid) && IsOurSshd(pid, l, svc))
            {
                bool group = ProcessGroup(pid) == pid;
                ProcessTools.Signal(group ? -pid : pid, ProcessTools.SIGTERM);
                if (!ProcessTools.WaitUntil(() => !ProcessTools.IsAlive(pid), 3000, 10))
                {
                    ProcessTools.Signal(group ? -pid : pid, ProcessTools.SIGKILL);
                    ProcessTools.WaitUntil(() => !ProcessTools.IsAlive(pid), 3000, 10);
                }
            }
            try { File.Delete(l.PidFile(svc)); } catch (IOException) { }
        }

        /// <summary>Guards against pid reuse: only signal a process whose command line names this endpoint's config.</summary>
        private static bool IsOurSshd(int pid, ModuleLayout l, string svc)
        {
            try
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                return cmdline.Contains(l.SshdConfig(svc));
            }
            catch (IOException) { return false; }
        }

        private static int ProcessGroup(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var parts = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
                return int.Parse(parts[2]);
            }
            catch (Exception) { return 0; }
        }

        private static string Tail(string path, long from)
        {
            try
            {
                using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                fs.Seek(Math.Min(from, fs.Length), SeekOrigin.Begin);
                using var sr = new StreamReader(fs);
                var t = sr.ReadToEnd();
                return t.Length > 1000 ? t.Substring(t.Length - 1000) : t;
            }
            catch (IOException) { return ""; }
        }

        private static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";
    }
}
