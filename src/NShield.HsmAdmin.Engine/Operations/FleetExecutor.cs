using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Runs one async job per module with at most a throttle limit in flight. A failing module becomes one error on the
    /// reporter and the others go on. It never changes process-wide settings (thread pool): the transports are async.
    /// On cancellation it stops starting jobs, gives the running ones a short grace to unwind (their journal writes are
    /// atomic), then throws Cancelled even if a job ignores the token, so a stop never waits on a module.
    /// </summary>
    public static class FleetExecutor
    {
        /// <summary>How long running jobs may take to unwind after a stop before the executor returns without them.</summary>
        public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);

        /// <summary>Progress ids of the per-module child records start here (the fleet records use 1 to 10000).</summary>
        private const int ChildProgressBase = 100000;

        public static async Task RunAsync<T>(
            IReadOnlyList<T> items,
            Func<T, string> describe,
            Func<T, CancellationToken, Task> work,
            int throttleLimit,
            string activity,
            IOperationReporter reporter,
            CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancelledAsHsm(activity);
            if (items.Count == 0) return;
            int done = 0;
            var gate = new SemaphoreSlim(Math.Max(1, throttleLimit));
            var progressId = Math.Abs(activity.GetHashCode() % 10000) + 1;
            // "0 of N" before any module is worked on, so a slow fleet never shows a blank screen (issue 21).
            reporter.Progress(new OperationProgress(progressId, activity, $"0 of {items.Count} modules", 0, completed: false));
            var index = new Dictionary<T, int>();
            for (int i = 0; i < items.Count; i++) index[items[i]] = i;

            async Task One(T item)
            {
                try { await gate.WaitAsync(cancellationToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                var finished = false;
                var name = describe(item);
                // One child record per module, showing its current step (the channels it opens report them).
                var childId = ChildProgressBase + (progressId % 1000) * 1000 + index[item] % 1000;
                void Step(string step)
                {
                    reporter.Verbose($"{activity}: module {name}: {step}");
                    if (!cancellationToken.IsCancellationRequested)
                        reporter.Progress(new OperationProgress(childId, $"Module {name}", step, -1, completed: false, parentId: progressId));
                }
                try
                {
                    // No Task.Yield here: each job's synchronous start (the host opening its client keys once, cached) runs
                    // before the next job's, so parallel jobs never decrypt the same key side by side.
                    Step("started");
                    using (OperationSteps.Begin(Step))
                        await work(item, cancellationToken).ConfigureAwait(false);
                    finished = true;
                    reporter.Verbose($"{activity}: module {name}: done");
                }
                catch (HsmException ex) when (cancellationToken.IsCancellationRequested && ex.Kind == HsmErrorKind.SecurityError)
                {
                    // A changed server key (a possible man in the middle) is never hidden behind "Cancelled".
                    reporter.Error(ex);
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    // Reported once, as Cancelled, by the caller of RunAsync.
                }
                catch (HsmException ex)
                {
                    finished = true;
                    reporter.Error(ex);
                }
                catch (Exception ex)
                {
                    finished = true;
                    reporter.Error(new HsmException(HsmErrorIds.UnexpectedError, HsmErrorKind.InvalidOperation,
                        $"{activity} failed for {describe(item)}: {ex.GetType().Name}: {ex.Message}", describe(item), ex));
                }
                finally
                {
                    // A job the stop cut short is not "finished" (the Cancelled message counts the others).
                    var n = finished ? Interlocked.Increment(ref done) : Volatile.Read(ref done);
                    // Reported before the next job may start: a stop asked for on this progress starts nothing more.
                    try
                    {
                        if (!cancellationToken.IsCancellationRequested)
                        {
                            reporter.Progress(new OperationProgress(childId, $"Module {name}", "finished", 100, completed: true,
                                parentId: progressId));
                            reporter.Progress(new OperationProgress(progressId, activity,
                                $"{n} of {items.Count} modules ({name} finished)", n * 100 / items.Count, completed: false));
                        }
                    }
                    finally { gate.Release(); }
                }
            }

            // Task.Run: the jobs start off the caller's thread, so a job that blocks before its first await cannot hold
            // up the others or the caller.
            var all = Task.Run(() => Task.WhenAll(items.Select(One)));
            var stopped = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(() => stopped.TrySetResult(true)))
            {
                if (await Task.WhenAny(all, stopped.Task).ConfigureAwait(false) != all)
                    await Task.WhenAny(all, Task.Delay(StopGrace)).ConfigureAwait(false);
            }
            if (!cancellationToken.IsCancellationRequested)
                reporter.Progress(new OperationProgress(progressId, activity, $"{items.Count} of {items.Count} modules", 100, completed: true));
            cancellationToken.ThrowIfCancelledAsHsm(activity, $"{Volatile.Read(ref done)} of {items.Count} modules had finished");
        }

        /// <summary>
        /// <see cref="RunAsync"/> for jobs that each return results: what every job returned, gathered in the order the
        /// jobs finished (callers sort). A failing job is reported and contributes nothing.
        /// </summary>
        public static async Task<List<TResult>> CollectAsync<T, TResult>(
            IReadOnlyList<T> items,
            Func<T, string> describe,
            Func<T, CancellationToken, Task<IEnumerable<TResult>>> work,
            int throttleLimit,
            string activity,
            IOperationReporter reporter,
            CancellationToken cancellationToken)
        {
            var gathered = new List<TResult>();
            await RunAsync(items, describe, async (item, ct) =>
            {
                var results = await work(item, ct).ConfigureAwait(false);
                lock (gathered) gathered.AddRange(results);
            }, throttleLimit, activity, reporter, cancellationToken).ConfigureAwait(false);
            return gathered;
        }

        /// <summary>Cancelled (OperationStopped) once the token is cancelled.</summary>
        public static void ThrowIfCancelledAsHsm(this CancellationToken cancellationToken, string activity, string? detail = null)
        {
            if (!cancellationToken.IsCancellationRequested) return;
            throw new HsmException(HsmErrorIds.Cancelled, HsmErrorKind.OperationStopped,
                $"Stopped while {Lower(activity)}{(detail == null ? "" : $" ({detail})")}. " +
                "Run the command again: an interrupted key roll or restore is completed " +
                "(or reverted with Update-HsmSshKey -Revert) from its journal.",
                null);
        }

        private static string Lower(string activity) =>
            activity.Length == 0 ? activity : char.ToLowerInvariant(activity[0]) + activity.Substring(1);
    }
}
