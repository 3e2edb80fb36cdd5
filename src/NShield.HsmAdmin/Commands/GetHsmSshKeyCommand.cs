using System;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmSshKey: the vendor's `hsmadmin keys show`. Public keys only, read from the host store.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmSshKey")]
    [OutputType(typeof(HsmSshKeyInfo))]
    public sealed class GetHsmSshKeyCommand : HsmCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [SupportsWildcards]
        public string[]? Esn { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>Only the host's client keys, or only the modules' server keys.</summary>
        [Parameter]
        public HsmKeyRole[]? Role { get; set; }

        protected override void ProcessRecord()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).ToArray() ?? ModuleServices.All.ToArray();
            var patterns = Esn?.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray();
            bool Wanted(HsmKeyRole role) => Role == null || Role.Contains(role);

            if (Wanted(HsmKeyRole.Client) && Esn == null)
                foreach (var key in Engine(() => KeyInventory.ClientKeys(store)).Where(k => services.Contains(k.Service)))
                    WriteObject(key);

            if (!Wanted(HsmKeyRole.Server)) return;
            var serverKeys = Engine(() => KeyInventory.ServerKeys(store).ToList());
            if (patterns != null)
            {
                foreach (var literal in Esn!.Where(e => !WildcardPattern.ContainsWildcardCharacters(e) && !serverKeys.Any(k => string.Equals(k.Esn, e, StringComparison.OrdinalIgnoreCase))))
                    Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"This host has no keys pinned for module {literal}. Run Invoke-HsmEnroll to enroll it.", literal));
                serverKeys = serverKeys.Where(k => patterns.Any(p => p.IsMatch(k.Esn))).ToList();
            }
            foreach (var key in serverKeys.Where(k => services.Contains(k.Service)))
                WriteObject(key);
        }
    }
}
