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
        public void StoreSeesTheSimulatedVendorRootAndTheHardserverLoadsTheStoresNcoreapiKey()
        {
            var host = _kit.NewHost();
            var sim = _kit.Start(1, host, SimulatorTransport.InProcess);
            var store = HostStore.Open(host);
            var root = store.GetTrustedRoots().Single();
            Assert.Equal(SshPublicKey.Parse(sim.VendorRootPublicKey).Fingerprint, root.PublicKey.Fingerprint);

            using var key = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "ncoreapi");
            var rec = store.SaveClientKey("ncoreapi", key, ProtectionSpec.None, null);
            Assert.Null(SimulatedHardserver.Read(host).LoadedNcoreapiFingerprint);
            Assert.Equal(rec.Fingerprint, SimulatedHardserver.Restart(host).LoadedNcoreapiFingerprint);
            Assert.Equal(key.PublicKey.Fingerprint, SimulatedHardserver.Read(host).LoadedNcoreapiFingerprint);
        }
    }
}
