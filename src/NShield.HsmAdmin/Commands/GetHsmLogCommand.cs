using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmLog: the vendor's `hsmadmin logs`: the commands each module served, read over its monitor channel.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmLog")]
    [OutputType(typeof(HsmLogEntry))]
    public sealed class GetHsmLogCommand : HsmCmdlet
    {
        // (host folder, ESNs) per pipeline record: objects from Get-HsmModule of several hosts each reach their own host.
        private readonly List<(string? HostPath, string[] Esns)> _requests = new List<(string?, string[])>();

        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[]? Esn { get; set; }

        /// <summary>The host store folder; bound from piped Get-HsmModule objects too.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public new string? HostPath { get; set; }

        /// <summary>Only entries at or after this time.</summary>
        [Parameter]
        public DateTimeOffset? Since { get; set; }

        /// <summary>Only the newest N entries of each module (after -Since).</summary>
        [Parameter]
        [ValidateRange(1, FirmwareProtocol.MaxLogEntries)]
        public int? Tail { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;

        protected override void ProcessRecord()
        {
            var esns = Esn?.Select(e => Engine(() => Store.Esn.Parse(e))).ToArray() ?? Array.Empty<string>();
            var hostPath = HostPath == null ? null : ResolvePath(HostPath);
            _requests.Add((hostPath, esns));
        }

        protected override void EndProcessing()
        {
            var services = new[] { ModuleServices.Monitor };
            foreach (var group in _requests.GroupBy(r => r.HostPath, RuntimeComparer))
            {
                // A record without ESNs asks for every module of its host.
                var esns = group.Any(r => r.Esns.Length == 0) ? new List<string>() : group.SelectMany(r => r.Esns).ToList();
                var store = Engine(() => HostStore.Open(group.Key));
                using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, services)))
                {
                    KeyPassphrases.Verify(this, host, services);
                    var modules = ModuleSelection.Select(this, Engine(() => host.Attached()), esns);
                    var reader = new ModuleLogOperation(host);
                    var entries = new List<HsmLogEntry>();
                    var fleet = new FleetRunner(this);
                    fleet.Run(modules, m => m.Esn, async (m, ct) =>
                    {
                        var read = await reader.ReadAsync(m, Since, Tail, ct).ConfigureAwait(false);
                        lock (entries) entries.AddRange(read);
                    }, ThrottleLimit, "Reading module logs", Cancellation);
                    foreach (var e in entries.OrderBy(e => e.Esn, StringComparer.Ordinal).ThenBy(e => e.Time)) WriteObject(e);
                }
            }
        }

        private static readonly StringComparer RuntimeComparer =
            System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Windows)
                ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
    }
}
