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

    /// <summary>A request about one host store: its folder (null: $env:NSHIELD_HSMADMIN_HOME, else the system location).</summary>
    public class HostRequest
    {
        public string? HostPath { get; set; }
    }
}
