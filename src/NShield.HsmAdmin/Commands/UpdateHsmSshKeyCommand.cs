using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Update-HsmSshKey: the vendor's `hsmadmin keys roll`.</summary>
    [Cmdlet(VerbsData.Update, "HsmSshKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Roll")]
    [OutputType(typeof(HsmKeyRollResult))]
    public sealed class UpdateHsmSshKeyCommand : HsmParallelCmdlet, IChangesHost
    {
        [Parameter(ParameterSetName = "Roll", Position = 0)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        [Parameter(ParameterSetName = "Roll")]
        [ArgumentCompleter(typeof(AlgorithmCompleter))]
        public string Algorithm { get; set; } = "Ed25519";

        [Parameter(ParameterSetName = "Roll")]
        [ArgumentCompleter(typeof(ProtectionCompleter))]
        public string? Protection { get; set; }

        /// <summary>The passphrase of this host's current client keys (protection P); new P keys keep it unless -NewKeyPassphrase is given.</summary>
        [Parameter]
        [Alias("Passphrase")]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>A new passphrase for the new keys whose protection includes P (changes the passphrase).</summary>
        [Parameter(ParameterSetName = "Roll")]
        public SecureString? NewKeyPassphrase { get; set; }

        [Parameter(ParameterSetName = "Roll")]
        public SwitchParameter RestartHardserver { get; set; }

        /// <summary>Abandon an interrupted roll that has not switched the host yet.</summary>
        [Parameter(ParameterSetName = "Revert", Mandatory = true)]
        public SwitchParameter Revert { get; set; }

        /// <summary>
        /// Enrolled modules to leave out of the roll (unreachable or away): the host keeps the keys they accept, archived,
        /// until Invoke-HsmEnroll or Update-HsmSshKey brings them up to date.
        /// </summary>
        [Parameter(ParameterSetName = "Roll")]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[]? ExcludeEsn { get; set; }

        /// <summary>
        /// Modules piped in by their Esn property (Get-HsmModule -HostPath A | Update-HsmSshKey): they pick the host, and each
        /// must be enrolled on it. A roll always covers every enrolled module of the host, since they all hold the same
        /// client keys: leave modules out with -ExcludeEsn.
        /// </summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[]? Esn { get; set; }

        private readonly List<(string? HostPath, List<string> Esns)> _byHost = new List<(string?, List<string>)>();

        protected override void ProcessRecord()
        {
            var hostPath = ResolvedHostPath;
            var index = _byHost.FindIndex(h => string.Equals(h.HostPath, hostPath, System.StringComparison.Ordinal));
            if (index < 0)
            {
                _byHost.Add((hostPath, new List<string>()));
                index = _byHost.Count - 1;
            }
            if (Esn != null) _byHost[index].Esns.AddRange(ParseEsns(Esn));
        }

        protected override void EndProcessing()
        {
            if (_byHost.Count == 0) _byHost.Add((ResolvedHostPath, new List<string>()));
            foreach (var (hostPath, esns) in _byHost)
            {
                CurrentHostPath = hostPath;
                Run(new UpdateSshKeyOperation(), new UpdateSshKeyRequest
                {
                    Services = Service ?? new string[0], Algorithm = Algorithm, Protection = Protection, KeyPassphrase = KeyPassphrase,
                    NewKeyPassphrase = NewKeyPassphrase, RestartHardserver = RestartHardserver, Revert = Revert, ExcludeEsns = ExcludeEsn,
                    Esns = esns, ThrottleLimit = ThrottleLimit, WhatIf = IsWhatIf, BackupFollows = BackupReminder.BackedUpLaterInPipeline(this),
                });
            }
        }
    }
}
