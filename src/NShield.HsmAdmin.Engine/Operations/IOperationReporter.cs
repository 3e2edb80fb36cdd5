using System;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The seam between an operation and whoever runs it (a cmdlet, the DSC resource through the cmdlets, a test).
    /// An operation decides everything itself and only tells the reporter what happened; it asks the reporter before
    /// each change it may be told not to make. Members may be called from any thread: an implementation that can
    /// only answer on one thread (PowerShell's pipeline thread) marshals the call there and blocks the caller.
    /// </summary>
    public interface IOperationReporter
    {
        /// <summary>Progress of a fleet step (Write-Progress).</summary>
        void Progress(OperationProgress progress);

        void Warning(string message);

        void Verbose(string message);

        /// <summary>One item (usually one module) failed; the operation goes on with the others.</summary>
        void Error(HsmException error);

        /// <summary>An object the operation produces (WriteObject).</summary>
        void Result(object result);

        /// <summary>May the operation make this change? (ShouldProcess: -WhatIf and -Confirm.)</summary>
        bool ShouldProcess(string target, string action);

        /// <summary>
        /// A second confirmation for something that cannot be undone (ShouldContinue). Throws ConfirmationRequired
        /// when nobody can be asked.
        /// </summary>
        bool ShouldContinue(string query, string caption);
    }

    /// <summary>One progress line of a fleet step.</summary>
    public sealed class OperationProgress
    {
        public OperationProgress(int id, string activity, string status, int percentComplete, bool completed, int parentId = -1)
        {
            ParentId = parentId;
            Id = id;
            Activity = activity;
            Status = status;
            PercentComplete = percentComplete;
            Completed = completed;
        }

        public int Id { get; }
        public string Activity { get; }
        public string Status { get; }
        public int PercentComplete { get; }
        public bool Completed { get; }
        /// <summary>The fleet record a module's record belongs under (-1: none).</summary>
        public int ParentId { get; }
    }
}
