using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.AdapterTests
{
    /// <summary>
    /// Issue 20: a module protocol adapter written against the public seam alone (IModuleTransport, IModuleSession), and
    /// the product's operations (enroll, roll, restore, reset) run through it unchanged.
    /// </summary>
    public sealed class MemoryAdapterTests : IDisposable
    {
        private readonly string _dir = Path.Combine(Path.GetTempPath(), "nshield-adapter-" + Guid.NewGuid().ToString("N"));
        private readonly SshKeyPair _factory = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
        private readonly List<string> _addresses = new List<string>();

        public MemoryAdapterTests()
        {
            Directory.CreateDirectory(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            MemoryTransport.Register();
        }

        public void Dispose()
        {
            foreach (var a in _addresses)
            {
                MemoryTransport.Instance.Modules.TryRemove(a, out _);
                MemoryTransport.Instance.SkipServerKeyCheck.TryRemove(a, out _);
                MemoryTransport.Instance.Impostor.TryRemove(a, out _);
            }
            _factory.Dispose();
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        }

        /// <summary>
        /// A host store whose registry lists the given number of in-memory modules (factory state), and a host object on it
        /// that the test reads the host side through (the operations open their own, as a cmdlet's do).
        /// </summary>
        private (HsmHost Host, MemoryModule[] Modules) NewHost(int count)
        {
            Directory.CreateDirectory(HostPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var store = HostStore.Open(HostPath);
            // A test never touches this machine's machine folder (/etc/opt/nfast): the host gets one of its own.
            store.UpdateConfiguration(c => { c.MachineFolder = Path.Combine(_dir, "machine"); return "test machine folder"; });
            Assert.StartsWith(_dir, store.MachineRoot, StringComparison.Ordinal);
            File.WriteAllText(HostConfiguration.DefaultFactoryCredentialPath(store), OpenSshPrivateKey.Encode(_factory, null));
            File.SetUnixFileMode(HostConfiguration.DefaultFactoryCredentialPath(store), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var modules = new MemoryModule[count];
            for (int i = 0; i < count; i++)
            {
                var esn = $"ADA9-0000-000{i + 1}";
                var address = "memory-" + Guid.NewGuid().ToString("N");
                _addresses.Add(address);
                modules[i] = MemoryTransport.Instance.Modules[address] = new MemoryModule(esn, _factory.PublicKey);
                Assert.True(store.RegisterModule(new ModuleRegistration { Esn = esn, Transport = MemoryTransport.Name, Address = address }));
            }
            return (new HsmHost(store, hardserver: new NoHardserver()), modules);
        }

        private string HostPath => Path.Combine(_dir, "host");

        /// <summary>
        /// Runs one of the product's operations on the test's host store exactly as its cmdlet does (a request in, everything
        /// out through the reporter), with the one thing this host lacks given through the public embedding hook: a hardserver.
        /// </summary>
        private Reporter Run<TRequest>(IHsmOperation<TRequest> operation, TRequest request, Func<DateTimeOffset>? clock = null,
            NoHardserver? hardserver = null) where TRequest : HostRequest
        {
            request.HostPath = HostPath;
            request.Overrides = new HostOverrides(hardserver ?? new NoHardserver(), clock);
            var reporter = new Reporter();
            operation.RunAsync(request, reporter, CancellationToken.None).GetAwaiter().GetResult();
            return reporter;
        }

        private static Dictionary<string, string> HostKeys(HsmHost host) =>
            ModuleServices.All.ToDictionary(s => s, s => host.Store.GetClientKey(s)!.Fingerprint);

        private static void AssertModulesHoldExactly(IReadOnlyDictionary<string, string> keys, IEnumerable<MemoryModule> modules)
        {
            foreach (var module in modules)
                foreach (var service in ModuleServices.All)
                    Assert.Equal(new[] { keys[service] }, module.Accepted(service));
        }

        private void Enroll(MemoryModule[] modules)
        {
            // No vendor root for in-memory modules: the person confirmed each sshadmin server key out of band (-AcceptFingerprint).
            var reporter = Run(new EnrollModulesOperation(), new EnrollRequest
            {
                AcceptFingerprints = modules.Select(m => m.ServerKeys[ModuleServices.SshAdmin].PublicKey.Fingerprint).ToList(), ThrottleLimit = 4,
            });
            Assert.Empty(reporter.Errors);
            Assert.Empty(reporter.PersonAsked);
            var results = reporter.Results.OfType<HsmEnrollResult>().ToList();
            Assert.Equal(modules.Length, results.Count);
            Assert.All(results, r => Assert.Equal(EnrollAction.Enrolled, r.Action));
        }

        private HsmKeyRollResult Roll(Reporter? into = null)
        {
            var reporter = Run(new UpdateSshKeyOperation(), new UpdateSshKeyRequest { ThrottleLimit = 4 });
            foreach (var e in reporter.Errors) into?.Errors.Enqueue(e);
            return reporter.Results.OfType<HsmKeyRollResult>().Single();
        }

        [Fact]
        public void The_engine_grants_this_adapter_assembly_no_internals()
        {
            var engine = typeof(IModuleSession).Assembly;
            var friends = engine.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName.Split(',')[0]).ToList();
            Assert.DoesNotContain(typeof(MemoryAdapterTests).Assembly.GetName().Name, friends);
            // And the seam it is written against is public.
            Assert.True(typeof(IModuleSession).IsPublic && typeof(IModuleTransport).IsPublic && typeof(ModuleIdentity).IsPublic);
        }

        [Fact]
        public void Enroll_roll_restore_and_reset_run_through_an_in_memory_adapter()
        {
            var (host, modules) = NewHost(2);
            using (host)
            {
                Enroll(modules);
                var enrolled = HostKeys(host);
                AssertModulesHoldExactly(enrolled, modules);
                Assert.All(modules, m => Assert.Equal(ModuleMode.Operational, m.Mode));
                foreach (var m in modules)
                    Assert.Equal(m.ServerKeys[ModuleServices.SshAdmin].PublicKey.Fingerprint,
                        host.Store.GetPin(m.Esn, ModuleServices.SshAdmin)!.Fingerprint);

                // Roll every key: the modules end with the new keys only.
                var rollErrors = new Reporter();
                var rolled = Roll(rollErrors);
                Assert.Empty(rollErrors.Errors);
                Assert.Equal(RollStatus.Completed, rolled.Status);
                var afterRoll = HostKeys(host);
                Assert.All(ModuleServices.All, s => Assert.NotEqual(enrolled[s], afterRoll[s]));
                AssertModulesHoldExactly(afterRoll, modules);

                // Restore from a backup of the sshadmin key: sshadmin kept, every other service rolled on the modules.
                var backup = Path.Combine(_dir, "sshadmin.backup");
                var backedUp = Run(new BackupOperation(), new BackupRequest { Path = backup, HostTied = true });
                Assert.Empty(backedUp.Errors);
                Assert.True(File.Exists(backup));
                var restoreReporter = Run(new RestoreKeyOperation(), new RestoreRequest { Path = backup, ThrottleLimit = 4 });
                Assert.Empty(restoreReporter.Errors);
                var restored = restoreReporter.Results.OfType<HsmKeyRollResult>().Single();
                Assert.Equal(RollStatus.Completed, restored.Status);
                var afterRestore = HostKeys(host);
                Assert.Equal(afterRoll[ModuleServices.SshAdmin], afterRestore[ModuleServices.SshAdmin]);
                Assert.All(ModuleServices.All.Where(s => s != ModuleServices.SshAdmin), s => Assert.NotEqual(afterRoll[s], afterRestore[s]));
                AssertModulesHoldExactly(afterRestore, modules);

                // Reset the first module: it forgets every client key and has new server keys; the host forgets its pins.
                var oldServerKey = modules[0].ServerKeys[ModuleServices.SshAdmin].PublicKey.Fingerprint;
                var resetReporter = Run(new ResetModuleOperation(), new ResetModuleRequest { Esns = new[] { modules[0].Esn }, ThrottleLimit = 4 });
                Assert.Empty(resetReporter.Errors);
                // Asked as a change (Reset-HsmModule's own question), which -Confirm:$false answers.
                Assert.Contains(resetReporter.Questions, q => q.Kind == QuestionKind.Change && q.Target == $"module {modules[0].Esn}");
                Assert.Equal(ModuleMode.FactoryState, modules[0].Mode);
                Assert.All(ModuleServices.All, s => Assert.Empty(modules[0].Accepted(s)));
                Assert.NotEqual(oldServerKey, modules[0].ServerKeys[ModuleServices.SshAdmin].PublicKey.Fingerprint);
                Assert.Null(host.Store.GetPin(modules[0].Esn, ModuleServices.SshAdmin));
                AssertModulesHoldExactly(afterRestore, new[] { modules[1] });
            }
        }

        [Fact]
        public void A_transport_that_skips_its_own_server_key_check_is_still_refused_before_anything_is_sent()
        {
            var (host, modules) = NewHost(1);
            using (host)
            {
                Enroll(modules);
                var address = host.Attached().Single();
                var keys = HostKeys(host);
                var served = modules[0].Served.Count;

                // Someone in the middle presents its own server keys, and this transport forgets to compare them with the pin.
                using var impostor = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519);
                MemoryTransport.Instance.Impostor[address.Host] = impostor;
                MemoryTransport.Instance.SkipServerKeyCheck[address.Host] = true;

                var error = Assert.IsAssignableFrom<HsmException>(Record.Exception(() =>
                    host.PingAsync(address, ModuleServices.SshAdmin, CancellationToken.None).GetAwaiter().GetResult()));
                Assert.Equal(HsmErrorIds.ServerKeyChanged, error.ErrorId);
                Assert.Contains(impostor.PublicKey.Fingerprint, error.Message);

                // A key roll through it stops at the same check: nothing reached the module, nothing changed on the host.
                var reporter = new Reporter();
                var rolled = Roll(reporter);
                Assert.NotEqual(RollStatus.Completed, rolled.Status);
                Assert.Contains(HsmErrorIds.ServerKeyChanged, reporter.Errors.Select(e => e.ErrorId));
                Assert.Equal(served, modules[0].Served.Count);
                AssertModulesHoldExactly(keys, modules);

                // The same module through the honest path (no one in the middle) is reachable again.
                MemoryTransport.Instance.Impostor.TryRemove(address.Host, out _);
                host.PingAsync(address, ModuleServices.SshAdmin, CancellationToken.None).GetAwaiter().GetResult();
                Assert.Equal(served + 1, modules[0].Served.Count);
            }
        }

        /// <summary>A stand-in for the platform's hardserver: nothing is started or stopped, restarts are counted.</summary>
        private sealed class NoHardserver : IHardserver
        {
            private int _restarts;
            public int Restarts => _restarts;
            public string Description => "no hardserver (adapter test)";
            public HardserverState GetState() => new HardserverState { UnknownReason = "not on this test host" };
            public void Restart() => Interlocked.Increment(ref _restarts);
        }

        [Fact]
        public void An_embedding_gives_the_operations_its_own_hardserver_through_the_request()
        {
            var (host, modules) = NewHost(1);
            using (host)
            {
                Enroll(modules);
                // Update-HsmSshKey -RestartHardserver: the roll changes ncoreapi and restarts the hardserver the request gave.
                var hardserver = new NoHardserver();
                var rolled = Run(new UpdateSshKeyOperation(), new UpdateSshKeyRequest { RestartHardserver = true }, hardserver: hardserver);
                Assert.Empty(rolled.Errors);
                var result = rolled.Results.OfType<HsmKeyRollResult>().Single();
                Assert.Equal(RollStatus.Completed, result.Status);
                Assert.False(result.HardserverRestartNeeded);
                Assert.Equal(1, hardserver.Restarts);
                AssertModulesHoldExactly(HostKeys(host), modules);

                // Get-HsmHardserver reports on the same stand-in, never on this machine's hardserver.
                var info = Assert.IsType<HsmHardserverInfo>(Assert.Single(Run(new GetHardserverOperation(), new HostRequest(),
                    hardserver: hardserver).Results));
                Assert.Equal(hardserver.Description, info.Description);
                Assert.Equal("not on this test host", info.UnknownReason);
            }
        }

        // Issue 22: the clock and reboot actions run through any adapter; the engine's own checks come first.

        [Fact]
        public void Set_time_steps_each_module_clock_and_reports_the_offsets()
        {
            var (host, modules) = NewHost(2);
            using (host)
            {
                Enroll(modules);
                modules[0].ClockOffset = TimeSpan.FromSeconds(120);
                var reporter = Run(new SetModuleTimeOperation(), new SetTimeRequest { ThrottleLimit = 4 });
                Assert.Empty(reporter.Errors);
                var results = reporter.Results.Cast<HsmModuleTimeResult>().OrderBy(r => r.Esn).ToList();
                Assert.Equal(2, results.Count);
                Assert.InRange(results[0].OffsetBeforeSeconds!.Value, 115, 125);
                Assert.InRange(results[0].OffsetAfterSeconds, -5, 5);
                Assert.All(modules, m => Assert.InRange(m.ClockOffset.TotalSeconds, -5, 5));
                Assert.All(modules, m => Assert.Contains("sshadmin set time", m.Served));
            }
        }

        [Fact]
        public void A_host_clock_before_2020_sets_no_module_clock()
        {
            var (host, modules) = NewHost(1);
            using (host)
            {
                Enroll(modules);
                modules[0].ClockOffset = TimeSpan.FromSeconds(120);
                var wrong = new DateTimeOffset(2010, 5, 1, 0, 0, 0, TimeSpan.Zero);
                var ex = Assert.Throws<HsmException>(() => Run(new SetModuleTimeOperation(), new SetTimeRequest(), clock: () => wrong));
                Assert.Equal(HsmErrorIds.HostClockInvalid, ex.ErrorId);
                Assert.Equal(TimeSpan.FromSeconds(120), modules[0].ClockOffset);
                Assert.DoesNotContain("sshadmin set time", modules[0].Served);
            }
        }

        [Fact]
        public void Restart_reboots_each_module_and_reports_its_mode_after()
        {
            var (host, modules) = NewHost(2);
            using (host)
            {
                Enroll(modules);
                var reporter = Run(new RestartModulesOperation(), new RestartRequest { ModuleTimeoutSeconds = 10 });
                Assert.Empty(reporter.Errors);
                var results = reporter.Results.Cast<HsmModuleRestartResult>().ToList();
                Assert.Equal(2, results.Count);
                Assert.All(results, r => Assert.Equal("Operational", r.Mode));
                Assert.All(modules, m => Assert.Contains("sshadmin reboot", m.Served));
            }
        }

        [Fact]
        public void A_module_that_comes_back_with_its_old_keys_did_not_enter_recovery_mode_and_keeps_its_pins()
        {
            var (host, modules) = NewHost(1);
            using (host)
            {
                Enroll(modules);
                modules[0].IgnoresRecovery = true;
                var pin = host.Store.GetPin(modules[0].Esn, ModuleServices.SshAdmin)!.Fingerprint;
                var reporter = Run(new RestartModulesOperation(), new RestartRequest { Recovery = true, ModuleTimeoutSeconds = 10 });
                Assert.Empty(reporter.Results);
                var error = Assert.Single(reporter.Errors);
                Assert.Equal(HsmErrorIds.RecoveryNotEntered, error.ErrorId);
                Assert.Equal(pin, host.Store.GetPin(modules[0].Esn, ModuleServices.SshAdmin)!.Fingerprint);
                Assert.Equal(ModuleMode.Operational, modules[0].Mode);
            }
        }

        [Theory]
        [InlineData(2)]
        [InlineData(121)]
        public void A_module_timeout_outside_3_to_120_seconds_is_refused(int seconds)
        {
            var path = Path.Combine(_dir, "timeout-host");
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var ex = Assert.Throws<HsmException>(() => new HsmHost(HostStore.Open(path), moduleTimeout: TimeSpan.FromSeconds(seconds)));
            Assert.Equal(HsmErrorIds.InvalidTimeout, ex.ErrorId);
            var (host, modules) = NewHost(1);
            using (host)
            {
                var served = modules[0].Served.Count;
                var bad = Assert.Throws<HsmException>(() =>
                    Run(new RestartModulesOperation(), new RestartRequest { ModuleTimeoutSeconds = seconds }));
                Assert.Equal(HsmErrorIds.InvalidTimeout, bad.ErrorId);
                Assert.Equal(served, modules[0].Served.Count);
            }
        }

        /// <summary>
        /// The reporter of a person who runs the cmdlets with -Confirm:$false: every change is made (ShouldProcess, and a
        /// Change or Confirmation question, answer Yes); a question only a person may answer (first-contact fingerprints,
        /// forgetting a module) is recorded and answered No, since this person confirmed nothing beyond what the request
        /// says; no secret is typed.
        /// </summary>
        private sealed class Reporter : IOperationReporter
        {
            public ConcurrentQueue<HsmException> Errors { get; } = new ConcurrentQueue<HsmException>();
            public ConcurrentQueue<object> Results { get; } = new ConcurrentQueue<object>();
            public ConcurrentQueue<ConfirmQuestion> Questions { get; } = new ConcurrentQueue<ConfirmQuestion>();
            public IEnumerable<ConfirmQuestion> PersonAsked => Questions.Where(q => q.Kind == QuestionKind.PersonOnly);
            public void Progress(OperationProgress progress) { }
            public void Warning(string message) { }
            public void Verbose(string message) { }
            public void Error(HsmException error) => Errors.Enqueue(error);
            public void Result(object result) => Results.Enqueue(result);
            public bool ShouldProcess(string target, string action) => true;

            public ConfirmAnswer Confirm(ConfirmQuestion question)
            {
                Questions.Enqueue(question);
                return question.Kind == QuestionKind.PersonOnly ? ConfirmAnswer.No : ConfirmAnswer.Yes;
            }

            public System.Security.SecureString? AskSecret(SecretQuestion question) => null;
        }
    }
}
