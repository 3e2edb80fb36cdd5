using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>
    /// Issue 16 (6): a hostile module (simulator -Hostile) over real SSH. Each case must end in a typed error within the
    /// transport's configured timeouts, and the host store must be byte-for-byte unchanged.
    /// </summary>
    public class HostileModuleTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
        private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(4);

        /// <summary>Every file of the host store: relative path and SHA-256 of its content.</summary>
        private static string StoreHash(string hostPath)
        {
            var sb = new StringBuilder();
            foreach (var f in Directory.GetFiles(hostPath, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
                sb.Append(Path.GetRelativePath(hostPath, f)).Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))).Append('\n');
            return sb.ToString();
        }

        [Theory]
        [InlineData(HostileReply.OversizedReply, HsmErrorIds.ReplyTooLarge)]
        [InlineData(HostileReply.EndlessReply, HsmErrorIds.ReplyTooLarge)]
        [InlineData(HostileReply.StderrFlood, HsmErrorIds.ReplyTooLarge)] // issue 23, item 13: the 64 KiB stderr cap
        [InlineData(HostileReply.WrongProtocol, HsmErrorIds.ProtocolVersionUnsupported)]
        [InlineData(HostileReply.MalformedJson, HsmErrorIds.ProtocolError)]
        [InlineData(HostileReply.MistypedJson, HsmErrorIds.ProtocolError)]
        [InlineData(HostileReply.SlowDrip, HsmErrorIds.ConnectionTimeout)]
        public async Task EnrollAgainstAHostileModuleEndsInATypedErrorWithinTheTimeoutAndChangesNothing(HostileReply mode, string expectedId)
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            HostileReplies.Set(module.ModuleDir, mode);
            Assert.Equal(mode, HostileReplies.Get(module.ModuleDir));

            var transport = new SshModuleTransport(ConnectTimeout, CommandTimeout);
            using var host = new HsmHost(HostStore.Open(hostPath), null, transport);
            var address = host.FindAttached(module.Esn)!;
            var before = StoreHash(hostPath);

            var clock = Stopwatch.StartNew();
            var ex = await Record.ExceptionAsync(() => new EnrollOperation(host).EnrollAsync(address, CancellationToken.None));
            clock.Stop();

            var typed = Assert.IsAssignableFrom<HsmException>(ex);
            Assert.Equal(expectedId, typed.ErrorId);
            Assert.Equal(module.Esn, typed.Target);
            Assert.True(clock.Elapsed < ConnectTimeout + CommandTimeout, $"{mode} took {clock.Elapsed}, over the configured {ConnectTimeout + CommandTimeout}");
            Assert.Equal(before, StoreHash(hostPath));
            Assert.DoesNotContain("PRIVATE KEY", typed.Message);
        }

        [Fact]
        public async Task TheSameModuleEnrollsOnceNoLongerHostile()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            HostileReplies.Set(module.ModuleDir, HostileReply.MistypedJson);
            using var host = new HsmHost(HostStore.Open(hostPath), null, new SshModuleTransport(ConnectTimeout, CommandTimeout));
            var address = host.FindAttached(module.Esn)!;
            await Assert.ThrowsAnyAsync<HsmException>(() => new EnrollOperation(host).EnrollAsync(address, CancellationToken.None));

            HostileReplies.Set(module.ModuleDir, HostileReply.None);
            Assert.Equal(HostileReply.None, HostileReplies.Get(module.ModuleDir));
            var result = await new EnrollOperation(host).EnrollAsync(address, CancellationToken.None);
            Assert.Equal(EnrollAction.Enrolled, result.Action);
            Assert.Equal(ModuleServices.All.Count, result.ServicesVerified.Length);
        }

        [Fact]
        public async Task AnEnrolledModuleTurnedHostileFailsTypedOnThePinnedPathToo()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            using var host = new HsmHost(HostStore.Open(hostPath), null, new SshModuleTransport(ConnectTimeout, CommandTimeout));
            var address = host.FindAttached(module.Esn)!;
            await new EnrollOperation(host).EnrollAsync(address, CancellationToken.None);
            var before = StoreHash(hostPath);

            HostileReplies.Set(module.ModuleDir, HostileReply.OversizedReply);
            var test = await new ModuleInspection(host).TestAsync(address, ModuleServices.NCoreApi, CancellationToken.None);
            Assert.False(test.Success);
            Assert.Equal(HsmErrorIds.ReplyTooLarge, test.ErrorId);
            var roll = await Record.ExceptionAsync(() => new EnrollOperation(host).EnrollAsync(address, CancellationToken.None));
            Assert.Equal(HsmErrorIds.ReplyTooLarge, Assert.IsAssignableFrom<HsmException>(roll).ErrorId);
            Assert.Equal(before, StoreHash(hostPath));
        }
    }
}
