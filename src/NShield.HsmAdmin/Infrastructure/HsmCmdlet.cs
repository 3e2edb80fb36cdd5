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
                Engine(() => Store.Privilege.RequireAdministrator(Store.HostStoreLocation.Resolve(hostPath), MyInvocation.MyCommand.Name));
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
        /// The one place that asks a person for a secret the engine needs (<see cref="IOperationReporter.AskSecret"/>, on the
        /// pipeline thread): a masked prompt; null when the session cannot prompt or nothing was typed.
        /// </summary>
        internal System.Security.SecureString? AskSecret(SecretQuestion question) =>
            Host?.UI == null ? null : KeyPassphrases.Ask(Host.UI, question.Message, question.Label, question.Caption, question.Parameter);

        /// <summary>The store lock for a multi-step change; none under -WhatIf, which only reads.</summary>
        protected IDisposable? LockForChange(Store.HostStore store) =>
            IsWhatIf ? null : Engine(() => store.AcquireLock(store.DefaultLockTimeout));

        /// <summary>
        /// A host store with no registered module says so (issue 23, item 9), rather than printing nothing or a bare False,
        /// when the command was asked for every module (no -Esn).
        /// </summary>
        protected void WarnIfNoModules(Store.HostStore store, System.Collections.Generic.IReadOnlyCollection<string>? esns, string what)
        {
            if (esns != null && esns.Count > 0) return;
            if (store.GetRegisteredModules().Count == 0 && store.GetModules().Count == 0)
                WriteWarning($"The host store {store.Root} has no registered modules, so there is nothing to {what}. " +
                    "Register them with Register-HsmModule, or check -HostPath.");
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
                    Engine(() => marker.Wildcards ? Store.Esn.ParsePattern(text) : Store.Esn.Parse(text));
            }
        }

        /// <summary>ESNs as typed by the user, in canonical form (InvalidEsn stops the command).</summary>
        protected IReadOnlyList<string> ParseEsns(IEnumerable<string> esns) => esns.Select(e => Engine(() => Store.Esn.Parse(e))).ToList();

        /// <summary>
        /// The registered modules asked for (all when <paramref name="esns"/> is empty); an ESN that is not registered gets
        /// its own non-terminating error so the others go on.
        /// </summary>
        protected List<Drivers.ModuleAddress> SelectModules(IReadOnlyList<Drivers.ModuleAddress> attached, IReadOnlyCollection<string> esns)
        {
            if (esns.Count == 0) return attached.ToList();
            var selected = new List<Drivers.ModuleAddress>();
            foreach (var esn in esns.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var module = attached.FirstOrDefault(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase));
                if (module != null) selected.Add(module);
                else Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                    $"No module {esn} is registered with the host store {Store.HostStoreLocation.Resolve(CurrentHostPath)} (Register-HsmModule; " +
                    $"another host: -HostPath). Registered: {(attached.Count == 0 ? "none" : string.Join(", ", attached.Select(m => m.Esn)))}.",
                    esn));
            }
            return selected;
        }

        /// <summary>Stops the pipeline with a typed error (use for errors that concern the whole command).</summary>
        protected void Fail(HsmException ex) => ThrowTerminatingError(ToErrorRecord(ex));

        /// <summary>Reports one failed item (usually one module) and lets the rest go on.</summary>
        protected void Report(HsmException ex) => WriteError(ToErrorRecord(ex));

        /// <summary>Runs engine code that throws HsmException for the whole command, turning it into a terminating error.</summary>
        protected internal T Engine<T>(Func<T> body)
        {
            try { return body(); }
            catch (HsmException ex) { Fail(ex); throw; }
        }

        protected internal void Engine(Action body)
        {
            try { body(); }
            catch (HsmException ex) { Fail(ex); }
        }

        /// <summary>
        /// Runs an engine operation off the pipeline thread and, on this thread, writes and asks what it reports: the one
        /// place where errors become terminating ErrorRecords and Ctrl+C stops the operation (the token) and the pipeline.
        /// </summary>
        protected internal T RunOperation<T>(Func<IOperationReporter, CancellationToken, Task<T>> operation)
        {
            var reporter = new PipelineReporter(this, Cancellation);
            var running = Task.Run(() => operation(reporter, Cancellation));
            try { reporter.Pump(running); }
            catch (Exception) when (Cancellation.IsCancellationRequested)
            {
                OpenOperations.AfterStop(this, CurrentHostPath);
                throw new PipelineStoppedException();
            }
            T result;
            try { result = running.GetAwaiter().GetResult(); }
            catch (Exception ex) when (Cancellation.IsCancellationRequested && (ex is HsmException || ex is OperationCanceledException))
            {
                // PowerShell takes no error record from a stopping pipeline: the Cancelled error ends here, and what the stop
                // left open (a roll or restore) is said in one line with the command that finishes it.
                OpenOperations.AfterStop(this, CurrentHostPath);
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

        /// <summary>The host store the command works on now (fleet cmdlets: the host being processed).</summary>
        protected internal string? CurrentHostPath
        {
            get => _currentHostPath ?? ResolvedHostPath;
            set => _currentHostPath = value;
        }

        private string? _currentHostPath;

        protected internal void RunOperation(Func<IOperationReporter, CancellationToken, Task> operation) =>
            RunOperation<bool>(async (reporter, ct) =>
            {
                await operation(reporter, ct).ConfigureAwait(false);
                return true;
            });
    }

    /// <summary>Marks a cmdlet that creates keys or changes the host's configuration: HsmCmdlet checks the privilege first.</summary>
    internal interface IChangesHost { }
}
