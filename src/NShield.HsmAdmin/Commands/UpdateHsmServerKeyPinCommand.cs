using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Security;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Update-HsmServerKeyPin: the explicit re-pin of an enrolled module's server keys. Shows old and new fingerprints per
    /// service, asks (ConfirmImpact High: ShouldProcess, then ShouldContinue unless -Confirm:$false), re-pins and audits.
    /// Never implied by Invoke-HsmEnroll, -Force or -AcceptFingerprint.
    /// </summary>
    [Cmdlet(VerbsData.Update, "HsmServerKeyPin", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(HsmServerKeyPinChange))]
    public sealed class UpdateHsmServerKeyPinCommand : HsmCmdlet, IChangesHost
    {
        private readonly List<string> _esns = new List<string>();

        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string[]? Esn { get; set; }

        /// <summary>Re-pin only these services (default: every service whose key changed).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>The passphrase of this host's sshadmin client key, if its protection includes P (prompted for in an interactive host when needed).</summary>
        [Parameter]
        public SecureString? KeyPassphrase { get; set; }

        protected override void ProcessRecord()
        {
            if (Esn != null) _esns.AddRange(ParseEsns(Esn));
        }

        private bool ConfirmExplicitlyOff =>
            MyInvocation.BoundParameters.TryGetValue("Confirm", out var c) && !((SwitchParameter)c).IsPresent;

        protected override void EndProcessing()
        {
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).Distinct().ToList() ?? new List<string>();
            var store = Engine(() => Store.HostStore.OpenExisting(ResolvedHostPath));
            var keys = new[] { ModuleServices.SshAdmin };
            using (var host = new HsmHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, keys)))
            {
                KeyPassphrases.Verify(this, host, keys);
                var operation = new RepinOperation(host);
                var selected = SelectModules(Engine(() => host.Attached()), _esns);
                foreach (var module in selected)
                {
                    RepinOperation.Plan plan;
                    try { plan = operation.InspectAsync(module, services, Cancellation).GetAwaiter().GetResult(); }
                    catch (HsmException ex) { Report(ex); continue; }
                    catch (System.OperationCanceledException) { throw new PipelineStoppedException(); }

                    var text = plan.Describe();
                    if (plan.Changed.Count == 0)
                    {
                        WriteVerbose("Nothing to re-pin: " + text);
                        foreach (var row in operation.Rows(plan, repinned: false)) WriteObject(row);
                        continue;
                    }
                    var what = $"Replace the pinned {string.Join(", ", plan.Changed)} server key(s) of module {module.Esn}";
                    if (!ShouldProcess(what + ":" + System.Environment.NewLine + text,
                            text + System.Environment.NewLine + "Trust the new keys only if the module's own display shows them. " + what + "?",
                            "Re-pin module server keys"))
                        continue;
                    if (!ConfirmExplicitlyOff)
                    {
                        bool yes;
                        try
                        {
                            yes = ShouldContinue(text + System.Environment.NewLine +
                                "This host will trust the new keys for this module from now on and send its client keys to them. " +
                                "Do they match what the module itself displays?", "Re-pin module server keys");
                        }
                        catch (PSInvalidOperationException)
                        {
                            Report(new HsmException(HsmErrorIds.FingerprintNotConfirmed, HsmErrorKind.SecurityError,
                                $"Re-pinning module {module.Esn} needs confirmation and this session cannot prompt; nothing was re-pinned. " +
                                "Compare the new fingerprints with the module's own display, then run Update-HsmServerKeyPin with -Confirm:$false.", module.Esn));
                            continue;
                        }
                        if (!yes)
                        {
                            foreach (var row in operation.Rows(plan, repinned: false)) WriteObject(row);
                            continue;
                        }
                    }
                    IReadOnlyList<HsmServerKeyPinChange> rows;
                    try { rows = operation.Apply(plan); }
                    catch (HsmException ex) { Report(ex); continue; }
                    foreach (var row in rows) WriteObject(row);
                }
            }
        }
    }
}
