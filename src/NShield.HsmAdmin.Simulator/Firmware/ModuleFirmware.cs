using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Trust;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The simulated module's firmware: the module side of every operation, on the module's state folder.
    /// Over SSH it runs as the forced command of each endpoint (nshield-sim-firmware); the InProcess transport calls
    /// <see cref="Handle"/> directly after checking <see cref="IsServiceRunning"/> and <see cref="IsAuthorized"/>.
    /// Protocol: docs/firmware-protocol.md.
    /// </summary>
    public static class ModuleFirmware
    {
        public const string FirmwareVersion = "13.6.0-sim";
        public const int ProtocolVersion = 1;
        public const int MaxBodyBytes = 64 * 1024;

        public static readonly IReadOnlyList<string> Verbs = new[]
        {
            "identity", "enroll", "keys.list", "keys.add", "keys.remove", "keys.set", "factorystate", "ping",
        };

        /// <summary>Verbs that change SSH keys (client or server): refused with E_CLOCK while the clock is invalid outside Recovery mode.</summary>
        public static bool ChangesKeys(string verb) =>
            verb == "enroll" || verb == "keys.add" || verb == "keys.remove" || verb == "keys.set" || verb == "factorystate";

        /// <summary>Verbs that read a JSON body from stdin (others never read stdin).</summary>
        public static bool VerbTakesBody(string verb) =>
            verb == "enroll" || verb == "keys.add" || verb == "keys.remove" || verb == "keys.set" || verb == "factorystate";

        // ------------------------------------------------------------------ queries for the in-process transport

        /// <summary>Would the endpoint (module, service) accept this client key? (What sshd decides from authorized_keys.)</summary>
        public static bool IsAuthorized(string moduleDir, string service, string fingerprint)
        {
            if (!ModuleServices.IsKnown(service)) return false;
            var l = new ModuleLayout(moduleDir);
            return ReadAuthorizedKeys(l.AuthorizedKeys(service)).Any(k => k.Fingerprint == fingerprint);
        }

        /// <summary>Is the service's endpoint up (not refused by a fault, not ncoreapi in recovery mode, sshd alive for SSH)?</summary>
        public static bool IsServiceRunning(string moduleDir, string service)
        {
            if (!ModuleServices.IsKnown(service)) return false;
            var l = new ModuleLayout(moduleDir);
            ModuleState s;
            try { s = ReadState(l); } catch (Exception) { return false; }
            if (!ServiceShouldRun(s, service)) return false;
            if (s.Transport == "inprocess") return true;
            return Native.IsAlive(Native.ReadPidFile(l.PidFile(service)));
        }

        internal static bool ServiceShouldRun(ModuleState s, string service) =>
            !s.Refuse && !(service == ModuleServices.NCoreApi && s.Mode == ModuleMode.Recovery);

        /// <summary>The server (host) key the endpoint presents, as "ssh-ed25519 AAAA...".</summary>
        public static string GetServerPublicKey(string moduleDir, string service)
        {
            var l = new ModuleLayout(moduleDir);
            return SshPublicKey.Parse(File.ReadAllText(l.HostKeyPub(ModuleServices.Canonical(service)))).WithComment("").ToAuthorizedKeysLine();
        }

        public static ModuleState ReadState(string moduleDir) => ReadState(new ModuleLayout(moduleDir));

        /// <summary>The delay fault every command of the module waits first, in ms (0: none, or no readable state).</summary>
        public static int CommandDelayMs(string moduleDir)
        {
            try { return Math.Min(Math.Max(0, ReadState(moduleDir).DelayMs), 600_000); }
            catch (Exception) { return 0; }
        }

        internal static ModuleState ReadState(ModuleLayout l) => ModuleState.FromJson(File.ReadAllText(l.StateFile));

        internal static void WriteState(ModuleLayout l, ModuleState s) => AtomicFile.WriteAllText(l.StateFile, s.ToJson());

        // ------------------------------------------------------------------ provisioning (simulator side)

        /// <summary>Creates a fresh module in factory state: identity key, warrant from the vendor root, per-service server keys,
        /// certificates and authorized_keys (default credential on sshadmin only).</summary>
        public static void Provision(string moduleDir, string esn, string vendorRootPrivateKeyText, string dotnetPath, string firmwareDll, string transport)
        {
            var l = new ModuleLayout(moduleDir);
            Directory.CreateDirectory(l.Dir);
            using var root = OpenSshPrivateKey.Decode(vendorRootPrivateKeyText, null);
            using var id = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "identity@" + esn);
            AtomicFile.WriteAllText(l.IdentityKey, OpenSshPrivateKey.Encode(id, null), ownerOnly: true);
            AtomicFile.WriteAllText(l.IdentityPub, id.PublicKey.ToAuthorizedKeysLine() + "\n");
            AtomicFile.WriteAllText(l.Warrant, TrustChain.MakeWarrant(root, esn, id.PublicKey.Blob) + "\n");
            AtomicFile.WriteAllText(l.VendorRootPubCopy, root.PublicKey.WithComment(VendorRootComment).ToAuthorizedKeysLine() + "\n");
            var s = new ModuleState { Esn = esn, Mode = ModuleMode.FactoryState, Enrolled = false, DotnetPath = dotnetPath, FirmwareDll = firmwareDll, Transport = transport };
            foreach (var svc in ModuleServices.All)
            {
                Directory.CreateDirectory(l.ServiceDir(svc));
                NewServerKey(l, s, id, svc);
            }
            ResetClientKeys(l, s);
            WriteState(l, s);
        }

        /// <summary>Comment of the simulated vendor root key (its .pub and each module's copy).</summary>
        internal const string VendorRootComment = "nshield-simulated-vendor-root";

        /// <summary>New Ed25519 server key for the service; the certificate is re-made only when the identity key is given.</summary>
        private static void NewServerKey(ModuleLayout l, ModuleState s, SshKeyPair? identity, string svc)
        {
            using var host = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, $"{svc}@{s.Esn}");
            AtomicFile.WriteAllText(l.HostKey(svc), OpenSshPrivateKey.Encode(host, null), ownerOnly: true);
            AtomicFile.WriteAllText(l.HostKeyPub(svc), host.PublicKey.ToAuthorizedKeysLine() + "\n");
            if (identity != null)
                AtomicFile.WriteAllText(l.Certificate(svc), TrustChain.MakeCertificate(identity, s.Esn, svc, host.PublicKey.Blob) + "\n");
        }

        private static SshKeyPair ReadIdentityKey(ModuleLayout l) => OpenSshPrivateKey.Decode(File.ReadAllText(l.IdentityKey), null);

        private static void ResetClientKeys(ModuleLayout l, ModuleState s)
        {
            foreach (var svc in ModuleServices.All)
                WriteAuthorizedKeys(l, s, svc, svc == ModuleServices.SshAdmin ? new[] { DefaultCredential.PublicKey } : new SshPublicKey[0]);
        }

        /// <summary>Factory reset (the factorystate verb and the recovery button): new server keys and certificates, client keys
        /// removed, default credential back, mode FactoryState (or Recovery). Reloads running sshd endpoints. Caller holds the lock.</summary>
        internal static void ResetToFactory(ModuleLayout l, ModuleState s, bool recovery)
        {
            using var id = ReadIdentityKey(l);
            foreach (var svc in ModuleServices.All) NewServerKey(l, s, id, svc);
            ResetClientKeys(l, s);
            s.Mode = recovery ? ModuleMode.Recovery : ModuleMode.FactoryState;
            s.Enrolled = false;
            WriteState(l, s);
        }

        /// <summary>Engine entry for the recovery button: factory reset into Recovery mode (the simulator then stops ncoreapi).</summary>
        public static void PressRecoveryButton(string moduleDir)
        {
            var l = new ModuleLayout(moduleDir);
            using (AtomicFile.Lock(l.LockFile))
            {
                var s = ReadState(l);
                ResetToFactory(l, s, recovery: true);
            }
            ReloadAll(l);
        }

        /// <summary>Normal boot: Operational if enrolled, else FactoryState. (The simulator restarts ncoreapi's sshd.)</summary>
        public static ModuleMode BootNormally(string moduleDir)
        {
            var l = new ModuleLayout(moduleDir);
            using (AtomicFile.Lock(l.LockFile))
            {
                var s = ReadState(l);
                s.Mode = s.Enrolled ? ModuleMode.Operational : ModuleMode.FactoryState;
                WriteState(l, s);
                return s.Mode;
            }
        }

        /// <summary>Fault: a new server key behind the host's back (the certificate is left alone: an attacker has no identity key).</summary>
        public static void ReplaceServerKey(string moduleDir, string service, bool updateCertificate = false)
        {
            var l = new ModuleLayout(moduleDir);
            service = ModuleServices.Canonical(service);
            using (AtomicFile.Lock(l.LockFile))
            {
                var s = ReadState(l);
                using var id = updateCertificate ? ReadIdentityKey(l) : null;
                NewServerKey(l, s, id, service);
            }
            Reload(l, service);
        }

        /// <summary>Applies a change to state.json under the module lock (fault settings).</summary>
        public static void UpdateState(string moduleDir, Action<ModuleState> change)
        {
            var l = new ModuleLayout(moduleDir);
            using (AtomicFile.Lock(l.LockFile))
            {
                var s = ReadState(l);
                change(s);
                WriteState(l, s);
            }
        }

        // ------------------------------------------------------------------ sshd reload

        internal static int CountListening(string logPath)
        {
            try
            {
                using var fs = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var sr = new StreamReader(fs);
                var text = sr.ReadToEnd();
                int n = 0, i = 0;
                while ((i = text.IndexOf("Server listening on", i, StringComparison.Ordinal)) >= 0) { n++; i++; }
                return n;
            }
            catch (IOException) { return 0; }
        }

        /// <summary>kill -HUP the endpoint's sshd (same pid, rereads its host key) and wait until it listens again.</summary>
        internal static void Reload(ModuleLayout l, string svc)
        {
            var pid = Native.ReadPidFile(l.PidFile(svc));
            if (!Native.IsAlive(pid)) return;
            int before = CountListening(l.SshdLog(svc));
            if (!Native.Signal(pid, Native.SIGHUP)) return;
            Native.WaitUntil(() => CountListening(l.SshdLog(svc)) > before || !Native.IsAlive(pid), 5000, 5);
        }

        internal static void ReloadAll(ModuleLayout l)
        {
            foreach (var svc in ModuleServices.All) Reload(l, svc);
        }

        // ------------------------------------------------------------------ authorized_keys

        /// <summary>Keys in an authorized_keys file (options such as restrict,command="..." skipped).</summary>
        public static List<SshPublicKey> ReadAuthorizedKeys(string path)
        {
            var list = new List<SshPublicKey>();
            string text;
            try { text = File.ReadAllText(path); } catch (IOException) { return list; }
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line[0] == '#') continue;
                var keyPart = line;
                if (!line.StartsWith("ssh-", StringComparison.Ordinal) && !line.StartsWith("ecdsa-", StringComparison.Ordinal))
                {
                    bool q = false; int i = 0;
                    for (; i < line.Length; i++)
                    {
                        if (line[i] == '"') q = !q;
                        else if (line[i] == '\\' && q) i++;
                        else if (line[i] == ' ' && !q) break;
                    }
                    keyPart = i < line.Length ? line.Substring(i + 1) : "";
                }
                if (KeyLine.TryParse(keyPart, out var k, out _)) list.Add(k!);
            }
            return list;
        }

        private static string ShellQuote(string s) => "'" + s.Replace("'", "'\\''") + "'";

        internal static void WriteAuthorizedKeys(ModuleLayout l, ModuleState s, string svc, IEnumerable<SshPublicKey> keys)
        {
            var sb = new StringBuilder();
            foreach (var k in keys)
            {
                // A .dll runs under the dotnet host; anything else is a native (Native AOT) firmware executable run directly.
                var program = s.FirmwareDll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
                    ? $"{ShellQuote(s.DotnetPath)} {ShellQuote(s.FirmwareDll)}" : ShellQuote(s.FirmwareDll);
                var cmd = $"{program} --module-dir {ShellQuote(l.Dir)} --service {svc} --key {k.Fingerprint}";
                if (cmd.Contains("\"") || cmd.Contains("\\")) throw new InvalidOperationException("paths must not contain '\"' or '\\'");
                sb.Append("restrict,command=\"").Append(cmd).Append("\" ").Append(k.ToAuthorizedKeysLine()).Append('\n');
            }
            AtomicFile.WriteAllText(l.AuthorizedKeys(svc), sb.ToString());
        }

        // ------------------------------------------------------------------ request handling

        /// <summary>Handles one command. Never throws: every failure becomes an error reply.</summary>
        public static FirmwareReply Handle(FirmwareRequest req)
        {
            try
            {
                return HandleCore(req);
            }
            catch (FirmwareError e)
            {
                return new FirmwareReply { ExitCode = 1, Json = ReplyWriter.Error(e.Code, e.Message) };
            }
            catch (Exception e)
            {
                return new FirmwareReply { ExitCode = 1, Json = ReplyWriter.Error(FirmwareErrorCodes.Internal, "internal firmware error: " + e.GetType().Name + ": " + e.Message) };
            }
        }

        private static FirmwareReply HandleCore(FirmwareRequest req)
        {
            var verb = (req.Verb ?? "").Trim();
            if (!Verbs.Contains(verb))
                throw new FirmwareError(FirmwareErrorCodes.UnknownCommand, $"unknown command '{(verb.Length > 40 ? verb.Substring(0, 40) + "..." : verb)}'; protocol {ProtocolVersion} commands: {string.Join(", ", Verbs)}");
            if (!ModuleServices.IsKnown(req.Service))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{req.Service}'");
            if (req.Body.Length > MaxBodyBytes)
                throw new FirmwareError(FirmwareErrorCodes.TooLarge, $"request body is {req.Body.Length} bytes; the limit is {MaxBodyBytes}");

            JsonDocument? body = null;
            if (VerbTakesBody(verb))
            {
                try
                {
                    body = req.Body.Length == 0 ? JsonDocument.Parse("{}") : JsonDocument.Parse(req.Body);
                    if (body.RootElement.ValueKind != JsonValueKind.Object) throw new FirmwareError(FirmwareErrorCodes.BadRequest, "request body must be a JSON object");
                }
                catch (JsonException e) { throw new FirmwareError(FirmwareErrorCodes.BadRequest, "request body is not valid JSON: " + e.Message); }
            }

            bool sshadminOnly = verb != "identity" && verb != "ping";
            if (sshadminOnly && req.Service != ModuleServices.SshAdmin)
                throw new FirmwareError(FirmwareErrorCodes.WrongService, $"'{verb}' is an sshadmin command; this is the {req.Service} endpoint");

            var l = new ModuleLayout(req.ModuleDir);
            if (!File.Exists(l.StateFile)) throw new FirmwareError(FirmwareErrorCodes.Internal, "module state not found");

            // Slow answers (fault): outside the lock so other sessions are not serialised behind the delay.
            var peek = ReadState(l);
            if (peek.DelayMs > 0 && !req.DelayAwaited) Thread.Sleep(Math.Min(peek.DelayMs, 600_000));

            using (AtomicFile.Lock(l.LockFile))
            {
                var s = ReadState(l);
                var keys = ReadAuthorizedKeys(l.AuthorizedKeys(req.Service));
                if (!keys.Any(k => k.Fingerprint == req.KeyFingerprint))
                    throw new FirmwareError(FirmwareErrorCodes.Credential, "the key that authenticated is no longer installed for this service");
                bool isDefault = req.KeyFingerprint == DefaultCredential.Fingerprint;

                // Authorisation by credential and mode.
                switch (verb)
                {
                    case "identity": break;
                    case "enroll":
                        if (s.Mode == ModuleMode.Operational || s.Enrolled)
                            throw new FirmwareError(FirmwareErrorCodes.Mode, "the module is already enrolled; enroll is only accepted in factory state or recovery mode");
                        if (!isDefault) throw new FirmwareError(FirmwareErrorCodes.Credential, "enroll needs the default sshadmin credential");
                        break;
                    default:
                        if (isDefault) throw new FirmwareError(FirmwareErrorCodes.Credential, $"the default credential only allows identity and enroll, not '{verb}'");
                        break;
                }

                // Firmware 13.5+: no SSH key change in normal (Primary) mode while the clock is invalid; Recovery mode is where
                // the clock is set, and key changes are allowed there.
                if (ChangesKeys(verb) && s.InvalidClock && s.Mode != ModuleMode.Recovery)
                    throw new FirmwareError(FirmwareErrorCodes.Clock,
                        $"'{verb}' changes SSH keys, which is refused while the module's clock is invalid; boot in Recovery mode and set the clock");

                // Validate the request fully before any change.
                Action commit;
                Action<Utf8JsonWriter> result;
                bool reloadAfter = false;
                switch (verb)
                {
                    case "identity": commit = () => { }; result = w => WriteIdentity(w, l, s); break;
                    case "ping":
                        commit = () => { };
                        result = w => { w.WriteString("esn", s.Esn); w.WriteString("service", req.Service); w.WriteString("mode", s.Mode.ToString()); };
                        break;
                    case "keys.list": commit = () => { }; result = w => WriteKeyList(w, l, ModuleServices.All); break;
                    case "enroll": PrepareEnroll(l, s, body!.RootElement, out commit, out result); break;
                    case "keys.add": PrepareAdd(l, s, body!.RootElement, out commit, out result); break;
                    case "keys.remove": PrepareRemove(l, s, req, body!.RootElement, out commit, out result); break;
                    case "keys.set": PrepareSet(l, s, body!.RootElement, out commit, out result); break;
                    case "factorystate":
                        {
                            int timeout = 30;
                            if (body!.RootElement.TryGetProperty("timeoutSeconds", out var t))
                            {
                                if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out timeout) || timeout < 3 || timeout > 120)
                                    throw new FirmwareError(FirmwareErrorCodes.BadRequest, "timeoutSeconds must be an integer from 3 to 120");
                            }
                            commit = () => ResetToFactory(l, s, recovery: false);
                            reloadAfter = true;
                            result = w => { w.WriteString("esn", s.Esn); w.WriteString("mode", s.Mode.ToString()); w.WriteNumber("timeoutSeconds", timeout); };
                            break;
                        }
                    default: throw new FirmwareError(FirmwareErrorCodes.UnknownCommand, verb);
                }

                // Injected faults fire at this step: after validation, before (or right after) the change.
                var rule = s.Faults.FirstOrDefault(f => f.Verb == verb && f.Count > 0);
                if (rule != null)
                {
                    rule.Count--;
                    s.Faults.RemoveAll(f => f.Count <= 0);
                    WriteState(l, s);
                    if (rule.Kind == "failAt")
                        throw new FirmwareError(FirmwareErrorCodes.Fault, $"injected fault at '{verb}'");
                    if (rule.Kind == "dropBefore")
                        return new FirmwareReply { ExitCode = 255, Dropped = true };
                }

                commit();
                if (reloadAfter && s.Transport != "inprocess") ReloadAll(l);
                if (rule != null && rule.Kind == "dropAfter")
                    return new FirmwareReply { ExitCode = 255, Dropped = true };
                return new FirmwareReply { ExitCode = 0, Json = ReplyWriter.Ok(result) };
            }
        }

        private static void WriteIdentity(Utf8JsonWriter w, ModuleLayout l, ModuleState s)
        {
            w.WriteString("esn", s.Esn);
            w.WriteString("mode", s.Mode.ToString());
            w.WriteBoolean("enrolled", s.Enrolled);
            w.WriteString("firmwareVersion", s.FirmwareVersion);
            w.WriteNumber("protocol", ProtocolVersion);
            w.WriteString("identityKey", File.ReadAllText(l.IdentityPub).Trim());
            w.WriteString("warrant", File.ReadAllText(l.Warrant).Trim());
            w.WriteStartObject("serverKeys");
            foreach (var svc in ModuleServices.All)
            {
                w.WriteStartObject(svc);
                w.WriteString("publicKey", File.ReadAllText(l.HostKeyPub(svc)).Trim());
                w.WriteString("certificate", File.ReadAllText(l.Certificate(svc)).Trim());
                w.WriteBoolean("running", ServiceShouldRun(s, svc));
                w.WriteEndObject();
            }
            w.WriteEndObject();
            var now = s.InvalidClock ? new DateTime(1970, 1, 1, 0, 0, 5, DateTimeKind.Utc) : DateTime.UtcNow;
            w.WriteString("clock", now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            w.WriteBoolean("clockValid", !s.InvalidClock);
        }

        /// <summary>The client keys each service accepts (service → fingerprints), as keys.list reports them: from the module's authorized_keys.</summary>
        public static Dictionary<string, string[]> ListClientKeys(string moduleDir)
        {
            var l = new ModuleLayout(moduleDir);
            var keys = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var svc in ModuleServices.All) keys[svc] = ReadAuthorizedKeys(l.AuthorizedKeys(svc)).Select(k => k.Fingerprint).ToArray();
            return keys;
        }

        private static void WriteKeyList(Utf8JsonWriter w, ModuleLayout l, IEnumerable<string> services)
        {
            w.WriteStartObject("keys");
            foreach (var svc in services)
            {
                w.WriteStartArray(svc);
                foreach (var k in ReadAuthorizedKeys(l.AuthorizedKeys(svc)))
                {
                    w.WriteStartObject();
                    w.WriteString("publicKey", k.ToAuthorizedKeysLine());
                    w.WriteString("fingerprint", k.Fingerprint);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }

        private static string RequireString(JsonElement body, string name)
        {
            if (!body.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"'{name}' (string) is required");
            return v.GetString()!;
        }

        private static string RequireService(JsonElement body)
        {
            var svc = RequireString(body, "service");
            if (!ModuleServices.IsKnown(svc)) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{svc}'");
            return svc;
        }

        private static SshPublicKey RequireKey(string? line, string what)
        {
            if (!KeyLine.TryParse(line, out var k, out var why))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"{what}: malformed public key ({why})");
            if (k!.Fingerprint == DefaultCredential.Fingerprint)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"{what}: the well-known default credential cannot be installed as a client key");
            return k;
        }

        private static void PrepareEnroll(ModuleLayout l, ModuleState s, JsonElement body, out Action commit, out Action<Utf8JsonWriter> result)
        {
            if (!body.TryGetProperty("clientKeys", out var ck) || ck.ValueKind != JsonValueKind.Object)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'clientKeys' (object service → public key line) is required");
            var keys = new Dictionary<string, SshPublicKey>();
            foreach (var p in ck.EnumerateObject())
            {
                if (!ModuleServices.IsKnown(p.Name)) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{p.Name}' in clientKeys");
                if (p.Value.ValueKind != JsonValueKind.String) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"clientKeys.{p.Name} must be a string");
                keys[p.Name] = RequireKey(p.Value.GetString(), "clientKeys." + p.Name);
            }
            var missing = ModuleServices.All.Where(x => !keys.ContainsKey(x)).ToList();
            if (missing.Count > 0) throw new FirmwareError(FirmwareErrorCodes.BadRequest, "clientKeys must name every service; missing: " + string.Join(", ", missing));
            commit = () =>
            {
                // sshadmin last: until it is written the default credential still works, so an interrupted enroll can be rerun.
                foreach (var svc in ModuleServices.All.Reverse()) WriteAuthorizedKeys(l, s, svc, new[] { keys[svc] });
                s.Enrolled = true;
                if (s.Mode == ModuleMode.FactoryState) s.Mode = ModuleMode.Operational;
                WriteState(l, s);
            };
            result = w =>
            {
                w.WriteString("esn", s.Esn); w.WriteString("mode", s.Mode.ToString()); w.WriteBoolean("enrolled", s.Enrolled);
                w.WriteStartObject("installed");
                foreach (var svc in ModuleServices.All) w.WriteString(svc, keys[svc].Fingerprint);
                w.WriteEndObject();
            };
        }

        private static void PrepareAdd(ModuleLayout l, ModuleState s, JsonElement body, out Action commit, out Action<Utf8JsonWriter> result)
        {
            var svc = RequireService(body);
            var key = RequireKey(RequireString(body, "publicKey"), "publicKey");
            var current = ReadAuthorizedKeys(l.AuthorizedKeys(svc));
            bool added = !current.Any(k => k.Fingerprint == key.Fingerprint);
            if (added && current.Count >= 32) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"{svc} already holds 32 keys");
            commit = () => { if (added) { current.Add(key); WriteAuthorizedKeys(l, s, svc, current); } };
            result = w => { w.WriteString("service", svc); w.WriteString("fingerprint", key.Fingerprint); w.WriteBoolean("changed", added); WriteKeyList(w, l, new[] { svc }); };
        }

        private static void PrepareRemove(ModuleLayout l, ModuleState s, FirmwareRequest req, JsonElement body, out Action commit, out Action<Utf8JsonWriter> result)
        {
            var svc = RequireService(body);
            var fp = RequireString(body, "fingerprint");
            var current = ReadAuthorizedKeys(l.AuthorizedKeys(svc));
            bool present = current.Any(k => k.Fingerprint == fp);
            if (present && svc == req.Service && fp == req.KeyFingerprint)
                throw new FirmwareError(FirmwareErrorCodes.InUse, "refusing to remove the key that authenticated this session");
            if (present && svc == ModuleServices.SshAdmin && current.Count == 1)
                throw new FirmwareError(FirmwareErrorCodes.LastKey, "refusing to remove the last sshadmin key");
            commit = () => { if (present) WriteAuthorizedKeys(l, s, svc, current.Where(k => k.Fingerprint != fp).ToList()); };
            result = w => { w.WriteString("service", svc); w.WriteString("fingerprint", fp); w.WriteBoolean("changed", present); WriteKeyList(w, l, new[] { svc }); };
        }

        private static void PrepareSet(ModuleLayout l, ModuleState s, JsonElement body, out Action commit, out Action<Utf8JsonWriter> result)
        {
            var svc = RequireService(body);
            if (!body.TryGetProperty("publicKeys", out var arr) || arr.ValueKind != JsonValueKind.Array)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'publicKeys' (array of public key lines) is required");
            var keys = new List<SshPublicKey>();
            int i = 0;
            foreach (var e in arr.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"publicKeys[{i}] must be a string");
                var k = RequireKey(e.GetString(), $"publicKeys[{i}]");
                if (!keys.Any(x => x.Fingerprint == k.Fingerprint)) keys.Add(k);
                i++;
            }
            if (keys.Count > 32) throw new FirmwareError(FirmwareErrorCodes.BadRequest, "at most 32 keys per service");
            if (svc == ModuleServices.SshAdmin && keys.Count == 0)
                throw new FirmwareError(FirmwareErrorCodes.LastKey, "the sshadmin key set must not be empty");
            commit = () => WriteAuthorizedKeys(l, s, svc, keys);
            result = w => { w.WriteString("service", svc); w.WriteBoolean("changed", true); WriteKeyList(w, l, new[] { svc }); };
        }
    }
}
