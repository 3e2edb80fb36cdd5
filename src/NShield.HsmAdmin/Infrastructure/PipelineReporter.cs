using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// The cmdlet side of <see cref="IOperationReporter"/>: only PowerShell's pipeline thread may call WriteObject,
    /// WriteError, ShouldProcess and friends, so a call from an engine thread is queued and the pipeline thread runs it
    /// while it waits for the operation (<see cref="Pump"/>). Questions block the engine thread until answered.
    /// </summary>
    internal sealed class PipelineReporter : IOperationReporter
    {
        private readonly HsmCmdlet _cmdlet;
        private readonly int _pipelineThread = Environment.CurrentManagedThreadId;
        private readonly BlockingCollection<Action> _queue = new BlockingCollection<Action>();
        private readonly CancellationToken _stopping;
        private readonly List<object> _results = new List<object>();

        public PipelineReporter(HsmCmdlet cmdlet, CancellationToken stopping)
        {
            _cmdlet = cmdlet;
            _stopping = stopping;
        }

        public void Progress(OperationProgress progress) => Post(() => _cmdlet.WriteProgress(ToRecord(progress)));
        public void Warning(string message) => Post(() => _cmdlet.WriteWarning(message));
        public void Verbose(string message) => Post(() => _cmdlet.WriteVerbose(message));
        public void Error(HsmException error) => Post(() => _cmdlet.WriteError(HsmCmdlet.ToErrorRecord(error)));
        /// <summary>Kept until the operation ends, then written sorted by ESN and service (<see cref="WriteResults"/>),
        /// not in completion order.</summary>
        public void Result(object result)
        {
            lock (_results) _results.Add(result);
        }

        /// <summary>Writes the results the operation reported, sorted by ESN, then service, then the order they came in.</summary>
        public void WriteResults()
        {
            List<object> results;
            lock (_results)
            {
                results = _results.ToList();
                _results.Clear();
            }
            foreach (var result in results.Select((r, i) => (r, i)).OrderBy(x => Key(x.r, "Esn"), StringComparer.OrdinalIgnoreCase)
                         .ThenBy(x => ServiceOrder(Key(x.r, "Service"))).ThenBy(x => x.i))
                _cmdlet.WriteObject(result.r);
        }

        private static string Key(object o, string property) =>
            o.GetType().GetProperty(property)?.GetValue(o) as string ?? "";

        private static int ServiceOrder(string service)
        {
            var i = ModuleServices.All.ToList().IndexOf(service);
            return i < 0 ? int.MaxValue : i;
        }
        public bool ShouldProcess(string target, string action) => Ask(() => _cmdlet.ShouldProcess(target, action));
        public ConfirmAnswer Confirm(ConfirmQuestion question) => Ask(() => _cmdlet.AskPerson(question));
        public System.Security.SecureString? AskSecret(SecretQuestion question) => Ask(() => _cmdlet.AskSecret(question));

        /// <summary>
        /// Runs the queued calls on the pipeline thread until <paramref name="operation"/> ends. On Ctrl+C it stops pumping
        /// at once and gives the operation <see cref="FleetExecutor.StopGrace"/> to leave its journal consistent.
        /// </summary>
        public void Pump(Task operation)
        {
            operation.ContinueWith(_ => _queue.CompleteAdding(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            try
            {
                foreach (var action in _queue.GetConsumingEnumerable(_stopping))
                    action();
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // The operation ends in Cancelled (a faulted task): waiting must not throw that instead of the stop.
                try { operation.Wait(FleetExecutor.StopGrace + FleetExecutor.StopGrace); }
                catch (AggregateException) { }
                throw new PipelineStoppedException();
            }
        }

        private void Post(Action action)
        {
            if (Environment.CurrentManagedThreadId == _pipelineThread) action();
            else if (!_queue.IsAddingCompleted) _queue.TryAdd(action);
        }

        private T Ask<T>(Func<T> question)
        {
            if (Environment.CurrentManagedThreadId == _pipelineThread) return question();
            var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _queue.Add(() =>
            {
                try { answer.SetResult(question()); }
                catch (Exception ex) { answer.SetException(ex); }
            });
            try { answer.Task.Wait(_stopping); }
            catch (AggregateException ex) when (ex.InnerExceptions.Count == 1)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException!).Throw();
            }
            return answer.Task.Result;
        }

        private static ProgressRecord ToRecord(OperationProgress p) => new ProgressRecord(p.Id, p.Activity, p.Status)
        {
            PercentComplete = p.PercentComplete,
            ParentActivityId = p.ParentId,
            RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
    }
}
