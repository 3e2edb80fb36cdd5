using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Tests.Infrastructure;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>Helpers: temp folders, client keys made by the real ssh-keygen, the real OpenSSH client against an endpoint.</summary>
    public sealed class SimTestKit : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), "nshield-simtest-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        private readonly List<Simulator> _sims = new();

        public SimTestKit() { Directory.CreateDirectory(Dir); }

        public string NewHost(string name = "host") { var p = Path.Combine(Dir, name); Directory.CreateDirectory(p); return p; }

        public Simulator Start(int count, string host, SimulatorTransport t = SimulatorTransport.Ssh)
        {
            var sim = Simulator.Start(count, host, t, Path.Combine(Dir, "sim-" + _sims.Count));
            _sims.Add(sim);
            return sim;
        }

        /// <summary>Ed25519 key pair from ssh-keygen; returns (private key path, public line).</summary>
        public (string KeyFile, string Line) NewClientKey(string name)
        {
            var f = Path.Combine(Dir, "keys", name);
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            var r = SimProcessRunner.Run("ssh-keygen", new[] { "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", f });
            if (r.ExitCode != 0) throw new Exception(r.ToString());
            return (f, File.ReadAllText(f + ".pub").Trim());
        }

        public string DefaultCredentialFile()
        {
            var f = Path.Combine(Dir, "keys", "default-credential");
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            if (!File.Exists(f))
            {
                File.WriteAllText(f, DefaultCredential.PrivateKeyOpenSsh);
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            return f;
        }

        /// <summary>known_hosts pinning exactly the key the simulator reports for the endpoint.</summary>
        public string KnownHosts(SimulatedEndpoint ep)
        {
            var f = Path.Combine(Dir, $"known_hosts_{ep.Port}_{Guid.NewGuid():N}");
            File.WriteAllText(f, $"[127.0.0.1]:{ep.Port} {ep.ServerPublicKey}\n");
            return f;
        }

        /// <summary>Runs `ssh ... user@127.0.0.1 verb` with StrictHostKeyChecking=yes against the pinned key.</summary>
        public SimProcessResult Ssh(SimulatedEndpoint ep, string keyFile, string verb, string? body = null, string? knownHosts = null)
        {
            var args = new List<string>
            {
                "-F", "/dev/null", "-i", keyFile, "-p", ep.Port.ToString(),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + (knownHosts ?? KnownHosts(ep)),
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlgorithms=ssh-ed25519",
                "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                Environment.UserName + "@127.0.0.1", verb,
            };
            return SimProcessRunner.Run("ssh", args, body ?? "");
        }

        public static JsonElement Reply(SimProcessResult r)
        {
            var line = r.StdOut.Trim();
            if (line.Length == 0) throw new Exception("no reply: " + r);
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }

        public static string ErrorCode(SimProcessResult r) => Reply(r).GetProperty("error").GetProperty("code").GetString()!;

        public static string Enroll(IDictionary<string, string> clientKeys) =>
            JsonSerializer.Serialize(new { clientKeys });

        public void Dispose()
        {
            foreach (var s in _sims) { try { if (!s.Stopped) s.Stop(); } catch (Exception) { } }
            try { Directory.Delete(Dir, true); } catch (Exception) { }
        }
    }
}
