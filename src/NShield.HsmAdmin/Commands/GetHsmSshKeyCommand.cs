using System;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmSshKey: the vendor's `hsmadmin keys show`. Public keys only, read from the host store.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmSshKey", DefaultParameterSetName = "Host")]
    [OutputType(typeof(HsmSshKeyInfo), ParameterSetName = new[] { "Host" })]
    [OutputType(typeof(HsmModuleKeyInfo), ParameterSetName = new[] { "Module" })]
    public sealed class GetHsmSshKeyCommand : HsmModuleCmdlet
    {
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [SupportsWildcards]
        [EsnParameter(Wildcards = true)]
        public string[]? Esn { get; set; }

        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(ServiceCompleter))]
        public string[]? Service { get; set; }

        /// <summary>Only the host's client keys, or only the modules' server keys.</summary>
        [Parameter(ParameterSetName = "Host")]
        public HsmKeyRole[]? Role { get; set; }

        /// <summary>Ask each module which client keys it holds (keys.list) and compare them with the host's: Current, Stale, Missing.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Module")]
        public SwitchParameter Module { get; set; }

        /// <summary>The passphrase of this host's client keys, if their protection includes P (-Module opens the sshadmin key).</summary>
        [Parameter(ParameterSetName = "Module")]
        public System.Security.SecureString? KeyPassphrase { get; set; }

        protected override void ProcessRecord()
        {
            ValidateBoundEsns();
            var store = Engine(() => HostStore.OpenExisting(ResolvedHostPath));
            var services = Service?.Select(s => Engine(() => ModuleServices.Canonical(s))).ToArray() ?? ModuleServices.All.ToArray();
            var patterns = Esn?.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToArray();
            bool Wanted(HsmKeyRole role) => Role == null || Role.Contains(role);
            if (Module)
            {
                WriteModuleKeys(store, services, patterns);
                return;
            }

            if (Wanted(HsmKeyRole.Client) && Esn == null)
                foreach (var key in Engine(() => KeyInventory.ClientKeys(store)).Where(k => services.Contains(k.Service)))
                    WriteObject(key);

            if (!Wanted(HsmKeyRole.Server)) return;
            var serverKeys = Engine(() => KeyInventory.ServerKeys(store).ToList());
            if (patterns != null)
            {
                foreach (var literal in Esn!.Where(e => !WildcardPattern.ContainsWildcardCharacters(e)
                    && !serverKeys.Any(k => string.Equals(k.Esn, e, StringComparison.OrdinalIgnoreCase))))
                    Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"The host store {store.Root} has no keys pinned for module {literal}. Run Invoke-HsmEnroll to enroll it " +
                        "(another host: -HostPath).", literal));
                serverKeys = serverKeys.Where(k => patterns.Any(p => p.IsMatch(k.Esn))).ToList();
            }
            foreach (var key in serverKeys.Where(k => services.Contains(k.Service)))
                WriteObject(key);
        }

        private void WriteModuleKeys(HostStore store, string[] services, WildcardPattern[]? patterns)
        {
            var admin = new[] { ModuleServices.SshAdmin };
            using (var host = OpenHost(store, KeyPassphrases.Resolve(this, store, KeyPassphrase, admin)))
            {
                KeyPassphrases.Verify(this, host, admin);
                var attached = Engine(() => host.Attached());
                var modules = patterns == null ? attached : attached.Where(m => patterns.Any(p => p.IsMatch(m.Esn))).ToList();
                foreach (var literal in (Esn ?? new string[0]).Where(e => !WildcardPattern.ContainsWildcardCharacters(e)
                    && !attached.Any(m => string.Equals(m.Esn, e, StringComparison.OrdinalIgnoreCase))))
                    Report(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                        $"No module {literal} is registered with the host store {store.Root} (Register-HsmModule; another host: -HostPath).",
                        literal));
                var results = RunOperation((reporter, ct) => KeyDrift.ReadAllAsync(host, modules, 16, reporter, ct));
                foreach (var key in results.Where(k => services.Contains(k.Service)))
                    WriteObject(key);
            }
        }
    }
}
