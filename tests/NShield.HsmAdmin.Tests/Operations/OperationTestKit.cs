using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Simulation;
using Xunit;

namespace NShield.HsmAdmin.Tests.Operations
{
    /// <summary>Records what an operation reports; answers confirmations with <see cref="Confirm"/>.</summary>
    public sealed class RecordingReporter : IOperationReporter
    {
        public ConcurrentQueue<HsmException> Errors { get; } = new();
        public ConcurrentQueue<string> Warnings { get; } = new();
        public ConcurrentQueue<string> Verbose { get; } = new();
        public ConcurrentQueue<object> Results { get; } = new();
        public ConcurrentQueue<OperationProgress> ProgressSeen { get; } = new();
        public ConcurrentQueue<(string Target, string Action)> Asked { get; } = new();
        public Func<string, string, bool> Confirm { get; set; } = (_, _) => true;
        public Action<OperationProgress>? OnProgress { get; set; }

        public void Progress(OperationProgress progress) { ProgressSeen.Enqueue(progress); OnProgress?.Invoke(progress); }
        public void Warning(string message) => Warnings.Enqueue(message);
        void IOperationReporter.Verbose(string message) => Verbose.Enqueue(message);
        public void Error(HsmException error) => Errors.Enqueue(error);
        public void Result(object result) => Results.Enqueue(result);
        public bool ShouldProcess(string target, string action) { Asked.Enqueue((target, action)); return Confirm(target, action); }
        ConfirmAnswer IOperationReporter.Confirm(ConfirmQuestion question)
        {
            Asked.Enqueue((question.Target, question.Action));
            return Confirm(question.Target, question.Action) ? ConfirmAnswer.Yes : ConfirmAnswer.No;
        }


        public string[] ErrorIds => Errors.Select(e => e.ErrorId).ToArray();

        /// <summary>Answers to secret questions, in order (null: nobody can be asked); the questions asked are kept.</summary>
        public ConcurrentQueue<System.Security.SecureString?> Secrets { get; } = new();
        public ConcurrentQueue<SecretQuestion> SecretsAsked { get; } = new();
        public System.Security.SecureString? AskSecret(SecretQuestion question)
        {
            SecretsAsked.Enqueue(question);
            return Secrets.TryDequeue(out var answer) ? answer : null;
        }
    }

    /// <summary>
    /// A host with simulated modules on the in-process transport (no sshd, no PowerShell): the operations run as the
    /// cmdlets run them, and the module side is read from the modules' own authorized_keys (Simulator.GetModule).
    /// </summary>
    public sealed class OperationFleet : IDisposable
    {
        private readonly SimTestKit _kit = new();

        public OperationFleet(int modules, SimulatorTransport transport = SimulatorTransport.InProcess)
        {
            HostPath = _kit.NewHost();
            Sim = _kit.Start(modules, HostPath, transport);
            Host = new HsmHost(HostStore.Open(HostPath));
        }

        public string HostPath { get; }
        public Simulator Sim { get; }
        public HsmHost Host { get; private set; }
        public string Dir => _kit.Dir;
        public IReadOnlyList<string> Esns => Sim.Modules.Select(m => m.Esn).OrderBy(e => e).ToList();

        /// <summary>A fresh host object on the same store (what the next cmdlet invocation gets).</summary>
        public HsmHost Reopen()
        {
            Host.Dispose();
            return Host = new HsmHost(HostStore.Open(HostPath));
        }

        public IReadOnlyList<HsmEnrollResult> Enroll(RecordingReporter? reporter = null)
        {
            reporter ??= new RecordingReporter();
            var operation = new EnrollOperation(Host);
            operation.EnrollAllAsync(Host.Attached(), FirstContactTrust.None, whatIf: false, 16, reporter, CancellationToken.None)
                .GetAwaiter().GetResult();
            Assert.Empty(reporter.Errors);
            return reporter.Results.Cast<HsmEnrollResult>().OrderBy(r => r.Esn).ToList();
        }

        public Dictionary<string, string> HostKeys() =>
            ModuleServices.All.ToDictionary(s => s, s => Host.Store.GetClientKey(s)!.Fingerprint);

        /// <summary>The fingerprints the module itself accepts for a service, sorted.</summary>
        public string[] ModuleKeys(string esn, string service) =>
            Sim.GetModule(esn).ClientKeys.TryGetValue(service, out var keys) ? keys.OrderBy(k => k).ToArray() : Array.Empty<string>();

        /// <summary>Each module accepts exactly the host's current key for every service, and nothing else.</summary>
        public void AssertModulesHoldExactlyHostKeys(IEnumerable<string> esns)
        {
            var keys = HostKeys();
            foreach (var esn in esns)
                foreach (var service in ModuleServices.All)
                    Assert.Equal(new[] { keys[service] }, ModuleKeys(esn, service));
        }

        public RollJournal? Journal => Host.Store.ReadDocument<RollJournal>(RollJournal.DocumentName);

        public void Dispose()
        {
            Host.Dispose();
            _kit.Dispose();
        }
    }
}
