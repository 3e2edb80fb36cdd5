using System.Threading;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The one shape of every engine operation a cmdlet runs: a request in; results, warnings, errors, progress and
    /// questions out through the reporter. An operation keeps no state between runs (one instance may run many
    /// requests); an error that concerns the whole command is thrown as an <see cref="HsmException"/>, one that concerns
    /// one item (usually one module) goes to <see cref="IOperationReporter.Error"/> and the rest go on.
    /// </summary>
    /// <typeparam name="TRequest">What the command was asked, bound and resolved by the cmdlet (paths are full paths).</typeparam>
    public interface IHsmOperation<in TRequest>
    {
        Task RunAsync(TRequest request, IOperationReporter reporter, CancellationToken cancellationToken);
    }

    /// <summary>
    /// A request about one host store: its folder (null: $env:NSHIELD_HSMADMIN_HOME, else the system location), and, for a
    /// command that talks to modules, how long each module may take to connect and to answer each command (-Timeout).
    /// </summary>
    public class HostRequest
    {
        public string? HostPath { get; set; }
        /// <summary>Seconds each module may take to connect and to answer each command (3 to 120, default 30).</summary>
        public int ModuleTimeoutSeconds { get; set; } = HsmHost.DefaultModuleTimeoutSeconds;

        /// <summary>The engine's host object for <paramref name="store"/>, with this request's module timeout.</summary>
        public HsmHost OpenHost(Store.HostStore store, System.Security.SecureString? keyPassphrase = null) =>
            new HsmHost(store, keyPassphrase, moduleTimeout: System.TimeSpan.FromSeconds(ModuleTimeoutSeconds));
    }
}
