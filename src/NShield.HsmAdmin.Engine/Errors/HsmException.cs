using System;

namespace NShield.HsmAdmin
{
    /// <summary>
    /// Mirrors PowerShell's ErrorCategory without referencing PowerShell, so the engine stays host-neutral;
    /// the cmdlet layer maps each kind onto the ErrorCategory of the same name.
    /// </summary>
    public enum HsmErrorKind
    {
        InvalidArgument,
        InvalidData,
        InvalidOperation,
        ObjectNotFound,
        ResourceExists,
        SecurityError,
        AuthenticationError,
        ConnectionError,
        OperationTimeout,
        PermissionDenied,
        ResourceUnavailable,
        NotImplemented,
        DeviceError,
        OperationStopped,
    }

    /// <summary>
    /// Every failure the product reports. ErrorId is stable (it becomes the FullyQualifiedErrorId);
    /// the message says what happened and what to do next and never carries key material or passphrases.
    /// </summary>
    public class HsmException : Exception
    {
        public string ErrorId { get; }
        public HsmErrorKind Kind { get; }
        /// <summary>What the error is about: usually the module ESN, else a file path or service name.</summary>
        public object? Target { get; }
        /// <summary>
        /// What to do about it, when that takes more than the message's one line (the cmdlets put it in
        /// ErrorDetails.RecommendedAction, so the error stays short on screen and the advice is one property away).
        /// </summary>
        public string? RecommendedAction { get; set; }

        public HsmException(string errorId, HsmErrorKind kind, string message, object? target = null, Exception? inner = null)
            : base(message, inner)
        {
            ErrorId = errorId;
            Kind = kind;
            Target = target is IErrorTarget typed ? typed.ErrorTarget : target;
        }
    }

    /// <summary>A value that names itself differently as an error's target (an ESN is its text there, as PowerShell users read it).</summary>
    public interface IErrorTarget
    {
        object ErrorTarget { get; }
    }
}
