using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Protocol;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>Issue 16 (4): a module only ever receives "type base64": never a key comment (or options).</summary>
    public class KeyCommentTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        private const string Evil = "innocent\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFEANbmMjjz4XF0kDorT3DRF3ZEfMLoD38at/gUE00nl attacker";

        [Fact]
        public void RequestBodiesCarryNoCommentEvenOneWithANewline()
        {
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, Evil);
            var line = key.PublicKey.ToAuthorizedKeysLine();
            Assert.Contains("\n", line); // the comment really is there to be stripped
            var bare = key.PublicKey.KeyType + " " + Convert.ToBase64String(key.PublicKey.Blob);

            using (var add = JsonDocument.Parse(FirmwareBodies.AddKey("sshadmin", SshPublicKey.Parse(line))))
                Assert.Equal(bare, add.RootElement.GetProperty("publicKey").GetString());
            using (var set = JsonDocument.Parse(FirmwareBodies.SetKeys("sshadmin", new[] { line, "restrict,command=\"x\" " + line }.Select(SshPublicKey.Parse))))
                Assert.All(set.RootElement.GetProperty("publicKeys").EnumerateArray(), e => Assert.Equal(bare, e.GetString()));
            using (var enroll = JsonDocument.Parse(FirmwareBodies.Enroll(ModuleServices.All.ToDictionary(s => s, s => SshPublicKey.Parse(line)))))
                Assert.All(enroll.RootElement.GetProperty("clientKeys").EnumerateObject(), p => Assert.Equal(bare, p.Value.GetString()));
        }

        /// <summary>Over real SSH (sshd running the firmware program) as well as in process: the module's own authorized_keys is read afterwards.</summary>
        [Theory]
        [InlineData(SimulatorTransport.Ssh)]
        [InlineData(SimulatorTransport.InProcess)]
        public async Task EnrollInstallsClientKeysWithoutTheirCommentsOnTheModule(SimulatorTransport transport)
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, transport);
            var module = sim.Modules.Single();
            using var host = HsmHost.Open(hostPath);
            foreach (var service in ModuleServices.All)
                using (var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, service + " " + Evil))
                    host.Store.SaveClientKey(service, key, ProtectionSpec.None, null);

            var result = await new EnrollOperation(host).EnrollAsync(host.FindAttached(module.Esn)!, CancellationToken.None);
            Assert.Equal(EnrollAction.Enrolled, result.Action);

            foreach (var service in ModuleServices.All)
            {
                var text = File.ReadAllText(Path.Combine(module.ModuleDir, "services", service, "authorized_keys"));
                Assert.DoesNotContain("attacker", text);
                Assert.DoesNotContain("innocent", text);
                var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                var mine = host.ClientKey(service).PublicKey;
                Assert.Single(lines);
                Assert.EndsWith(" " + mine.KeyType + " " + Convert.ToBase64String(mine.Blob), lines[0]);
            }
        }
    }
}
