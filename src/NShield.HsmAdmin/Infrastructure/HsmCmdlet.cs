using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Base of every cmdlet: the -HostPath parameter, cancellation wired to Ctrl+C, and the one place
    /// where engine errors become ErrorRecords with stable ids and categories.
    /// </summary>
    public abstract class HsmCmdlet : PSCmdlet
    {
        private readonly CancellationTokenSource _stopping = new CancellationTokenSource();

        /// <summary>
        /// The host store folder. Default: $env:NSHIELD_HSMADMIN_HOME, else the system location. Taken from piped objects'
        /// HostPath property too, so output of one host's command goes on to that host (Get-HsmModule -HostPath A | ...).
        /// </summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public virtual string? HostPath { get; set; }

        protected CancellationToken Cancellation => _stopping.Token;

        private readonly HashSet<string> _privilegeChecked = new HashSet<string>(StringComparer.Ordinal);

        /// <summary>
        /// The -HostPath value resolved against the current PowerShell location. A command that changes the host checks the
        /// privilege for each store it resolves (a piped HostPath is bound after BeginProcessing) before it uses it.
        /// </summary>
        protected string? ResolvedHostPath
        {
            get
            {
                var path = HostPath == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(HostPath);
                if (_privilegeChecked.Add(path ?? "")) RequirePrivilegeFor(path);
                return path;
            }
        }

        protected override void StopProcessing() => _stopping.Cancel();

        /// <summary>Commands that create keys or change configuration (IChangesHost) need root or Administrators, checked up front.</summary>
        protected override void BeginProcessing()
        {
            ValidateBoundEsns();
            _ = ResolvedHostPath; // checks the privilege for the command line's store (IChangesHost)
            base.BeginProcessing();
        }

        /// <summary>The privilege check for one host store; fleet cmdlets repeat it for each HostPath bound from the pipeline.</summary>
        protected void RequirePrivilegeFor(string? hostPath)
        {
            if (this is IChangesHost && !IsWhatIf)
                BindingCheck(() =>
                {
                    Store.Privilege.RequireAdministrator(Store.HostStoreLocation.Resolve(hostPath), MyInvocation.MyCommand.Name);
                    return true;
                });
        }

        /// <summary>-WhatIf (or $WhatIfPreference) is in effect: nothing may be written, not even the store's lock owner.</summary>
        protected bool IsWhatIf =>
            MyInvocation.BoundParameters.TryGetValue("WhatIf", out var bound)
                ? ((SwitchParameter)bound).IsPresent
                : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));

        /// <summary>-Confirm:$false was typed: a script that answered every question beforehand.</summary>
        internal bool ConfirmExplicitlyOff =>
            MyInvocation.BoundParameters.TryGetValue("Confirm", out var bound) && !((SwitchParameter)bound).IsPresent;

        private static readonly string[] AnswerLabels = { "&Yes", "Yes to &All", "&No", "No to A&ll" };

        /// <summary>
        /// The one place that asks a person a question whose Yes changes trust or destroys state (the engine's
        /// <see cref="IOperationReporter.Confirm"/>, on the pipeline thread): No is the default answer, so Enter says No.
        /// Under -WhatIf the answer is No and the what-if line is written; <see cref="QuestionKind"/> says when -Confirm:$false
        /// (or $ConfirmPreference None) answers Yes unasked. A host that cannot prompt gets ConfirmationRequired: nothing
        /// that needs a person's yes happens without one.
        /// </summary>
        internal ConfirmAnswer AskPerson(ConfirmQuestion question)
        {
            if (IsWhatIf)
            {
                ShouldProcess(question.Target, question.Action); // writes the what-if line, answers false
                return ConfirmAnswer.No;
            }
            if (question.Kind != QuestionKind.PersonOnly && ConfirmExplicitlyOff) return ConfirmAnswer.Yes;
            if (question.Kind == QuestionKind.Change && !MyInvocation.BoundParameters.ContainsKey("Confirm")
                && LanguagePrimitives.TryConvertTo<ConfirmImpact>(GetVariableValue("ConfirmPreference"), out var preference)
                && preference == ConfirmImpact.None)
                return ConfirmAnswer.Yes;

            var labels = question.OfferToAll ? AnswerLabels : new[] { AnswerLabels[0], AnswerLabels[2] };
            var choices = new System.Collections.ObjectModel.Collection<System.Management.Automation.Host.ChoiceDescription>(
                labels.Select(l => new System.Management.Automation.Host.ChoiceDescription(l, l switch
                {
                    "&Yes" => "Yes: " + question.Action + ".",
                    "Yes to &All" => "Yes to this and every remaining question like it in this command.",
                    "&No" => "No: nothing is changed (the default).",
                    _ => "No to this and every remaining question like it in this command.",
                })).ToList());
            var no = Array.IndexOf(labels, "&No");
            int answer;
            try
            {
                var ui = Host?.UI ?? throw new NotImplementedException("no host user interface");
                answer = ui.PromptForChoice(question.Caption, question.Query, choices, no);
            }
            // Non-interactive sessions, hosts without a UI, and a console whose stdin is at end of file (pwsh < /dev/null)
            // cannot answer: that is never a yes.
            catch (Exception ex) when (!(ex is PipelineStoppedException))
            {
                throw new HsmException(HsmErrorIds.ConfirmationRequired, HsmErrorKind.InvalidOperation,
                    $"{question.Caption}: this session cannot ask for confirmation ({ex.GetType().Name}), so the answer is No.", question.Target);
            }
            return labels[answer < 0 || answer >= labels.Length ? no : answer] switch
            {
                "&Yes" => ConfirmAnswer.Yes,
                "Yes to &All" => ConfirmAnswer.YesToAll,
                "No to A&ll" => ConfirmAnswer.NoToAll,
                _ => ConfirmAnswer.No,
            };
        }

        /// <summary>
        /// The one place that asks a person for a secret (the engine's <see cref="IOperationReporter.AskSecret"/>, on the
        /// pipeline thread): a masked prompt through the host; null when the host cannot read input (pwsh -NonInteractive,
        /// the default host of a bare runspace, a service) or nothing was typed.
        /// </summary>
        internal System.Security.SecureString? AskSecret(SecretQuestion question)
        {
            var ui = Host?.UI;
            if (ui == null) return null;
            var field = new System.Management.Automation.Host.FieldDescription(question.Parameter) { Label = question.Label };
            field.SetParameterType(typeof(System.Security.SecureString));
            try
            {
                var answer = ui.Prompt(question.Caption, question.Message,
                    new System.Collections.ObjectModel.Collection<System.Management.Automation.Host.FieldDescription> { field });
                return answer != null && answer.TryGetValue(question.Parameter, out var value)
                    ? value?.BaseObject as System.Security.SecureString : null;
            }
            catch (PSInvalidOperationException) { return null; }
            catch (System.Management.Automation.Host.HostException) { return null; }
            catch (NotImplementedException) { return null; }
        }

        protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

        public static ErrorRecord ToErrorRecord(HsmException ex) =>
            new ErrorRecord(ex, ex.ErrorId, ToCategory(ex.Kind), ex.Target)
            {
                ErrorDetails = ex.RecommendedAction == null ? null : new ErrorDetails(ex.Message) { RecommendedAction = ex.RecommendedAction },
            };

        internal static ErrorCategory ToCategory(HsmErrorKind kind) => kind switch
        {
            HsmErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
            HsmErrorKind.InvalidData => ErrorCategory.InvalidData,
            HsmErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
            HsmErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
            HsmErrorKind.ResourceExists => ErrorCategory.ResourceExists,
            HsmErrorKind.SecurityError => ErrorCategory.SecurityError,
            HsmErrorKind.AuthenticationError => ErrorCategory.AuthenticationError,
            HsmErrorKind.ConnectionError => ErrorCategory.ConnectionError,
            HsmErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
            HsmErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
            HsmErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
            HsmErrorKind.NotImplemented => ErrorCategory.NotImplemented,
            HsmErrorKind.DeviceError => ErrorCategory.DeviceError,
            HsmErrorKind.OperationStopped => ErrorCategory.OperationStopped,
            _ => ErrorCategory.NotSpecified,
        };

        /// <summary>
        /// Checks every bound parameter marked <see cref="EsnParameterAttribute"/> (the one place -Esn values are validated):
        /// a malformed ESN, or a pattern where none is allowed, stops the command with InvalidEsn before anything is read or
        /// changed. Called at BeginProcessing for the command line and again for each piped record.
        /// </summary>
        protected void ValidateBoundEsns()
        {
            foreach (var bound in MyInvocation.BoundParameters)
            {
                var property = GetType().GetProperties().FirstOrDefault(p => p.Name == bound.Key);
                var marker = property == null ? null
                    : (EsnParameterAttribute?)Attribute.GetCustomAttribute(property, typeof(EsnParameterAttribute), true);
                if (marker == null || bound.Value == null) continue;
                var values = bound.Value is string one
                    ? new[] { one }
                    : ((System.Collections.IEnumerable)bound.Value).Cast<object?>().Select(v => v?.ToString());
                foreach (var text in values)
                    BindingCheck(() => marker.Wildcards ? Modules.Esn.ParsePattern(text) : Modules.Esn.Parse(text));
            }
        }

        /// <summary>ESNs as typed by the user, in canonical form (InvalidEsn stops the command).</summary>
        protected IReadOnlyList<string> ParseEsns(IEnumerable<string> esns) =>
            esns.Select(e => BindingCheck(() => Modules.Esn.Parse(e).Value)).ToList();

        /// <summary>Stops the pipeline with a typed error (use for errors that concern the whole command).</summary>
        protected void Fail(HsmException ex) => ThrowTerminatingError(ToErrorRecord(ex));


        /// <summary>A check made while binding (an ESN's form, the privilege): its HsmException stops the command.</summary>
        private T BindingCheck<T>(Func<T> check)
        {
            try { return check(); }
            catch (HsmException ex) { Fail(ex); throw; }
        }

        /// <summary>
        /// Runs an engine operation off the pipeline thread (a store read: on it) and, on this thread, writes and asks what it
        /// reports: the one place where errors become terminating ErrorRecords and Ctrl+C stops the operation (the token) and
        /// the pipeline.
        /// </summary>
        private T RunOperation<T>(Func<IOperationReporter, CancellationToken, Task<T>> operation, bool onThisThread)
        {
            var reporter = new PipelineReporter(this, Cancellation);
            var running = onThisThread ? RunHere(operation, reporter) : Task.Run(() => operation(reporter, Cancellation));
            try { reporter.Pump(running); } // also when it has ended: what it queued from other threads is written here
            catch (Exception) when (Cancellation.IsCancellationRequested)
            {
                SayWhatStopLeftOpen();
                throw new PipelineStoppedException();
            }
            T result;
            try { result = running.GetAwaiter().GetResult(); }
            catch (Exception ex) when (Cancellation.IsCancellationRequested && (ex is HsmException || ex is OperationCanceledException))
            {
                // PowerShell takes no error record from a stopping pipeline: the Cancelled error ends here, and what the stop
                // left open (a roll or restore) is said in one line with the command that finishes it.
                SayWhatStopLeftOpen();
                throw new PipelineStoppedException();
            }
            catch (HsmException ex)
            {
                reporter.WriteResults();
                Fail(ex);
                throw;
            }
            reporter.WriteResults();
            return result;
        }

        /// <summary>A store read (<see cref="IStoreReadOperation{TRequest}"/>) on the pipeline thread: it never waits.</summary>
        private Task<T> RunHere<T>(Func<IOperationReporter, CancellationToken, Task<T>> operation, PipelineReporter reporter)
        {
            try { return operation(reporter, Cancellation); }
            catch (Exception ex) { return Task.FromException<T>(ex); }
        }

        /// <summary>
        /// The one way from a cmdlet to the engine: runs <paramref name="operation"/> on <paramref name="request"/> (its
        /// HostPath, when not set, is the host the command works on now) and writes what it reports.
        /// </summary>
        protected internal void Run<TRequest>(IHsmOperation<TRequest> operation, TRequest request)
        {
            if (request is HostRequest onHost)
            {
                if (onHost.HostPath == null) onHost.HostPath = CurrentHostPath;
                if (this is HsmModuleCmdlet talksToModules) onHost.ModuleTimeoutSeconds = talksToModules.Timeout;
            }
            RunOperation((reporter, ct) => operation.RunAsync(request, reporter, ct),
                onThisThread: operation is IStoreReadOperation<TRequest> read && read.OnlyReadsStore(request));
        }

        /// <summary>
        /// The one line a command stopped with Ctrl+C leaves: what is open (a roll or restore) and the exact command that
        /// finishes or reverts it. Written to the host directly, since a stopping pipeline takes no more warnings.
        /// </summary>
        private void SayWhatStopLeftOpen()
        {
            try
            {
                var location = Store.HostStoreLocation.Resolve(CurrentHostPath);
                if (!System.IO.Directory.Exists(location)) return;
                var open = OpenOperations.Describe(Store.HostStore.Open(location));
                if (open != null) Host?.UI?.WriteWarningLine("Stopped. " + open);
            }
            catch (Exception ex) when (ex is HsmException || ex is System.IO.IOException || ex is UnauthorizedAccessException) { }
        }

        /// <summary>What the cmdlet writes for one result of its operation (by default the result itself).</summary>
        protected internal virtual object Output(object result) => result;

        /// <summary>The host store the command works on now (fleet cmdlets: the host being processed).</summary>
        protected internal string? CurrentHostPath
        {
            get => _currentHostPath ?? ResolvedHostPath;
            set => _currentHostPath = value;
        }

        private string? _currentHostPath;

        private void RunOperation(Func<IOperationReporter, CancellationToken, Task> operation, bool onThisThread) =>
            RunOperation<bool>(async (reporter, ct) =>
            {
                await operation(reporter, ct).ConfigureAwait(false);
                return true;
            }, onThisThread);
    }

    /// <summary>Marks a cmdlet that creates keys or changes the host's configuration: HsmCmdlet checks the privilege first.</summary>
    internal interface IChangesHost { }
}
