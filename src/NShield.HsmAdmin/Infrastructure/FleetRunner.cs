using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Runs one async job per module with at most ThrottleLimit in flight, and marshals everything the
    /// jobs want to say (objects, errors, warnings, verbose, progress) back to the pipeline thread, the
    /// only thread allowed to call WriteObject and friends. A failing module becomes one non-terminating
    /// error; the others go on.
    /// </summary>
    internal sealed class FleetRunner
    {
        private readonly Cmdlet _cmdlet;
        // One queue per Run: a finished run has completed its queue.
        private BlockingCollection<Action> _toPipeline = new BlockingCollection<Action>();

        public FleetRunner(Cmdlet cmdlet) { _cmdlet = cmdlet; }

        public void WriteObject(object value) => _toPipeline.Add(() => _cmdlet.WriteObject(value));
        public void WriteWarning(string text) => _toPipeline.Add(() => _cmdlet.WriteWarning(text));
        public void WriteVerbose(string text) => _toPipeline.Add(() => _cmdlet.WriteVerbose(text));
        public void WriteError(HsmException ex) => _toPipeline.Add(() => _cmdlet.WriteError(HsmCmdlet.ToErrorRecord(ex)));

        /// <summary>Asks something only the pipeline thread may ask (ShouldContinue) and waits for the answer.</summary>
        public Task<T> Ask<T>(Func<T> question)
        {
            var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _toPipeline.Add(() =>
            {
                try { answer.SetResult(question()); }
                catch (Exception ex) { answer.SetException(ex); }
            });
            return answer.Task;
        }

        public void Run<T>(IReadOnlyList<T> items, Func<T, string> describe, Func<T, CancellationToken, Task> work,
            int throttleLimit, string activity, CancellationToken cancellationToken)
        {
            if (items.Count == 0) return;
            _toPipeline = new BlockingCollection<Action>();
            // SSH.NET parks a thread per connection; without enough pool threads up front, a fleet of 16 waits
            // for the pool to grow one thread per half second.
            ThreadPool.GetMinThreads(out var workers, out var io);
            var wanted = Math.Min(items.Count, throttleLimit) * 2 + 4;
            if (workers < wanted) ThreadPool.SetMinThreads(wanted, io);
            int done = 0;
            var gate = new SemaphoreSlim(Math.Max(1, throttleLimit));
            var progress = new ProgressRecord(Math.Abs(activity.GetHashCode() % 10000) + 1, activity, $"0 of {items.Count} modules");

            async Task One(T item)
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    WriteVerbose($"{activity}: {describe(item)} started");
                    await work(item, cancellationToken).ConfigureAwait(false);
                }
                catch (HsmException ex) { WriteError(ex); }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { /* reported once below */ }
                catch (Exception ex)
                {
                    WriteError(new HsmException(HsmErrorIds.UnexpectedError, HsmErrorKind.InvalidOperation,
                        $"{activity} failed for {describe(item)}: {ex.GetType().Name}: {ex.Message}", describe(item), ex));
                }
                finally
                {
                    gate.Release();
                    var n = Interlocked.Increment(ref done);
                    _toPipeline.Add(() =>
                    {
                        progress.StatusDescription = $"{n} of {items.Count} modules ({describe(item)} finished)";
                        progress.PercentComplete = n * 100 / items.Count;
                        _cmdlet.WriteProgress(progress);
                    });
                }
            }

            // Task.Run: start the jobs off the pipeline thread so the loop below drains their output at once.
            var all = Task.Run(() => Task.WhenAll(items.Select(One)));
            all.ContinueWith(_ => _toPipeline.CompleteAdding(), TaskScheduler.Default);
            foreach (var action in _toPipeline.GetConsumingEnumerable())
                action();
            progress.RecordType = ProgressRecordType.Completed;
            _cmdlet.WriteProgress(progress);
            if (cancellationToken.IsCancellationRequested)
                throw new PipelineStoppedException();
        }
    }
}
