using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Test-HsmConnection: per module and service, the pin matches and the host's key authenticates.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "HsmConnection", DefaultParameterSetName = "Default")]
    [OutputType(typeof(bool))]
    [OutputType(typeof(HsmConnectionTestResult), ParameterSetName = new[] { "Detailed" })]
    public sealed class TestHsmConnectionCommand : HsmFleetCmdlet
    {
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>One object per module and service instead of a single $true/$false.</summary>
        [Parameter(ParameterSetName = "Detailed")]
        public SwitchParameter Detailed { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns)
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).ToArray() ?? ModuleServices.All.ToArray();
            var store = Engine(() => HostStore.OpenExisting(hostPath));
            WarnIfNoModules(store, esns, "test");
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var modules = SelectModules(Engine(() => host.Attached()), esns);
                var inspection = new ModuleInspection(host);
                var results = RunOperation((reporter, ct) => inspection.TestAllAsync(modules, services, ThrottleLimit, reporter, ct));
                var open = OpenOperations.Show(this, store, modules.Select(m => m.Esn));
                foreach (var r in results)
                {
                    r.HostPath = store.Root;
                    if (open != null && open.PendingModules.Contains(r.Esn, System.StringComparer.OrdinalIgnoreCase)) r.OpenOperation = open.Summary;
                }
                if (Detailed) foreach (var r in results) WriteObject(r);
                else WriteObject(ModuleInspection.AllPassed(modules, services, results));
            }
        }
    }
}
