using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Update-HsmFirmware: the package file (a full path) for the chosen modules.</summary>
    public sealed class FirmwareUpdateRequest : ModulesRequest
    {
        public string Path { get; set; } = "";
    }

    /// <summary>Set-HsmMinimumVsn: the new minimum VSN for the chosen modules.</summary>
    public sealed class MinimumVsnRequest : ModulesRequest
    {
        public int Vsn { get; set; }
    }

    /// <summary>Export-HsmTrustReport: where the report goes (a full path; the signature beside it).</summary>
    public sealed class ExportTrustReportRequest : ModulesRequest
    {
        public string Path { get; set; } = "";
        public bool Force { get; set; }
    }

    /// <summary>
    /// Update-HsmFirmware (the vendor's hsmadmin upgrade): the package is read and checked first, then sent to each module
    /// over its updater channel.
    /// </summary>
    public sealed class UpdateFirmwareOperation : IHsmOperation<FirmwareUpdateRequest>
    {
        public async Task RunAsync(FirmwareUpdateRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var package = FirmwarePackageFile.Read(request.Path);
            using (var opened = HostModules.Open(request, new[] { ModuleServices.Updater }, "update", reporter))
                await new FirmwareOperation(opened.Host).UpdateAllAsync(opened.Modules, package, request.ThrottleLimit, reporter, cancellationToken)
                    .ConfigureAwait(false);
        }
    }

    /// <summary>Set-HsmMinimumVsn (the vendor's hsmadmin setminvsn): never above the installed firmware's VSN, never down.</summary>
    public sealed class SetMinimumVsnOperation : IHsmOperation<MinimumVsnRequest>
    {
        public async Task RunAsync(MinimumVsnRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var opened = HostModules.Open(request, new[] { ModuleServices.Updater }, "set the minimum VSN of", reporter))
                await new FirmwareOperation(opened.Host)
                    .SetMinimumVsnAllAsync(opened.Modules, request.Vsn, request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Export-HsmTrustReport: checks each module's server keys against the pins, certificates and vendor chain, and writes
    /// the report signed (SSHSIG) with the host's sshadmin key. Every service is opened with the host's own key for it.
    /// </summary>
    public sealed class ExportTrustReportOperation : IHsmOperation<ExportTrustReportRequest>
    {
        public async Task RunAsync(ExportTrustReportRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var opened = HostModules.Open(request, ModuleServices.All.ToList(), "report on", reporter))
            {
                var report = await new TrustReportOperation(opened.Host).ExportAsync(opened.Modules, request, reporter, cancellationToken)
                    .ConfigureAwait(false);
                if (report != null) reporter.Result(report);
            }
        }
    }
}
