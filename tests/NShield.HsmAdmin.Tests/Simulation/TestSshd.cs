using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>
    /// A bare OpenSSH sshd on 127.0.0.1 with our own minimal sshd_config in a temp folder (options as in SshdEndpoint),
    /// plus whatever lines a test adds (Ciphers, MACs, KexAlgorithms). Its forced command prints one protocol-1 ok reply.
    /// </summary>
    public sealed class TestSshd : IDisposable
    {
        public const string Esn = "7E57-0000-0001";
        private readonly Process _process;
        private readonly string _sshdPath;

        public string Dir { get; }
        public int Port { get; }
        public SshKeyPair ClientKey { get; }
        /// <summary>The server key sshd presents (Ed25519 unless a test asks for another type).</summary>
        public SshPublicKey HostKey { get; }

        public TestSshd(params string[] extraConfig) : this(SshKeyAlgorithm.Ed25519, extraConfig) { }

        /// <summary>An sshd whose only host key is of <paramref name="hostKeyAlgorithm"/> (and HostKeyAlgorithms says so).</summary>
        public TestSshd(SshKeyAlgorithm hostKeyAlgorithm, params string[] extraConfig)
            : this(File.Exists("/usr/sbin/sshd") ? "/usr/sbin/sshd" : "sshd", null, hostKeyAlgorithm, extraConfig) { }

        /// <summary>With the sshd program and the parent of its folder given (a test of the failure path names a missing sshd).</summary>
        internal TestSshd(string sshdPath, string? parentDir, SshKeyAlgorithm hostKeyAlgorithm, params string[] extraConfig)
        {
            Dir = parentDir == null
                ? Directory.CreateTempSubdirectory("nshield-sshd-").FullName
                : Directory.CreateDirectory(Path.Combine(parentDir, "nshield-sshd-" + Guid.NewGuid().ToString("N").Substring(0, 8))).FullName;
            _sshdPath = sshdPath;
            // A start that fails (no sshd, no port) never reaches Dispose: its folder, with the host key, goes here.
            try { (_process, Port, ClientKey, HostKey) = StartSshd(hostKeyAlgorithm, extraConfig); }
            catch
            {
                try { Directory.Delete(Dir, true); } catch (Exception) { }
                throw;
            }
        }

        private (Process, int, SshKeyPair, SshPublicKey) StartSshd(SshKeyAlgorithm hostKeyAlgorithm, string[] extraConfig)
        {
            var clientKey = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "test-client");
            try { return StartSshd(hostKeyAlgorithm, extraConfig, clientKey); }
            catch
            {
                clientKey.Dispose();
                throw;
            }
        }

        private (Process, int, SshKeyPair, SshPublicKey) StartSshd(SshKeyAlgorithm hostKeyAlgorithm, string[] extraConfig, SshKeyPair clientKey)
        {
            SshPublicKey hostKeyPublic;
            using (var host = SshKeyPair.Generate(hostKeyAlgorithm, "test-host"))
            {
                WriteOwnerOnly(Path.Combine(Dir, "host_key"), OpenSshPrivateKey.Encode(host, null));
                hostKeyPublic = host.PublicKey;
            }
            var hostKeyAlgorithms = hostKeyPublic.KeyType == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : hostKeyPublic.KeyType;
            File.WriteAllText(Path.Combine(Dir, "authorized_keys"), clientKey.PublicKey.ToAuthorizedKeysLine() + "\n");
            var reply = Path.Combine(Dir, "reply.sh");
            File.WriteAllText(reply, "#!/bin/sh\necho '{\"protocol\":1,\"ok\":true,\"result\":{\"esn\":\"" + Esn + "\"}}'\n");
            File.SetUnixFileMode(reply, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (Environment.UserName == "root") Directory.CreateDirectory("/run/sshd");

            string lastLog = "";
            for (int attempt = 0; attempt < 8; attempt++)
            {
                int port = FreePort();
                var config = Path.Combine(Dir, "sshd_config");
                var lines = new List<string>(extraConfig) // first occurrence of a keyword wins: the test's lines go first
                {
                    "ListenAddress 127.0.0.1", "Port " + port, "HostKey " + Path.Combine(Dir, "host_key"),
                    "PidFile " + Path.Combine(Dir, "sshd.pid"), "AuthorizedKeysFile " + Path.Combine(Dir, "authorized_keys"),
                    "StrictModes no", "UsePAM no", "AuthenticationMethods publickey", "PubkeyAuthentication yes",
                    "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
                    "DisableForwarding yes", "PermitTTY no", "UseDNS no", "LogLevel INFO", "HostKeyAlgorithms " + hostKeyAlgorithms,
                    "SetEnv SHLVL=1", "ForceCommand " + reply, "AllowUsers " + Environment.UserName, "",
                };
                File.WriteAllText(config, string.Join("\n", lines));
                var psi = new ProcessStartInfo(_sshdPath)
                {
                    UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true,
                };
                foreach (var a in new[] { "-D", "-e", "-f", config }) psi.ArgumentList.Add(a);
                var p = Process.Start(psi)!;
                var listening = new ManualResetEventSlim();
                var log = new System.Text.StringBuilder();
                p.ErrorDataReceived += (_, e) =>
                {
                    if (e.Data == null) return;
                    lock (log) log.AppendLine(e.Data);
                    if (e.Data.Contains("Server listening on")) listening.Set();
                };
                p.BeginErrorReadLine();
                if (listening.Wait(15000) && !p.HasExited) return (p, port, clientKey, hostKeyPublic);
                try { p.Kill(); } catch (Exception) { }
                p.WaitForExit(3000);
                lock (log) lastLog = log.ToString();
                if (!lastLog.Contains("Address already in use")) break;
            }
            throw new InvalidOperationException("test sshd did not start: " + lastLog);
        }

        public ModuleAddress Address => new ModuleAddress(NShield.HsmAdmin.Modules.Esn.Parse(Esn), ModuleTransports.Ssh, "127.0.0.1", Environment.UserName,
            new Dictionary<string, int> { [ModuleServices.SshAdmin] = Port });

        /// <summary>The key exchanges the installed OpenSSH implements (`ssh -Q kex`).</summary>
        public static IReadOnlyList<string> OpenSshKeyExchanges()
        {
            var r = Infrastructure.SimProcessRunner.Run("ssh", new[] { "-Q", "kex" });
            return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        private static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        private static void WriteOwnerOnly(string path, string text)
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
            using var w = new StreamWriter(new FileStream(path, options));
            w.Write(text);
        }

        public void Dispose()
        {
            try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(3000); } } catch (Exception) { }
            _process.Dispose();
            ClientKey.Dispose();
            try { Directory.Delete(Dir, true); } catch (Exception) { }
        }
    }
}
