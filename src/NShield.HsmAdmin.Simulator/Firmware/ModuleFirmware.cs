using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Trust;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

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
        /// <summary>A new module's images' VSN and its minimum VSN (as the vendor's example: minimum 3, installed 4).</summary>
        public const int DefaultVsn = 4, DefaultMinimumVsn = 3;

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
            if (s.IsBooting(DateTime.UtcNow)) return false; // rebooting (issue 22): nothing answers
            if (s.Transport == "inprocess") return true;
            return ProcessTools.IsAlive(ProcessTools.ReadPidFile(l.PidFile(service)));
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

        /// <summary>Serialises commands on one module across processes (sshd sessions run the firmware concurrently).</summary>
        internal static IDisposable ModuleLock(ModuleLayout l) => FileLock.Acquire(l.LockFile, TimeSpan.FromSeconds(20));

        internal static void WriteState(ModuleLayout l, ModuleState s) => SecureFiles.WriteAtomic(l.StateFile, s.ToJson(), FileAccessScope.Public);

        // ------------------------------------------------------------------ provisioning (simulator side)

        /// <summary>Creates a fresh module in factory state: identity key, warrant from the vendor root, per-service server keys,
        /// certificates and authorized_keys (default credential on sshadmin only).</summary>
        public static void Provision(string moduleDir, string esn, string vendorRootPrivateKeyText, string dotnetPath, string firmwareDll,
            string transport)
        {
            var l = new ModuleLayout(moduleDir);
            Directory.CreateDirectory(l.Dir);
            using var root = OpenSshPrivateKey.Decode(vendorRootPrivateKeyText, null);
            using var id = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "identity@" + esn);
            SecureFiles.WriteAtomic(l.IdentityKey, OpenSshPrivateKey.Encode(id, null), FileAccessScope.OwnerOnly);
            SecureFiles.WriteAtomic(l.IdentityPub, id.PublicKey.ToAuthorizedKeysLine() + "\n", FileAccessScope.Public);
            SecureFiles.WriteAtomic(l.Warrant, TrustChain.MakeWarrant(root, esn, id.PublicKey.Blob) + "\n", FileAccessScope.Public);
            SecureFiles.WriteAtomic(l.VendorRootPubCopy, root.PublicKey.WithComment(VendorRootComment).ToAuthorizedKeysLine() + "\n",
                FileAccessScope.Public);
            var s = new ModuleState { Esn = esn, Mode = ModuleMode.FactoryState, Enrolled = false, DotnetPath = dotnetPath, FirmwareDll = firmwareDll,
                Transport = transport };
            ModuleLog.NewLogKey(l, esn, id);
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
            SecureFiles.WriteAtomic(l.HostKey(svc), OpenSshPrivateKey.Encode(host, null), FileAccessScope.OwnerOnly);
            SecureFiles.WriteAtomic(l.HostKeyPub(svc), host.PublicKey.ToAuthorizedKeysLine() + "\n", FileAccessScope.Public);
            if (identity != null)
                SecureFiles.WriteAtomic(l.Certificate(svc), TrustChain.MakeCertificate(identity, s.Esn, svc, host.PublicKey.Blob) + "\n",
                    FileAccessScope.Public);
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
            ModuleLog.NewLogKey(l, s.Esn, id); // a factory reset changes the log signing key (the vendor's "Return to factory state")
            ResetClientKeys(l, s);
            s.Mode = recovery ? ModuleMode.Recovery : ModuleMode.FactoryState;
            s.Enrolled = false;
            WriteState(l, s);
        }

        /// <summary>Engine entry for the recovery button: factory reset into Recovery mode (the simulator then stops ncoreapi).</summary>
        public static void PressRecoveryButton(string moduleDir)
        {
            var l = new ModuleLayout(moduleDir);
            using (ModuleLock(l))
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
            using (ModuleLock(l))
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
            using (ModuleLock(l))
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
            using (ModuleLock(l))
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
            var pid = ProcessTools.ReadPidFile(l.PidFile(svc));
            if (!ProcessTools.IsAlive(pid)) return;
            int before = CountListening(l.SshdLog(svc));
            if (!ProcessTools.Signal(pid, ProcessTools.SIGHUP)) return;
            ProcessTools.WaitUntil(() => CountListening(l.SshdLog(svc)) > before || !ProcessTools.IsAlive(pid), 5000, 5);
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
            SecureFiles.WriteAtomic(l.AuthorizedKeys(svc), sb.ToString(), FileAccessScope.Public);
        }

        // ------------------------------------------------------------------ request handling

        /// <summary>Handles one command and records it in the module's log. Never throws: every failure becomes an error reply.</summary>
        public static FirmwareReply Handle(FirmwareRequest req)
        {
            FirmwareReply reply;
            string outcome;
            try
            {
                reply = HandleCore(req);
                outcome = reply.Dropped ? ModuleLog.DroppedOutcome : LogOutcomes.Ok;
            }
            catch (FirmwareError e)
            {
                reply = new FirmwareReply { ExitCode = 1, Json = ReplyWriter.Error(e.Code, e.Message) };
                outcome = e.Code;
            }
            catch (Exception e)
            {
                reply = new FirmwareReply { ExitCode = 1,
                    Json = ReplyWriter.Error(FirmwareErrorCodes.Internal, "internal firmware error: " + e.GetType().Name + ": " + e.Message) };
                outcome = FirmwareErrorCodes.Internal;
            }
            ModuleLog.TryRecord(req, outcome);
            return reply;
        }

        private static T ReadBody<T>(byte[] body, JsonTypeInfo<T> type) where T : class, new()
        {
            if (body.Length == 0) return new T();
            try
            {
                using (var doc = JsonDocument.Parse(body))
                {
                    if (doc.RootElement.ValueKind != JsonValueKind.Object)
                        throw new FirmwareError(FirmwareErrorCodes.BadRequest, "request body must be a JSON object");
                    return doc.RootElement.Deserialize(type) ?? new T();
                }
            }
            catch (JsonException e) { throw new FirmwareError(FirmwareErrorCodes.BadRequest, "request body is not valid: " + e.Message); }
        }

        private static FirmwareReply HandleCore(FirmwareRequest req)
        {
            var verb = (req.Verb ?? "").Trim();
            if (!FirmwareVerbs.IsKnown(verb))
                throw new FirmwareError(FirmwareErrorCodes.UnknownCommand,
                    $"unknown command '{(verb.Length > 40 ? verb.Substring(0, 40) + "..." : verb)}'; " +
                    $"protocol {FirmwareProtocol.Version} commands: {string.Join(", ", FirmwareVerbs.All)}");
            if (!ModuleServices.IsKnown(req.Service))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{req.Service}'");
            if (req.Body.Length > FirmwareProtocol.MaxBodyBytes)
                throw new FirmwareError(FirmwareErrorCodes.TooLarge,
                    $"request body is {req.Body.Length} bytes; the limit is {FirmwareProtocol.MaxBodyBytes}");

            var only = FirmwareVerbs.OnlyService(verb);
            if (only != null && req.Service != only)
                throw new FirmwareError(FirmwareErrorCodes.WrongService, $"'{verb}' is an {only} command; this is the {req.Service} endpoint");

            // Bodies are read in full before anything else (validation before any change).
            var body = FirmwareVerbs.TakesBody(verb) ? req.Body : new byte[0];

            var l = new ModuleLayout(req.ModuleDir);
            if (!File.Exists(l.StateFile)) throw new FirmwareError(FirmwareErrorCodes.Internal, "module state not found");

            // Slow answers (fault): outside the lock so other sessions are not serialised behind the delay.
            var peek = ReadState(l);
            if (peek.DelayMs > 0 && !req.DelayAwaited) Thread.Sleep(Math.Min(peek.DelayMs, 600_000));

            using (ModuleLock(l))
            {
                var s = ReadState(l);
                // Rebooting (issue 22): the module answers nothing until it is up again (over SSH the session just ends).
                if (s.IsBooting(DateTime.UtcNow)) return new FirmwareReply { ExitCode = 255, Dropped = true };
                var keys = ReadAuthorizedKeys(l.AuthorizedKeys(req.Service));
                if (!keys.Any(k => k.Fingerprint == req.KeyFingerprint))
                    throw new FirmwareError(FirmwareErrorCodes.Credential, "the key that authenticated is no longer installed for this service");
                bool isDefault = req.KeyFingerprint == DefaultCredential.Fingerprint;

                // Authorisation by credential and mode.
                if (verb == FirmwareVerbs.Enroll)
                {
                    if (s.Mode == ModuleMode.Operational || s.Enrolled)
                        throw new FirmwareError(FirmwareErrorCodes.Mode,
                            "the module is already enrolled; enroll is only accepted in factory state or recovery mode");
                    if (!isDefault) throw new FirmwareError(FirmwareErrorCodes.Credential, "enroll needs the default sshadmin credential");
                }
                else if (verb == FirmwareVerbs.SetTime && isDefault && !s.Enrolled)
                {
                    // A module not yet enrolled (factory state, Recovery) has no other credential: its clock is set with the
                    // default one, so that an invalid clock never blocks the enrollment it needs (issue 22).
                }
                else if (verb != FirmwareVerbs.Identity && isDefault)
                {
                    throw new FirmwareError(FirmwareErrorCodes.Credential, $"the default credential only allows identity and enroll, not '{verb}'");
                }

                // Firmware 13.5+: no SSH key change in normal (Primary) mode while the clock is invalid; Recovery mode is where
                // the clock is set, and key changes are allowed there.
                if (FirmwareVerbs.ChangesKeys(verb) && s.InvalidClock && s.Mode != ModuleMode.Recovery)
                    throw new FirmwareError(FirmwareErrorCodes.Clock,
                        $"'{verb}' changes SSH keys, which is refused while the module's clock is invalid; boot in Recovery mode and set the clock");

                // ncoreapi interlock and log capacity (issue 22): changes refused before the body is read, nothing changed.
                FirmwareUpdater.CheckInterlocks(l, s, verb);

                // Validate the request fully before any change.
                Action commit = () => { };
                Func<string> result;
                bool reloadAfter = false;
                switch (verb)
                {
                    case FirmwareVerbs.Identity:
                        result = () => ReplyWriter.Ok(Identity(l, s), FirmwareJson.Default.IdentityResult);
                        break;
                    case FirmwareVerbs.Ping:
                        result = () => ReplyWriter.Ok(new PingResult { Esn = s.Esn, Service = req.Service, Mode = s.Mode },
                            FirmwareJson.Default.PingResult);
                        break;
                    case FirmwareVerbs.KeysList:
                        result = () => ReplyWriter.Ok(new KeysResult { Keys = KeyList(l, ModuleServices.All) }, FirmwareJson.Default.KeysResult);
                        break;
                    case FirmwareVerbs.Enroll:
                        PrepareEnroll(l, s, ReadBody(body, FirmwareJson.Default.EnrollRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.KeysAdd:
                        PrepareAdd(l, s, ReadBody(body, FirmwareJson.Default.KeysAddRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.KeysRemove:
                        PrepareRemove(l, s, req, ReadBody(body, FirmwareJson.Default.KeysRemoveRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.KeysSet:
                        PrepareSet(l, s, ReadBody(body, FirmwareJson.Default.KeysSetRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.FactoryState:
                    {
                        var timeout = ReadBody(body, FirmwareJson.Default.FactoryStateRequest).TimeoutSeconds
                            ?? FirmwareProtocol.DefaultFactoryStateTimeout;
                        if (timeout < FirmwareProtocol.MinFactoryStateTimeout || timeout > FirmwareProtocol.MaxFactoryStateTimeout)
                            throw new FirmwareError(FirmwareErrorCodes.BadRequest,
                                $"timeoutSeconds must be an integer from {FirmwareProtocol.MinFactoryStateTimeout} " +
                                $"to {FirmwareProtocol.MaxFactoryStateTimeout}");
                        commit = () => ResetToFactory(l, s, recovery: false);
                        reloadAfter = true;
                        result = () => ReplyWriter.Ok(new FactoryStateResult { Esn = s.Esn, Mode = s.Mode, TimeoutSeconds = timeout },
                            FirmwareJson.Default.FactoryStateResult);
                        break;
                    }
                    case FirmwareVerbs.Logs:
                    {
                        var entries = ModuleLog.Query(l, s.Esn, ReadBody(body, FirmwareJson.Default.LogsRequest));
                        result = () => ReplyWriter.Ok(new LogsResult
                        {
                            Entries = entries,
                            LogKey = File.Exists(l.LogKeyPub) ? File.ReadAllText(l.LogKeyPub).Trim() : null,
                            LogKeyCertificate = File.Exists(l.LogCertificate) ? File.ReadAllText(l.LogCertificate).Trim() : null,
                            IdentityKey = File.ReadAllText(l.IdentityPub).Trim(),
                            Warrant = File.ReadAllText(l.Warrant).Trim(),
                        }, FirmwareJson.Default.LogsResult);
                        break;
                    }
                    case FirmwareVerbs.SetTime:
                        PrepareSetTime(l, s, ReadBody(body, FirmwareJson.Default.SetTimeRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.Reboot:
                    {
                        var reboot = ReadBody(body, FirmwareJson.Default.RebootRequest);
                        PrepareReboot(l, s, reboot, out commit, out result);
                        reloadAfter = reboot.Recovery == true; // new server keys: each sshd rereads its own
                        break;
                    }
                    case FirmwareVerbs.FirmwareChunk:
                        FirmwareUpdater.PrepareChunk(l, ReadBody(body, FirmwareJson.Default.FirmwareChunkRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.FirmwareInstall:
                        FirmwareUpdater.PrepareInstall(l, s, ReadBody(body, FirmwareJson.Default.FirmwareInstallRequest), out commit, out result,
                            out reloadAfter);
                        break;
                    case FirmwareVerbs.LogsClear:
                        ModuleLog.PrepareClear(l, ReadBody(body, FirmwareJson.Default.LogsClearRequest), out commit, out result);
                        break;
                    case FirmwareVerbs.SetMinVsn:
                        FirmwareUpdater.PrepareSetMinVsn(l, s, ReadBody(body, FirmwareJson.Default.SetMinVsnRequest), out commit, out result);
                        break;
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
                if (verb == FirmwareVerbs.FirmwareInstall && s.Transport != "inprocess") FirmwareUpdater.StartEndpointsAfterBoot(l, s);
                if (rule != null && rule.Kind == "dropAfter")
                    return new FirmwareReply { ExitCode = 255, Dropped = true };
                return new FirmwareReply { ExitCode = 0, Json = result() };
            }
        }

        private static IdentityResult Identity(ModuleLayout l, ModuleState s)
        {
            var serverKeys = new Dictionary<string, ServerKeyInfo>();
            foreach (var svc in ModuleServices.All)
                serverKeys[svc] = new ServerKeyInfo
                {
                    PublicKey = File.ReadAllText(l.HostKeyPub(svc)).Trim(),
                    Certificate = File.ReadAllText(l.Certificate(svc)).Trim(),
                    Running = ServiceShouldRun(s, svc),
                };
            var now = s.ModuleClock(DateTime.UtcNow);
            return new IdentityResult
            {
                Esn = s.Esn,
                Mode = s.Mode,
                Enrolled = s.Enrolled,
                FirmwareVersion = s.FirmwareVersion,
                Protocol = FirmwareProtocol.Version,
                IdentityKey = File.ReadAllText(l.IdentityPub).Trim(),
                Warrant = File.ReadAllText(l.Warrant).Trim(),
                ServerKeys = serverKeys,
                Clock = FormatTime(now),
                ClockValid = !s.InvalidClock,
                Firmware = FirmwareUpdater.Images(s),
                NcoreapiOperational = FirmwareUpdater.NCoreApiOperational(s),
                LogKey = File.Exists(l.LogKeyPub) ? File.ReadAllText(l.LogKeyPub).Trim() : null,
                LogKeyCertificate = File.Exists(l.LogCertificate) ? File.ReadAllText(l.LogCertificate).Trim() : null,
            };
        }

        /// <summary>The client keys each service accepts (service → fingerprints), as keys.list reports them: from the
        /// module's authorized_keys.</summary>
        public static Dictionary<string, string[]> ListClientKeys(string moduleDir)
        {
            var l = new ModuleLayout(moduleDir);
            var keys = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var svc in ModuleServices.All) keys[svc] = ReadAuthorizedKeys(l.AuthorizedKeys(svc)).Select(k => k.Fingerprint).ToArray();
            return keys;
        }

        private static Dictionary<string, List<KeyEntry>> KeyList(ModuleLayout l, IEnumerable<string> services)
        {
            var keys = new Dictionary<string, List<KeyEntry>>();
            foreach (var svc in services)
                keys[svc] = ReadAuthorizedKeys(l.AuthorizedKeys(svc))
                    .Select(k => new KeyEntry { PublicKey = k.ToAuthorizedKeysLine(), Fingerprint = k.Fingerprint }).ToList();
            return keys;
        }

        private static string KeysReply(ModuleLayout l, string svc, string? fingerprint, bool changed) =>
            ReplyWriter.Ok(new KeysResult { Service = svc, Fingerprint = fingerprint, Changed = changed, Keys = KeyList(l, new[] { svc }) },
                FirmwareJson.Default.KeysResult);

        private static string Require(string? value, string name)
        {
            if (value == null) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"'{name}' (string) is required");
            return value;
        }

        private static string RequireService(string? service)
        {
            var svc = Require(service, "service");
            if (!ModuleServices.IsKnown(svc)) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{svc}'");
            return svc;
        }

        private static SshPublicKey RequireKey(string? line, string what)
        {
            if (!KeyLine.TryParse(line, out var k, out var why))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"{what}: malformed public key ({why})");
            if (k!.Fingerprint == DefaultCredential.Fingerprint)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest,
                    $"{what}: the well-known default credential cannot be installed as a client key");
            return k;
        }

        // ------------------------------------------------------------------ clock and reboot (issue 22)

        private static string FormatTime(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

        /// <summary>
        /// settime: without adjust the clock is stepped to the given time, allowed in maintenance, factory state or Recovery
        /// mode only (E_MODE otherwise); with adjust a valid clock slews towards it (at most MaxClockAdjustSeconds).
        /// </summary>
        private static void PrepareSetTime(ModuleLayout l, ModuleState s, SetTimeRequest body, out Action commit, out Func<string> result)
        {
            var text = Require(body.Time, "time");
            const DateTimeStyles utc = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
            if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, utc, out var asked))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'time' is not an ISO 8601 time");
            if (asked < ModuleIdentity.EarliestValidClock || asked.Year > 2199)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"'time' {FormatTime(asked.UtcDateTime)} is not a plausible current time");
            bool adjust = body.Adjust == true;
            var real = DateTime.UtcNow;
            var before = s.ModuleClock(real);
            bool validBefore = !s.InvalidClock;
            long correction = (long)(asked.UtcDateTime - before).TotalMilliseconds;
            if (adjust)
            {
                if (s.InvalidClock)
                    throw new FirmwareError(FirmwareErrorCodes.Mode,
                        "the clock is invalid and cannot be adjusted; set it (settime without adjust) first");
                if (Math.Abs(correction) > FirmwareProtocol.MaxClockAdjustSeconds * 1000L)
                    throw new FirmwareError(FirmwareErrorCodes.BadRequest,
                        $"a correction of {correction / 1000.0:0.#} s is more than the {FirmwareProtocol.MaxClockAdjustSeconds} s " +
                        "an adjustment slews");
            }
            else if (s.Mode == ModuleMode.Operational && !s.Maintenance)
            {
                throw new FirmwareError(FirmwareErrorCodes.Mode,
                    "the clock is stepped only in maintenance mode, factory state or Recovery mode; adjust it while operational");
            }
            commit = () =>
            {
                // Whatever was slewed so far stays; a new setting replaces the rest of an earlier adjustment.
                s.ClockOffsetMs += s.SlewedMs(real);
                s.AdjustMs = 0;
                s.AdjustStarted = null;
                if (adjust)
                {
                    s.AdjustMs = correction;
                    s.AdjustStarted = real;
                }
                else
                {
                    s.ClockOffsetMs = (long)(asked.UtcDateTime - real).TotalMilliseconds;
                    s.InvalidClock = false;
                }
                WriteState(l, s);
            };
            result = () =>
            {
                var now = DateTime.UtcNow;
                return ReplyWriter.Ok(new SetTimeResult
                {
                    Esn = s.Esn, Mode = s.Mode, ClockBefore = FormatTime(before), ClockValidBefore = validBefore,
                    Clock = FormatTime(s.ModuleClock(now)), Adjusted = adjust, AdjustmentMs = s.AdjustMs - s.SlewedMs(now),
                }, FirmwareJson.Default.SetTimeResult);
            };
        }

        /// <summary>
        /// reboot: the module answers, then restarts for BootMs (answering nothing meanwhile). Normal boot: Operational if
        /// enrolled, else factory state, maintenance mode left. recovery: as the recovery button held at boot, a factory reset
        /// into Recovery mode (new server keys; ncoreapi does not run).
        /// </summary>
        private static void PrepareReboot(ModuleLayout l, ModuleState s, RebootRequest body, out Action commit, out Func<string> result)
        {
            bool recovery = body.Recovery == true;
            var modeBefore = s.Mode;
            commit = () =>
            {
                s.Maintenance = false;
                s.BootingUntil = DateTime.UtcNow.AddMilliseconds(Math.Max(0, s.BootMs));
                if (recovery) ResetToFactory(l, s, recovery: true); // writes the state
                else
                {
                    s.Mode = s.Enrolled ? ModuleMode.Operational : ModuleMode.FactoryState;
                    WriteState(l, s);
                }
            };
            result = () => ReplyWriter.Ok(new RebootResult { Esn = s.Esn, Mode = modeBefore, Recovery = recovery },
                FirmwareJson.Default.RebootResult);
        }

        private static void PrepareEnroll(ModuleLayout l, ModuleState s, EnrollRequest body, out Action commit, out Func<string> result)
        {
            if (body.ClientKeys == null)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'clientKeys' (object service → public key line) is required");
            var keys = new Dictionary<string, SshPublicKey>();
            foreach (var p in body.ClientKeys)
            {
                if (!ModuleServices.IsKnown(p.Key))
                    throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"unknown service '{p.Key}' in clientKeys");
                if (p.Value == null) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"clientKeys.{p.Key} must be a string");
                keys[p.Key] = RequireKey(p.Value, "clientKeys." + p.Key);
            }
            var missing = ModuleServices.All.Where(x => !keys.ContainsKey(x)).ToList();
            if (missing.Count > 0)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "clientKeys must name every service; missing: " + string.Join(", ", missing));
            commit = () =>
            {
                // sshadmin last: until it is written the default credential still works, so an interrupted enroll can be rerun.
                foreach (var svc in ModuleServices.All.Reverse()) WriteAuthorizedKeys(l, s, svc, new[] { keys[svc] });
                s.Enrolled = true;
                if (s.Mode == ModuleMode.FactoryState) s.Mode = ModuleMode.Operational;
                WriteState(l, s);
            };
            result = () => ReplyWriter.Ok(new EnrollResult
            {
                Esn = s.Esn,
                Mode = s.Mode,
                Enrolled = s.Enrolled,
                Installed = ModuleServices.All.ToDictionary(svc => svc, svc => keys[svc].Fingerprint),
            }, FirmwareJson.Default.EnrollResult);
        }

        private static void PrepareAdd(ModuleLayout l, ModuleState s, KeysAddRequest body, out Action commit, out Func<string> result)
        {
            var svc = RequireService(body.Service);
            var key = RequireKey(Require(body.PublicKey, "publicKey"), "publicKey");
            var current = ReadAuthorizedKeys(l.AuthorizedKeys(svc));
            bool added = !current.Any(k => k.Fingerprint == key.Fingerprint);
            if (added && current.Count >= FirmwareProtocol.MaxKeysPerService)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"{svc} already holds {FirmwareProtocol.MaxKeysPerService} keys");
            commit = () => { if (added) { current.Add(key); WriteAuthorizedKeys(l, s, svc, current); } };
            result = () => KeysReply(l, svc, key.Fingerprint, added);
        }

        private static void PrepareRemove(ModuleLayout l, ModuleState s, FirmwareRequest req, KeysRemoveRequest body,
            out Action commit, out Func<string> result)
        {
            var svc = RequireService(body.Service);
            var fp = Require(body.Fingerprint, "fingerprint");
            var current = ReadAuthorizedKeys(l.AuthorizedKeys(svc));
            bool present = current.Any(k => k.Fingerprint == fp);
            if (present && svc == req.Service && fp == req.KeyFingerprint)
                throw new FirmwareError(FirmwareErrorCodes.InUse, "refusing to remove the key that authenticated this session");
            if (present && svc == ModuleServices.SshAdmin && current.Count == 1)
                throw new FirmwareError(FirmwareErrorCodes.LastKey, "refusing to remove the last sshadmin key");
            commit = () => { if (present) WriteAuthorizedKeys(l, s, svc, current.Where(k => k.Fingerprint != fp).ToList()); };
            result = () => KeysReply(l, svc, fp, present);
        }

        private static void PrepareSet(ModuleLayout l, ModuleState s, KeysSetRequest body, out Action commit, out Func<string> result)
        {
            var svc = RequireService(body.Service);
            if (body.PublicKeys == null)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'publicKeys' (array of public key lines) is required");
            var keys = new List<SshPublicKey>();
            for (int i = 0; i < body.PublicKeys.Count; i++)
            {
                if (body.PublicKeys[i] == null) throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"publicKeys[{i}] must be a string");
                var k = RequireKey(body.PublicKeys[i], $"publicKeys[{i}]");
                if (!keys.Any(x => x.Fingerprint == k.Fingerprint)) keys.Add(k);
            }
            if (keys.Count > FirmwareProtocol.MaxKeysPerService)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, $"at most {FirmwareProtocol.MaxKeysPerService} keys per service");
            if (svc == ModuleServices.SshAdmin && keys.Count == 0)
                throw new FirmwareError(FirmwareErrorCodes.LastKey, "the sshadmin key set must not be empty");
            commit = () => WriteAuthorizedKeys(l, s, svc, keys);
            result = () => KeysReply(l, svc, null, true);
        }
    }
}
