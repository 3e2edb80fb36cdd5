using System;
using System.Threading;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Where one module's job is now (issue 21: progress shows each module's current step, -Verbose says what each step
    /// does). <see cref="FleetExecutor"/> sets a per-job sink that flows with the job's async calls; the channels a job
    /// opens report their steps into it (<see cref="Drivers.StepReportingTransport"/>), so operations need no change.
    /// </summary>
    public static class OperationSteps
    {
        private static readonly AsyncLocal<Action<string>?> Sink = new AsyncLocal<Action<string>?>();

        /// <summary>Reports the steps of the calling async flow to <paramref name="report"/> until disposed.</summary>
        public static IDisposable Begin(Action<string> report)
        {
            var previous = Sink.Value;
            Sink.Value = report;
            return new Restore(previous);
        }

        /// <summary>One step of the current job (nothing when no job listens).</summary>
        public static void Report(string step) => Sink.Value?.Invoke(step);

        private sealed class Restore : IDisposable
        {
            private readonly Action<string>? _previous;
            public Restore(Action<string>? previous) => _previous = previous;
            public void Dispose() => Sink.Value = _previous;
        }
    }
}
