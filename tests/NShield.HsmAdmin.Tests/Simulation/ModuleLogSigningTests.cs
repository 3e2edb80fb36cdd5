using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>
    /// The simulated module signs its log in batches (issue 20: one signature per command process cost it a third of each
    /// command), never signing an entry twice: signedThrough marks what signing has dealt with.
    /// </summary>
    public class ModuleLogSigningTests
    {
        const string Esn = "8A2C-91F3-0D4E";

        static ModuleLayout NewModule(TempDirectory dir)
        {
            using var root = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "root");
            var moduleDir = Path.Combine(dir.Path, "module");
            ModuleFirmware.Provision(moduleDir, Esn, OpenSshPrivateKey.Encode(root, null), "/usr/bin/dotnet", "/nonexistent/fw.dll", "Ssh");
            return new ModuleLayout(moduleDir);
        }

        static void Record(ModuleLayout l, int count)
        {
            for (int i = 0; i < count; i++)
                ModuleLog.TryRecord(new FirmwareRequest { ModuleDir = l.Dir, Service = "sshadmin", KeyFingerprint = "SHA256:x", Verb = "ping" },
                    "ok");
        }

        static JsonElement[] Entries(ModuleLayout l) =>
            JsonDocument.Parse(File.ReadAllText(l.LogFile)).RootElement.GetProperty("entries").EnumerateArray().ToArray();

        static bool Verifies(ModuleLayout l, JsonElement e)
        {
            var key = SshPublicKey.Parse(File.ReadAllText(l.LogKeyPub));
            var signed = ModuleLogSigning.ToBeSigned(Esn, e.GetProperty("seq").GetInt64(), e.GetProperty("time").GetDateTimeOffset(),
                e.GetProperty("service").GetString()!, e.GetProperty("verb").GetString()!, e.GetProperty("keyFingerprint").GetString()!,
                e.GetProperty("outcome").GetString()!);
            return e.TryGetProperty("signature", out var sig) && key.Verify(signed, Convert.FromBase64String(sig.GetString()!));
        }

        [Fact]
        public void Entries_are_signed_a_batch_at_a_time_by_the_log_key()
        {
            using var dir = new TempDirectory();
            var l = NewModule(dir);
            Record(l, ModuleLog.SignBatch - 1);
            Assert.All(Entries(l), e => Assert.False(e.TryGetProperty("signature", out _)));
            Record(l, 1);
            var entries = Entries(l);
            Assert.Equal(ModuleLog.SignBatch, entries.Length);
            Assert.All(entries, e => Assert.True(Verifies(l, e)));
            Record(l, 1);
            Assert.False(Entries(l).Last().TryGetProperty("signature", out _)); // the next batch has begun
        }

        [Fact]
        public void An_entry_whose_signature_was_removed_is_never_signed_again()
        {
            using var dir = new TempDirectory();
            var l = NewModule(dir);
            Record(l, 5);
            using (ModuleFirmware.ModuleLock(l)) ModuleLog.Query(l, Esn, new LogsRequest()); // a read signs what was written
            Assert.All(Entries(l), e => Assert.True(Verifies(l, e)));

            // Someone with the log store changes entry 2 and drops its signature: it must stay unsigned, not be re-signed.
            var file = JsonNode.Parse(File.ReadAllText(l.LogFile))!;
            var second = file["entries"]![1]!.AsObject();
            Assert.Equal(2, (long)second["seq"]!);
            second["outcome"] = "E_EDITED";
            Assert.True(second.Remove("signature"));
            File.WriteAllText(l.LogFile, file.ToJsonString());
            Record(l, 1);
            using (ModuleFirmware.ModuleLock(l)) ModuleLog.Query(l, Esn, new LogsRequest());
            var after = Entries(l);
            Assert.False(after[1].TryGetProperty("signature", out _));
            Assert.All(after.Where(e => e.GetProperty("seq").GetInt64() != 2), e => Assert.True(Verifies(l, e)));
        }
    }
}
