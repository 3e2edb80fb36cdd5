using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmLog: the vendor's `hsmadmin logs`: the commands each module served, read over its monitor channel.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmLog", SupportsShouldProcess = true, DefaultParameterSetName = "Read")]
    [OutputType(typeof(HsmLogEntry))]
    public sealed class GetHsmLogCommand : HsmFleetCmdlet
    {
        /// <summary>Only entries at or after this time.</summary>
        [Parameter]
        public DateTimeOffset? Since { get; set; }

        /// <summary>Only the newest N entries of each module (after -Since).</summary>
        [Parameter]
        [ValidateRange(1, GetLogRequest.MaxTail)]
        public int? Tail { get; set; }

        /// <summary>Also save the entries read (with their Verified and Status) to this new file, as JSON; needed by -Clear.</summary>
        [Parameter(ParameterSetName = "Read")]
        [Parameter(ParameterSetName = "Clear", Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>After the entries are saved to -Path, clear exactly those on each module (the vendor's logs retrieves and clears).</summary>
        [Parameter(ParameterSetName = "Clear", Mandatory = true)]
        public SwitchParameter Clear { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (prompted for in an
        /// interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new GetLogOperation(), Modules(new GetLogRequest
            {
                Since = Since, Tail = Tail, Path = Path == null ? null : ResolvePath(Path), Clear = Clear, KeyPassphrase = KeyPassphrase,
            }, esns));
    }
}
