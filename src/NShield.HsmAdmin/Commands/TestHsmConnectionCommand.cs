using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using System.Threading.Tasks;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Test-HsmConnection: per module and service, the pin matches and the host's key authenticates.</summary>
    [Cmdlet(VerbsDiagnostic.Test, "HsmConnection", DefaultParameterSetName = "Default")]
    [OutputType(typeof(bool))]
    [OutputType(typeof(HsmConnectionTestResult), ParameterSetName = new[] { "Detailed" })]
    public sealed class TestHsmConnectionCommand : HsmCmdlet
    {
        private readonly List<string> _esns = new List<string>();

        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[]? Esn { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>One object per module and service instead of a single $true/$false.</summary>
        [Parameter(ParameterSetName = "Detailed")]
        public SwitchParameter Detailed { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void ProcessRecord()
        {
            if (Esn != null) _esns.AddRange(Esn.Select(e => Engine(() => Store.Esn.Parse(e))));
        }

        protected override void EndProcessing()
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).ToArray() ?? ModuleServices.All.ToArray();
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
            {
                KeyPassphrases.Verify(this, host, services);
                var modules = ModuleSelection.Select(this, Engine(() => host.Attached()), _esns);
                var inspection = new ModuleInspection(host);
                var results = new List<HsmConnectionTestResult>();
                var fleet = new FleetRunner(this);
                fleet.Run(modules, m => m.Esn, async (m, ct) =>
                {
                    var perService = await Task.WhenAll(services.Select(s => inspection.TestAsync(m, s, ct))).ConfigureAwait(false);
                    foreach (var r in perService)
                    {
                        lock (results) results.Add(r);
                        if (r.Error != null) fleet.WriteError(r.Error);
                    }
                }, ThrottleLimit, "Testing module channels", Cancellation);

                var ordered = results.OrderBy(r => r.Esn).ThenBy(r => ModuleServices.All.ToList().IndexOf(r.Service)).ToList();
                if (Detailed) foreach (var r in ordered) WriteObject(r);
                else WriteObject(modules.Count > 0 && ordered.Count == modules.Count * services.Length && ordered.All(r => r.Success));
            }
        }
    }
}
