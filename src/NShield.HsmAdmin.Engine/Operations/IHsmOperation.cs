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
    /// An operation that, for some requests, only reads the host store (reads take no lock): it neither waits nor asks, so a
    /// cmdlet runs such a request on its own thread, without the thread-pool hop that cost a 3 ms command a quarter of its
    /// time (issue 20). Every other request runs on the thread pool, where Ctrl+C ends the command's wait at once.
    /// </summary>
    public interface IStoreReadOperation<in TRequest> : IHsmOperation<TRequest>
    {
        /// <summary>Whether this request only reads the store (no module, no lock, no question, no process).</summary>
        bool OnlyReadsStore(TRequest request);
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

        /// <summary>
        /// For embedding the engine (tests; another protocol's adapter): parts of the host given instead of those the store's
        /// settings configure. Null (every cmdlet): the store's.
        /// </summary>
        public HostOverrides? Overrides { get; set; }

        /// <summary>The engine's host object for <paramref name="store"/>, with this request's module timeout (and overrides).</summary>
        public HsmHost OpenHost(Store.HostStore store, System.Security.SecureString? keyPassphrase = null) =>
            new HsmHost(store, keyPassphrase, hardserver: Overrides?.Hardserver, moduleTimeout: System.TimeSpan.FromSeconds(ModuleTimeoutSeconds));
    }

    /// <summary>
    /// For embedding the engine (tests; another protocol's adapter): what an operation's host uses instead of what the host
    /// store's settings configure, given on the request (<see cref="HostRequest.Overrides"/>). Immutable. The cmdlets never
    /// give one: a production host always runs with its store's hardserver settings and the system clock.
    /// </summary>
    public sealed class HostOverrides
    {
        /// <param name="hardserver">The hardserver to report on and restart (null: the platform's, from the store's settings).</param>
        /// <param name="clock">This host's UTC clock, as Set-HsmModuleTime reads it (null: the system clock).</param>
        public HostOverrides(Hardserver.IHardserver? hardserver = null, System.Func<System.DateTimeOffset>? clock = null)
        {
            Hardserver = hardserver;
            Clock = clock;
        }

        public Hardserver.IHardserver? Hardserver { get; }
        public System.Func<System.DateTimeOffset>? Clock { get; }
    }
}
