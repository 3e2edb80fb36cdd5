using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>
    /// Issue 15: what the host spends per connection. Client keys are turned into SSH.NET's form once per key object (not per
    /// connection) and still authenticate only against the pinned server key; enroll opens no connection it does not need
    /// (counted in the modules' own sshd logs); in-process modules run side by side (their recorded commands overlap).
    /// </summary>
    public class TransportCostTests : IDisposable
    {
        private readonly SimTestKit _kit = new();
        public void Dispose() => _kit.Dispose();

        /// <summary>Connections the endpoint authenticated, from its sshd log (LogLevel INFO: one line per accepted key).</summary>
        private static int Accepted(SimulatedModule module, string service) =>
            Regex.Matches(File.ReadAllText(Path.Combine(module.ModuleDir, "services", service, "sshd.log")), "Accepted publickey").Count;

        private static Dictionary<string, int> AcceptedPerService(SimulatedModule module) =>
            ModuleServices.All.ToDictionary(s => s, s => Accepted(module, s));

        private static void AssertModuleHoldsOnly(SimulatedModule module, HsmHost host)
        {
            var held = ModuleFirmware.ListClientKeys(module.ModuleDir);
            foreach (var service in ModuleServices.All)
                Assert.Equal(new[] { host.ClientKey(service).PublicKey.Fingerprint }, held[service]);
        }

        [Fact]
        public async Task OneKeyObjectServesEveryConnectionAndAChangedServerKeyIsStillRefused()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            using var transport = new SshModuleTransport();
            using var host = new HsmHost(HostStore.Open(hostPath), null, transport);
            var address = host.FindAttached(module.Esn)!;

            var enrolled = await new EnrollOperation(host).EnrollAsync(address, CancellationToken.None);
            Assert.Equal(EnrollAction.Enrolled, enrolled.Action);
            // The factory credential and the six client keys: each converted once.
            Assert.Equal(1 + ModuleServices.All.Count, transport.KeyConversions);

            // Two more rounds over every service with the same key objects: 12 more authenticated connections, no conversion.
            var before = AcceptedPerService(module);
            for (int round = 0; round < 2; round++)
                foreach (var service in ModuleServices.All)
                    await host.PingAsync(address, service, CancellationToken.None);
            Assert.Equal(1 + ModuleServices.All.Count, transport.KeyConversions);
            Assert.All(ModuleServices.All, s => Assert.Equal(before[s] + 2, Accepted(module, s)));

            // A new server key behind the host's back: the cached key object goes nowhere near it.
            sim.ReplaceServerKey(module.Esn, ModuleServices.NCoreApi);
            var acceptedBefore = Accepted(module, ModuleServices.NCoreApi);
            var refused = await Assert.ThrowsAsync<HsmException>(() => host.PingAsync(address, ModuleServices.NCoreApi, CancellationToken.None));
            Assert.Equal(HsmErrorIds.ServerKeyChanged, refused.ErrorId);
            Assert.Equal(acceptedBefore, Accepted(module, ModuleServices.NCoreApi));
            // The other services still authenticate with the same key objects.
            await host.PingAsync(address, ModuleServices.Setup, CancellationToken.None);
            Assert.Equal(1 + ModuleServices.All.Count, transport.KeyConversions);
            AssertModuleHoldsOnly(module, host);
        }

        [Fact]
        public async Task ADisposedTransportOrKeyIsNotUsedAgain()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            var transport = new SshModuleTransport();
            using var host = new HsmHost(HostStore.Open(hostPath), null, transport);
            var address = host.FindAttached(module.Esn)!;
            await new EnrollOperation(host).EnrollAsync(address, CancellationToken.None);

            transport.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => host.PingAsync(address, ModuleServices.Setup, CancellationToken.None));

            using var fresh = new SshModuleTransport();
            using var host2 = new HsmHost(HostStore.Open(hostPath), null, fresh);
            var key = host2.ClientKey(ModuleServices.Setup);
            await host2.PingAsync(address, ModuleServices.Setup, CancellationToken.None);
            host2.ForgetClientKey(ModuleServices.Setup);   // disposes the key object
            await Assert.ThrowsAsync<ObjectDisposedException>(() => host2.PingAsync(address, ModuleServices.Setup, CancellationToken.None, key));
        }

        [Fact]
        public async Task EnrollOpensOneConnectionPerServiceOnAnEnrolledModuleAndOneMoreForSshadminAtFirstContact()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(1, hostPath, SimulatorTransport.Ssh);
            var module = sim.Modules.Single();
            var start = AcceptedPerService(module);

            using (var host = new HsmHost(HostStore.Open(hostPath)))
            {
                var first = await new EnrollOperation(host).EnrollAsync(host.FindAttached(module.Esn)!, CancellationToken.None);
                Assert.Equal(EnrollAction.Enrolled, first.Action);
                // First contact: sshadmin with the factory credential (identity, enroll), then each service with this host's key.
                var afterFirst = AcceptedPerService(module);
                Assert.All(ModuleServices.All, s => Assert.Equal(start[s] + (s == ModuleServices.SshAdmin ? 2 : 1), afterFirst[s]));
                Assert.Equal(7, afterFirst.Values.Sum() - start.Values.Sum());
                AssertModuleHoldsOnly(module, host);
            }

            using (var host = new HsmHost(HostStore.Open(hostPath)))
            {
                var before = AcceptedPerService(module);
                var again = await new EnrollOperation(host).EnrollAsync(host.FindAttached(module.Esn)!, CancellationToken.None);
                Assert.Equal(EnrollAction.NoAction, again.Action);
                Assert.Equal(ModuleServices.All.OrderBy(s => s), again.ServicesVerified.OrderBy(s => s));
                // Enrolled: the sshadmin channel that read identity and keys also proves sshadmin; one connection per service.
                var after = AcceptedPerService(module);
                Assert.All(ModuleServices.All, s => Assert.Equal(before[s] + 1, after[s]));
                AssertModuleHoldsOnly(module, host);
            }
        }

        [Fact(Timeout = 120000)]
        public async Task InProcessModulesRunSideBySide()
        {
            var hostPath = _kit.NewHost();
            var sim = _kit.Start(4, hostPath, SimulatorTransport.InProcess);
            var esns = new HashSet<string>(sim.Modules.Select(m => m.Esn));

            using var recorder = InProcessModuleTransport.StartRecording();
            // A barrier: each module's first command (identity) is held until all four are in flight at once. Serial
            // execution never gets there: the first module waits out the (generous) timeout and the test fails.
            var inFlight = 0;
            var timedOut = 0;
            var allStarted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            recorder.Starting = async (esn, service, verb, ct) =>
            {
                if (!esns.Contains(esn) || verb != FirmwareVerbs.Identity) return;
                if (Interlocked.Increment(ref inFlight) == esns.Count) allStarted.TrySetResult(true);
                if (await Task.WhenAny(allStarted.Task, Task.Delay(TimeSpan.FromSeconds(30), ct)).ConfigureAwait(false) != allStarted.Task)
                    Interlocked.Exchange(ref timedOut, 1);
            };
            using var host = new HsmHost(HostStore.Open(hostPath));
            var operation = new EnrollOperation(host);
            var results = await Task.WhenAll(sim.Modules.Select(m => operation.EnrollAsync(host.FindAttached(m.Esn)!, CancellationToken.None)));
            Assert.All(results, r => Assert.Equal(EnrollAction.Enrolled, r.Action));
            Assert.True(timedOut == 0, $"only {Volatile.Read(ref inFlight)} of {esns.Count} modules' first commands were ever in flight together");
            Assert.True(allStarted.Task.IsCompleted);

            var identity = recorder.Commands.Where(c => esns.Contains(c.Esn) && c.Verb == FirmwareVerbs.Identity).ToList();
            Assert.Equal(esns.OrderBy(e => e), identity.Select(c => c.Esn).OrderBy(e => e));
            // Each module's own commands stayed in order (per-module state is consistent): identity before enroll before pings.
            foreach (var esn in esns)
            {
                var mine = recorder.Commands.Where(c => c.Esn == esn).OrderBy(c => c.Started).ToList();
                Assert.Equal(new[] { FirmwareVerbs.Identity, FirmwareVerbs.Enroll }, mine.Take(2).Select(c => c.Verb));
                Assert.Equal(ModuleServices.All.Count, mine.Count(c => c.Verb == FirmwareVerbs.Ping));
                Assert.True(mine[1].Ended <= mine.Skip(2).Min(c => c.Started));
            }
            foreach (var m in sim.Modules) AssertModuleHoldsOnly(m, host);
        }
    }
}
