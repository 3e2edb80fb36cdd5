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

        /// <summary>The host store folder. Default: $env:NSHIELD_HSMADMIN_HOME, else the system location.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public virtual string? HostPath { get; set; }

        protected CancellationToken Cancellation => _stopping.Token;

        /// <summary>The -HostPath value resolved against the current PowerShell location.</summary>
        protected string? ResolvedHostPath =>
            HostPath == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(HostPath);

        protected override void StopProcessing() => _stopping.Cancel();

        /// <summary>Commands that create keys or change configuration (IChangesHost) need root or Administrators, checked up front.</summary>
        protected override void BeginProcessing()
        {
            RequirePrivilegeFor(ResolvedHostPath);
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
                ErrorDetails = null,
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
                    $"No module {esn} is registered with this host (Register-HsmModule). " +
                    $"Registered: {(attached.Count == 0 ? "none" : string.Join(", ", attached.Select(m => m.Esn)))}.", esn));
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
            reporter.Pump(running);
            try { return running.GetAwaiter().GetResult(); }
            catch (Exception ex) when (Cancellation.IsCancellationRequested && (ex is HsmException || ex is OperationCanceledException))
            {
                // PowerShell takes no error record from a stopping pipeline: the Cancelled error ends here.
                throw new PipelineStoppedException();
            }
            catch (HsmException ex) { Fail(ex); throw; }
        }

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
