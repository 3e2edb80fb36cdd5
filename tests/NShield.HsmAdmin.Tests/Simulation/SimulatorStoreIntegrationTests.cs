using System;
using System.Linq;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>The files the simulator writes into a host folder are the ones the host store reads.</summary>
    public class SimulatorStoreIntegrationTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        [Fact]
        public void StoreSeesTheSimulatedVendorRootAndThePlatformHardserverReadsTheStandIn()
        {
            var host = _kit.NewHost();
            var sim = _kit.Start(1, host, SimulatorTransport.InProcess);
            var store = HostStore.Open(host);
            var root = store.GetTrustedRoots().Single();
            Assert.Equal(SshPublicKey.Parse(sim.VendorRootPublicKey).Fingerprint, root.PublicKey.Fingerprint);
            Assert.Equal(sim.FactoryCredentialPath, store.FactoryCredentialPath);
            using (var credential = store.OpenFactoryCredential())
                Assert.Equal(DefaultCredential.Fingerprint, credential.PublicKey.Fingerprint);

            // The product's own hardserver code, pointed by the host configuration at the simulator's stand-in process.
            var hardserver = new NShield.HsmAdmin.Hardserver.PlatformHardserver(store.GetConfiguration().Hardserver);
            var before = hardserver.GetState();
            Assert.True(before.Running);
            Assert.NotNull(before.StartedAt);
            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "ncoreapi");
            // Keep the key switch clearly after the stand-in's start (start times have clock-tick resolution).
            System.Threading.Thread.Sleep(2 * (int)NShield.HsmAdmin.Hardserver.HardserverKeyState.Resolution.TotalMilliseconds);
            store.SaveClientKey("ncoreapi", key, ProtectionSpec.None, null);
            // Started before the key was switched in: it holds an older key.
            Assert.False(NShield.HsmAdmin.Hardserver.HardserverKeyState.IsKeyCurrent(hardserver.GetState(), store));
            NShield.HsmAdmin.Hardserver.HardserverKeyState.WaitPastActivation(store);
            hardserver.Restart();
            var after = hardserver.GetState();
            Assert.NotEqual(before.ProcessId, after.ProcessId);
            Assert.True(NShield.HsmAdmin.Hardserver.HardserverKeyState.IsKeyCurrent(after, store));
        }
    }
}
