using NShield.HsmAdmin.Modules;
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Pinned module server keys in a known_hosts-compatible file, one line per (module, service) under the host name
    /// nshield-&lt;ESN&gt;-&lt;service&gt;, so OpenSSH can check them too:
    /// ssh -o HostKeyAlias=nshield-8A2C-91F3-0D4E-sshadmin -o UserKnownHostsFile=&lt;KnownHostsPath&gt; ...
    /// Lines the product did not write (comments, other hosts) are kept as they are.
    /// </summary>
    public sealed partial class HostStore
    {
        const string PinPrefix = "nshield-";

        public static string PinHostName(string esn, string service) =>
            PinPrefix + Esn.Parse(esn) + "-" + ModuleServices.Canonical(service);

        public SshPublicKey? GetPin(string esn, string service)
        {
            var host = PinHostName(esn, service);
            return ReadPinLines().Where(l => l.Host == host).Select(l => l.Key).FirstOrDefault();
        }

        /// <summary>Service -&gt; pinned server key for one module (empty if none).</summary>
        public IReadOnlyDictionary<string, SshPublicKey> GetPins(string esn)
        {
            esn = Esn.Parse(esn);
            var lines = ReadPinLines().ToList();
            var result = new Dictionary<string, SshPublicKey>(StringComparer.Ordinal);
            foreach (var service in ModuleServices.All)
            {
                var host = PinPrefix + esn + "-" + service;
                var line = lines.FirstOrDefault(l => l.Host == host);
                if (line.Key != null) result[service] = line.Key;
            }
            return result;
        }

        /// <summary>Replaces every pin of <paramref name="esn"/> with <paramref name="pins"/> (service -&gt; server key).</summary>
        public void SetPins(string esn, IReadOnlyDictionary<string, SshPublicKey> pins)
        {
            esn = Esn.Parse(esn);
            var newLines = pins.Select(p => (Service: ModuleServices.Canonical(p.Key), p.Value))
                .OrderBy(p => ModuleServices.All.ToList().IndexOf(p.Service))
                .Select(p => PinPrefix + esn + "-" + p.Service + " " + p.Value.KeyType + " " + Convert.ToBase64String(p.Value.Blob))
                .ToList();
            RewritePins(esn, newLines);
        }

        public bool RemovePins(string esn) => RewritePins(Esn.Parse(esn), new List<string>());

        /// <summary>Every change of a module's pins is audited here, whoever the caller (pins.set / pins.remove).</summary>
        bool RewritePins(string esn, List<string> replacement)
        {
            return Write(() =>
            {
                var lines = File.Exists(KnownHostsPath) ? File.ReadAllLines(KnownHostsPath).ToList() : new List<string>();
                var prefix = PinPrefix + esn + "-";
                var old = lines.Where(l => HostOf(l)?.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) == true).ToList();
                int removed = lines.RemoveAll(l => HostOf(l)?.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) == true);
                lines.AddRange(replacement);
                if (removed == 0 && replacement.Count == 0) return false;
                var text = new StringBuilder();
                foreach (var l in lines) text.Append(l).Append('\n');
                SecureFiles.WriteAtomic(KnownHostsPath, text.ToString(), FileAccessScope.Public);
                AuditPinChange(esn, old, replacement);
                return true;
            });
        }

        void AuditPinChange(string esn, List<string> oldLines, List<string> newLines)
        {
            static string Normal(string line) => string.Join(" ", line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries).Take(3));
            var before = new HashSet<string>(oldLines.Select(Normal), StringComparer.Ordinal);
            var after = new HashSet<string>(newLines.Select(Normal), StringComparer.Ordinal);
            if (before.SetEquals(after)) return; // the same pins written again
            var oldPins = oldLines.Select(DescribePin).ToList();
            var newPins = newLines.Select(DescribePin).ToList();
            if (newLines.Count == 0)
                AppendAudit(new AuditEntry { Operation = "pins.remove", Esn = esn, Result = "Removed", Fingerprints = oldPins });
            else
                AppendAudit(new AuditEntry
                {
                    Operation = "pins.set", Esn = esn, Result = oldLines.Count == 0 ? "Pinned" : "Replaced", Fingerprints = newPins,
                    Detail = oldLines.Count == 0 ? null : "previous: " + string.Join(", ", oldPins),
                });
        }

        /// <summary>"service=SHA256:..." of one pin line (for the audit log).</summary>
        static string DescribePin(string line)
        {
            var host = HostOf(line) ?? "";
            var service = ModuleServices.All.FirstOrDefault(s => host.EndsWith("-" + s, StringComparison.OrdinalIgnoreCase)) ?? host;
            try { return service + "=" + SshPublicKey.Parse(line.Trim().Substring(host.Length).Trim()).Fingerprint; }
            catch (HsmException) { return service + "=(unreadable)"; }
        }

        static string? HostOf(string line)
        {
            var t = line.Trim();
            if (t.Length == 0 || t[0] == '#') return null;
            int space = t.IndexOf(' ');
            return space < 0 ? null : t.Substring(0, space);
        }

        // known_hosts is read for every channel a fleet opens; parse it once per version of the file. Writes replace
        // the file by rename, so its write time and length change with every write.
        readonly object _pinCacheGate = new object();
        (DateTime Written, long Length, List<(string Host, SshPublicKey Key)> Lines)? _pinCache;

        /// <summary>Every pin, as ESN -&gt; service -&gt; server key, read in one pass.</summary>
        public IReadOnlyDictionary<string, IReadOnlyDictionary<string, SshPublicKey>> GetAllPins()
        {
            var result = new Dictionary<string, Dictionary<string, SshPublicKey>>(StringComparer.Ordinal);
            foreach (var (host, key) in ReadPinLines())
            {
                var service = ModuleServices.All.FirstOrDefault(s => host.EndsWith("-" + s, StringComparison.Ordinal));
                if (service == null) continue;
                var esn = host.Substring(PinPrefix.Length, host.Length - PinPrefix.Length - service.Length - 1);
                if (!Esn.TryParse(esn, out var canonical)) continue;
                if (!result.TryGetValue(canonical, out var pins))
                    result[canonical] = pins = new Dictionary<string, SshPublicKey>(StringComparer.Ordinal);
                if (!pins.ContainsKey(service)) pins[service] = key;
            }
            return result.ToDictionary(r => r.Key, r => (IReadOnlyDictionary<string, SshPublicKey>)r.Value, StringComparer.Ordinal);
        }

        List<(string Host, SshPublicKey Key)> ReadPinLines()
        {
            var file = new FileInfo(KnownHostsPath);
            if (!file.Exists) return new List<(string, SshPublicKey)>();
            lock (_pinCacheGate)
            {
                if (_pinCache is { } c && c.Written == file.LastWriteTimeUtc && c.Length == file.Length) return c.Lines;
            }
            string[] lines;
            try { lines = File.ReadAllLines(KnownHostsPath); }
            catch (FileNotFoundException) { return new List<(string, SshPublicKey)>(); }
            catch (DirectoryNotFoundException) { return new List<(string, SshPublicKey)>(); }
            var parsed = new List<(string Host, SshPublicKey Key)>();
            for (int i = 0; i < lines.Length; i++)
            {
                var host = HostOf(lines[i]);
                if (host == null || !host.StartsWith(PinPrefix, StringComparison.Ordinal)) continue;
                SshPublicKey key;
                try { key = SshPublicKey.Parse(lines[i].Trim().Substring(host.Length).Trim()); }
                catch (HsmException e)
                {
                    throw StoreJson.Corrupt(KnownHostsPath, $"line {i + 1} for {host} is not a valid key", e);
                }
                parsed.Add((host, key));
            }
            lock (_pinCacheGate) _pinCache = (file.LastWriteTimeUtc, file.Length, parsed);
            return parsed;
        }
    }
}
