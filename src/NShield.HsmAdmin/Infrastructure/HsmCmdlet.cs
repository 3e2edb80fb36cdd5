using System;
using System.Management.Automation;
using System.Threading;

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
        public string? HostPath { get; set; }

        protected CancellationToken Cancellation => _stopping.Token;

        /// <summary>The -HostPath value resolved against the current PowerShell location.</summary>
        protected string? ResolvedHostPath =>
            HostPath == null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(HostPath);

        protected override void StopProcessing() => _stopping.Cancel();

        /// <summary>Commands that create keys or change configuration (IChangesHost) need root or Administrators, checked up front.</summary>
        protected override void BeginProcessing()
        {
            if (this is IChangesHost && !IsWhatIf)
                Engine(() => Store.Privilege.RequireAdministrator(Store.HostStoreLocation.Resolve(ResolvedHostPath), MyInvocation.MyCommand.Name));
            base.BeginProcessing();
        }

        /// <summary>-WhatIf (or $WhatIfPreference) is in effect: nothing may be written, not even the store's lock owner.</summary>
        protected bool IsWhatIf =>
            MyInvocation.BoundParameters.TryGetValue("WhatIf", out var bound)
                ? ((SwitchParameter)bound).IsPresent
                : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));

        /// <summary>The store lock for a multi-step change; none under -WhatIf, which only reads.</summary>
        protected IDisposable? LockForChange(Store.HostStore store) =>
            IsWhatIf ? null : Engine(() => store.AcquireLock(store.DefaultLockTimeout));

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
    }

    /// <summary>Marks a cmdlet that creates keys or changes the host's configuration: HsmCmdlet checks the privilege first.</summary>
    internal interface IChangesHost { }
}
