using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Update-HsmFirmware: the vendor's `hsmadmin upgrade`: sends a firmware package over each module's updater channel;
    /// the module checks the vendor's signature and its minimum VSN, installs the package and restarts.
    /// </summary>
    [Cmdlet(VerbsData.Update, "HsmFirmware", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmFirmwareUpdateResult))]
    public sealed class UpdateHsmFirmwareCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>The firmware package file (from the vendor; the simulator's New-HsmSimulatedFirmwarePackage makes test ones).</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>The passphrase of this host's client keys, if their protection includes P (asked for when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var services = new[] { ModuleServices.Updater };
            var package = Engine(() => FirmwarePackageFile.Read(ResolvePath(Path)));
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "update");
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var modules = SelectModules(Engine(() => host.Attached()), esns);
                var firmware = new FirmwareOperation(host);
                RunOperation((reporter, ct) => firmware.UpdateAllAsync(modules, package, ThrottleLimit, reporter, ct));
            }
        }
    }

    /// <summary>
    /// Set-HsmMinimumVsn: the vendor's `hsmadmin setminvsn`: raises the lowest firmware VSN each module accepts; never above
    /// the installed firmware's VSN, never down.
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "HsmMinimumVsn", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmMinimumVsnResult))]
    public sealed class SetHsmMinimumVsnCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>The new minimum VSN: at least the current minimum, at most the installed firmware's VSN.</summary>
        [Parameter(Mandatory = true)]
        [ValidateRange(0, int.MaxValue)]
        public int Vsn { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (asked for when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override bool AllModulesWithoutInput => false;

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var services = new[] { ModuleServices.Updater };
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "set the minimum VSN of");
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var modules = SelectModules(Engine(() => host.Attached()), esns);
                var firmware = new FirmwareOperation(host);
                RunOperation((reporter, ct) => firmware.SetMinimumVsnAllAsync(modules, Vsn, ThrottleLimit, reporter, ct));
            }
        }
    }
}
