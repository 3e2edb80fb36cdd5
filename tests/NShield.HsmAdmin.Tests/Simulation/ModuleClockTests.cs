using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Simulation;
using Xunit;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>
    /// Issue 16 (10): firmware 13.5+ refuses SSH key changes outside Recovery mode while the module's clock is invalid.
    /// The simulated firmware over the real OpenSSH client, and the host's mapping of the firmware's code.
    /// </summary>
    public class ModuleClockTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        private static Dictionary<string, string> Snapshot(string dir) =>
            Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => !f.EndsWith("sshd.log") && !f.EndsWith(".lock") && !f.EndsWith("log.json") && !f.EndsWith("state.json"))
                .ToDictionary(f => f, f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

        [Fact]
        public void FirmwareRefusesEveryKeyChangeWithAnInvalidClockAndChangesNothing()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ModuleServices.All.ToDictionary(s => s, s => _kit.NewClientKey($"c-{s}"));
            var extra = _kit.NewClientKey("extra");
            var sshadmin = m.Endpoint("sshadmin");

            // Factory state is normal (Primary) mode too: enroll is a key change.
            sim.SetInvalidClock(m.Esn, true);
            var identity = SimTestKit.Reply(_kit.Ssh(sshadmin, _kit.DefaultCredentialFile(), "identity")).GetProperty("result");
            Assert.False(identity.GetProperty("clockValid").GetBoolean());
            var before = Snapshot(m.ModuleDir);
            var enroll = _kit.Ssh(sshadmin, _kit.DefaultCredentialFile(), "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line)));
            Assert.Equal("E_CLOCK", SimTestKit.ErrorCode(enroll));
            Assert.Equal(before, Snapshot(m.ModuleDir));

            sim.SetInvalidClock(m.Esn, false);
            Assert.Equal(0, _kit.Ssh(sshadmin, _kit.DefaultCredentialFile(), "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line))).ExitCode);

            // Operational with an invalid clock: keys.add, keys.remove, keys.set and factorystate are refused; reads still work.
            sim.SetInvalidClock(m.Esn, true);
            before = Snapshot(m.ModuleDir);
            var admin = keys["sshadmin"].KeyFile;
            var refused = new[]
            {
                _kit.Ssh(sshadmin, admin, "keys.add", $"{{\"service\":\"setup\",\"publicKey\":\"{extra.Line}\"}}"),
                _kit.Ssh(sshadmin, admin, "keys.remove", $"{{\"service\":\"setup\",\"fingerprint\":\"SHA256:x\"}}"),
                _kit.Ssh(sshadmin, admin, "keys.set", $"{{\"service\":\"setup\",\"publicKeys\":[\"{extra.Line}\"]}}"),
                _kit.Ssh(sshadmin, admin, "factorystate", "{}"),
            };
            Assert.All(refused, r => Assert.Equal("E_CLOCK", SimTestKit.ErrorCode(r)));
            Assert.Contains("Recovery", SimTestKit.Reply(refused[0]).GetProperty("error").GetProperty("message").GetString());
            Assert.Equal(0, _kit.Ssh(sshadmin, admin, "keys.list").ExitCode);
            Assert.Equal(0, _kit.Ssh(sshadmin, admin, "ping").ExitCode);
            Assert.Equal(before, Snapshot(m.ModuleDir));
            Assert.Equal(ModuleMode.Operational, sim.GetModule(m.Esn).Mode);

            // The same key change is accepted once the clock is set.
            sim.SetInvalidClock(m.Esn, false);
            Assert.Equal(0, _kit.Ssh(sshadmin, admin, "keys.add", $"{{\"service\":\"setup\",\"publicKey\":\"{extra.Line}\"}}").ExitCode);
        }

        [Fact]
        public void FirmwareAllowsKeyChangesInRecoveryModeWithAnInvalidClock()
        {
            var sim = _kit.Start(1, _kit.NewHost());
            var m = sim.Modules.Single();
            var keys = ModuleServices.All.ToDictionary(s => s, s => _kit.NewClientKey($"r-{s}"));
            sim.PressRecoveryButton(m.Esn);
            sim.SetInvalidClock(m.Esn, true);
            var back = sim.GetModule(m.Esn);
            var enroll = _kit.Ssh(back.Endpoint("sshadmin"), _kit.DefaultCredentialFile(), "enroll", SimTestKit.Enroll(keys.ToDictionary(k => k.Key, k => k.Value.Line)));
            Assert.Equal(0, enroll.ExitCode);
        }

        [Fact]
        public void HostMapsTheFirmwareClockRefusalToModuleClockInvalid()
        {
            var line = "{\"protocol\":1,\"ok\":false,\"error\":{\"code\":\"E_CLOCK\",\"message\":\"refused while the module's clock is invalid\"}}";
            var ex = Assert.IsAssignableFrom<HsmException>(Record.Exception(() => FirmwareResult.Parse("7E57-0000-0003", "sshadmin", "keys.add", line, 1)));
            Assert.Equal(HsmErrorIds.ModuleClockInvalid, ex.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidOperation, ex.Kind);
            Assert.Equal("7E57-0000-0003", ex.Target);
            Assert.Contains("Recovery mode", ex.Message);
        }

        [Theory]
        [InlineData("\"clock\":\"1970-01-01T00:00:05Z\",\"clockValid\":false", false)]
        [InlineData("\"clock\":\"2026-01-01T00:00:05Z\",\"clockValid\":true", true)]
        [InlineData("\"clock\":\"1970-01-01T00:00:05Z\"", false)]      // no clockValid: a clock before 2020 is not set
        [InlineData("\"clock\":\"2026-03-01T10:00:00Z\"", true)]
        [InlineData("\"firmwareVersion\":\"13.4\"", true)]             // reports no clock at all
        public void IdentityReportsWhetherTheClockIsValid(string fields, bool valid)
        {
            var keyLine = NShield.HsmAdmin.Firmware.DefaultCredential.PublicKeyLine.Split(' ');
            var key = keyLine[0] + " " + keyLine[1];
            var services = string.Join(",", ModuleServices.All.Select(s => $"\"{s}\":{{\"publicKey\":\"{key}\"}}"));
            var line = $"{{\"protocol\":1,\"ok\":true,\"result\":{{\"esn\":\"7E57-0000-0004\",\"mode\":\"Operational\",{fields},\"serverKeys\":{{{services}}}}}}}";
            var identity = FirmwareBodies.ParseIdentity("7E57-0000-0004", FirmwareResult.Parse("7E57-0000-0004", "sshadmin", "identity", line, 0));
            Assert.Equal(valid, identity.ClockValid);
            Assert.Equal(valid, ModuleClock.AllowsKeyChanges(identity));
        }
    }
}
