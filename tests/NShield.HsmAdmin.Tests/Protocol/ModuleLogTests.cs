using System;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Tests.Simulation;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protocol
{
    /// <summary>The logs verb: the firmware's bounded command log (in process) and the host's defensive reading of it.</summary>
    public class ModuleLogTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        private static JsonElement Call(string dir, string svc, string fp, string verb, string? body = null, int expectExit = 0)
        {
            var r = ModuleFirmware.Handle(new FirmwareRequest(dir, svc, fp, verb, body));
            Assert.True(r.ExitCode == expectExit, r.Json);
            using var d = JsonDocument.Parse(r.Json);
            return d.RootElement.Clone();
        }

        private static JsonElement[] Entries(JsonElement reply) => reply.GetProperty("result").GetProperty("entries").EnumerateArray().ToArray();

        [Fact]
        public void The_firmware_logs_every_command_and_serves_the_log_on_monitor_only()
        {
            var sim = _kit.Start(1, _kit.NewHost(), SimulatorTransport.InProcess);
            var m = sim.Modules[0];
            var keys = ModuleServices.All.ToDictionary(s => s, s => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519));
            Call(m.ModuleDir, "sshadmin", DefaultCredential.Fingerprint, FirmwareVerbs.Enroll,
                FirmwareBodies.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.PublicKey)));
            var admin = keys["sshadmin"].PublicKey.Fingerprint;
            var monitor = keys["monitor"].PublicKey.Fingerprint;

            var wrong = Call(m.ModuleDir, "sshadmin", admin, FirmwareVerbs.Logs, "{}", expectExit: 1);
            Assert.Equal(FirmwareErrorCodes.WrongService, wrong.GetProperty("error").GetProperty("code").GetString());
            Call(m.ModuleDir, "ncoreapi", keys["ncoreapi"].PublicKey.Fingerprint, FirmwareVerbs.Ping);

            var log = Entries(Call(m.ModuleDir, "monitor", monitor, FirmwareVerbs.Logs, "{}"));
            Assert.Equal(3, log.Length);
            Assert.Equal(("sshadmin", "enroll", DefaultCredential.Fingerprint, "ok"), Row(log[0]));
            Assert.Equal(("sshadmin", "logs", admin, FirmwareErrorCodes.WrongService), Row(log[1]));
            Assert.Equal(("ncoreapi", "ping", keys["ncoreapi"].PublicKey.Fingerprint, "ok"), Row(log[2]));

            // tail: the newest N, after since; the previous logs read is now the newest entry.
            var tail = Entries(Call(m.ModuleDir, "monitor", monitor, FirmwareVerbs.Logs, FirmwareBodies.Logs(null, 2)));
            Assert.Equal(new[] { "ping", "logs" }, tail.Select(e => e.GetProperty("verb").GetString()));
            var future = Entries(Call(m.ModuleDir, "monitor", monitor, FirmwareVerbs.Logs, FirmwareBodies.Logs(DateTimeOffset.UtcNow.AddHours(1), null)));
            Assert.Empty(future);
            foreach (var bad in new[] { 0, -1, FirmwareProtocol.MaxLogEntries + 1 })
            {
                var r = Call(m.ModuleDir, "monitor", monitor, FirmwareVerbs.Logs, FirmwareBodies.Logs(null, bad), expectExit: 1);
                Assert.Equal(FirmwareErrorCodes.BadRequest, r.GetProperty("error").GetProperty("code").GetString());
            }

            // Bounded at the critical capacity (twice the safe working capacity): past it, only the newest entries are kept.
            sim.SetLogCapacity(m.Esn, 3);
            for (int i = 0; i < 6; i++) Call(m.ModuleDir, "setup", keys["setup"].PublicKey.Fingerprint, FirmwareVerbs.Ping);
            var bounded = Entries(Call(m.ModuleDir, "monitor", monitor, FirmwareVerbs.Logs, "{}"));
            Assert.Equal(6, bounded.Length);
            Assert.All(bounded, e => Assert.Equal(("setup", "ping"), (e.GetProperty("service").GetString(), e.GetProperty("verb").GetString())));
        }

        private static (string?, string?, string?, string?) Row(JsonElement e) =>
            (e.GetProperty("service").GetString(), e.GetProperty("verb").GetString(), e.GetProperty("keyFingerprint").GetString(),
                e.GetProperty("outcome").GetString());

        private static FirmwareResult Result(string json)
        {
            using var d = JsonDocument.Parse(json);
            return new FirmwareResult(d.RootElement.Clone());
        }

        private const string Entry = "{\"time\":\"2026-11-30T08:00:00+00:00\",\"service\":\"monitor\",\"verb\":\"ping\",\"keyFingerprint\":\"SHA256:x\",\"outcome\":\"ok\"}";

        [Theory]
        [InlineData("{}")]                                                 // no entries
        [InlineData("{\"entries\":{}}")]                                   // not an array
        [InlineData("{\"entries\":[42]}")]                                 // an entry that is not an object
        [InlineData("{\"entries\":[{\"time\":\"yesterday\",\"service\":\"monitor\",\"verb\":\"ping\",\"keyFingerprint\":\"x\",\"outcome\":\"ok\"}]}")]
        [InlineData("{\"entries\":[{\"time\":\"2026-11-30T08:00:00Z\",\"service\":\"monitor\",\"keyFingerprint\":\"x\",\"outcome\":\"ok\"}]}")] // no verb
        [InlineData("{\"entries\":[{\"time\":\"2026-11-30T08:00:00Z\",\"service\":7,\"verb\":\"ping\",\"keyFingerprint\":\"x\",\"outcome\":\"ok\"}]}")]
        [InlineData("{\"entries\":[" + Entry + "," + Entry + "," + Entry + "]}")] // more than the tail of 2 asked for
        public void A_logs_reply_of_the_wrong_shape_or_size_is_a_protocol_error(string result)
        {
            var ex = Assert.ThrowsAny<HsmException>(() => FirmwareBodies.ParseLogs("ESN-1", Result(result), 2));
            Assert.Equal(HsmErrorIds.ProtocolError, ex.ErrorId);
        }

        [Fact]
        public void Module_text_is_made_printable_and_the_since_filter_is_applied_again()
        {
            var json = "{\"entries\":[" + Entry + ",{\"time\":\"2026-11-30T09:00:00Z\",\"service\":\"monitor\",\"verb\":\"pi\\u001bng\\n\"," +
                       "\"keyFingerprint\":\"SHA256:y\",\"outcome\":\"ok\"}]}";
            var since = new DateTimeOffset(2026, 11, 30, 8, 30, 0, TimeSpan.Zero);
            var entries = ModuleLogOperation.Filter("ESN-1", FirmwareBodies.ParseLogs("ESN-1", Result(json), null), since, null, "/h");
            var e = Assert.Single(entries);
            Assert.Equal("pi?ng?", e.Verb);
            Assert.Equal("ESN-1", e.Esn);
            Assert.Equal("/h", e.HostPath);
            Assert.Equal(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero), e.Time);
        }
    }
}
