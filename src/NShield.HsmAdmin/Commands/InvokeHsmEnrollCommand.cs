using System.Collections.Generic;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Invoke-HsmEnroll: the vendor's `hsmadmin enroll`.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "HsmEnroll", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmEnrollResult))]
    public sealed class InvokeHsmEnrollCommand : HsmFleetCmdlet, IChangesHost
    {
        /// <summary>sshadmin server key fingerprints confirmed out of band, for hosts without a trusted vendor root.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string[]? AcceptFingerprint { get; set; }

        [Parameter]
        [ArgumentCompleter(typeof(AlgorithmCompleter))]
        public string Algorithm { get; set; } = "Ed25519";

        [Parameter]
        [ArgumentCompleter(typeof(ProtectionCompleter))]
        public string? Protection { get; set; }

        /// <summary>
        /// The passphrase of this host's client keys when their protection includes P: opens existing keys, and protects
        /// new ones when -Protection has P (prompted for, twice, in an interactive host when not given).
        /// </summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        /// <summary>
        /// Forget the modules named by -Esn that are on the host's list but no longer registered: list entry, pins and any
        /// client keys archived for them are deleted. Says what is forgotten and asks (ConfirmImpact High) unless -Force.
        /// Nothing is enrolled in that run.
        /// </summary>
        [Parameter]
        public SwitchParameter Forget { get; set; }

        /// <summary>With -Forget: forget without the second confirmation (ShouldContinue).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        protected override void ProcessHost(string? hostPath, IReadOnlyList<string> esns) =>
            Run(new EnrollModulesOperation(), Modules(new EnrollRequest
            {
                AcceptFingerprints = AcceptFingerprint ?? new string[0], Algorithm = Algorithm, Protection = Protection,
                KeyPassphrase = KeyPassphrase, Forget = Forget, Force = Force, WhatIf = IsWhatIf,
                BackupFollows = BackupReminder.BackedUpLaterInPipeline(this),
            }, esns));
    }
}
