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
        /// A question whose Yes changes trust or destroys state, asked of a person with No as the default answer (Enter
        /// says No). The engine asks it; the reporter decides, in one place, whether it can be asked: under -WhatIf the
        /// answer is No (the what-if line is written), and <see cref="QuestionKind"/> says when -Confirm:$false answers
        /// Yes without asking. Throws <see cref="HsmErrorIds.ConfirmationRequired"/> when nobody can be asked.
        /// </summary>
        ConfirmAnswer Confirm(ConfirmQuestion question);

        /// <summary>
        /// A secret (a backup's passphrase) asked of a person, masked, on the pipeline thread. Null when nobody can be asked
        /// (a non-interactive session, a runspace without a host) or nothing was typed: the operation then stops with the
        /// error that names the parameter. The answer is never written anywhere.
        /// </summary>
        System.Security.SecureString? AskSecret(SecretQuestion question);
    }

    /// <summary>A secret to ask a person for (see <see cref="IOperationReporter.AskSecret"/>).</summary>
    public sealed class SecretQuestion
    {
        public SecretQuestion(string caption, string message, string label, string parameter)
        {
            Caption = caption;
            Message = message;
            Label = label;
            Parameter = parameter;
        }

        /// <summary>The prompt's title.</summary>
        public string Caption { get; }
        /// <summary>What is asked for and why.</summary>
        public string Message { get; }
        /// <summary>The field's label.</summary>
        public string Label { get; }
        /// <summary>The parameter that gives the same secret without a prompt (-Passphrase).</summary>
        public string Parameter { get; }
    }

    /// <summary>The answer to a <see cref="ConfirmQuestion"/>.</summary>
    public enum ConfirmAnswer
    {
        No,
        Yes,
        /// <summary>Yes to this and every remaining question of the same kind in this command (offered only when asked).</summary>
        YesToAll,
        /// <summary>No to this and every remaining question of the same kind in this command (offered only when asked).</summary>
        NoToAll,
    }

    /// <summary>When a question may be answered without asking.</summary>
    public enum QuestionKind
    {
        /// <summary>The change itself (like ShouldProcess at ConfirmImpact High): -Confirm:$false, or $ConfirmPreference None, answers Yes.</summary>
        Change,
        /// <summary>A second confirmation after the change was accepted: only -Confirm:$false answers Yes.</summary>
        Confirmation,
        /// <summary>
        /// Only a person's answer is a Yes, whatever -Confirm says (first-contact fingerprints; forgetting a module, which only
        /// -Force skips).
        /// </summary>
        PersonOnly,
    }

    /// <summary>A question whose Yes changes trust or destroys state (see <see cref="IOperationReporter.Confirm"/>).</summary>
    public sealed class ConfirmQuestion
    {
        public ConfirmQuestion(QuestionKind kind, string caption, string query, string target, string action)
        {
            Kind = kind;
            Caption = caption;
            Query = query;
            Target = target;
            Action = action;
        }

        public QuestionKind Kind { get; }
        /// <summary>The prompt's title.</summary>
        public string Caption { get; }
        /// <summary>The question itself: what a Yes does, with everything the person must compare.</summary>
        public string Query { get; }
        /// <summary>What is changed (the -WhatIf line names it).</summary>
        public string Target { get; }
        /// <summary>The change (the -WhatIf line names it).</summary>
        public string Action { get; }
        /// <summary>Offer "Yes to All" and "No to All" besides Yes and No.</summary>
        public bool OfferToAll { get; set; }
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
