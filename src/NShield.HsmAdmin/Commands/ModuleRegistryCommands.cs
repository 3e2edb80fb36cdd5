using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Register-HsmModule: tells the host where a module is (address, SSH user, a port per service).</summary>
    [Cmdlet(VerbsLifecycle.Register, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(ModuleRegistration))]
    public sealed class RegisterHsmModuleCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [EsnParameter]
        public string Esn { get; set; } = "";

        /// <summary>IP address or DNS name the module's service endpoints listen on.</summary>
        [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string Address { get; set; } = "";

        /// <summary>SSH login name the endpoints accept (default "nshield").</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public string User { get; set; } = ModuleEndpointDefaults.User;

        /// <summary>Ports that differ from the defaults, by service: @{ sshadmin = 2222; ncoreapi = 2223 }.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [Alias("Ports")]
        public Hashtable? Port { get; set; }

        /// <summary>"ssh" (default) for real modules; another transport only when a loaded module provides it.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ArgumentCompleter(typeof(TransportCompleter))]
        public string Transport { get; set; } = ModuleTransports.Ssh;

        /// <summary>Replace an existing registration of the ESN at other endpoints.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter PassThru { get; set; }

        // Whole numbers only: 2201.6 or $true are not ports, whatever PowerShell could convert them to.
        private static int PortNumber(string service, object? value)
        {
            var raw = value is PSObject pso ? pso.BaseObject : value;
            long number;
            switch (raw)
            {
                case int i: number = i; break;
                case long l: number = l; break;
                case short sh: number = sh; break;
                case ushort us: number = us; break;
                case uint ui: number = ui; break;
                case string text when text.Trim().Length > 0 && text.Trim().All(char.IsDigit)
                    && text.Trim().Length <= 6: number = long.Parse(text.Trim()); break;
                default:
                    throw new HsmException(HsmErrorIds.InvalidPort, HsmErrorKind.InvalidArgument,
                        $"'{raw}' is not a TCP port (a whole number from 1 to 65535) for the {service} service.", raw);
            }
            if (number < 1 || number > 65535)
                throw new HsmException(HsmErrorIds.InvalidPort, HsmErrorKind.InvalidArgument,
                    $"{number} is not a TCP port (1-65535) for the {service} service.", number);
            return (int)number;
        }

        protected override void ProcessRecord()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            ModuleRegistration valid;
            try
            {
                var ports = new Dictionary<string, int>(StringComparer.Ordinal);
                if (Port != null)
                    foreach (DictionaryEntry entry in Port)
                    {
                        var service = ModuleServices.Canonical(entry.Key?.ToString() ?? "");
                        ports[service] = PortNumber(service, entry.Value);
                    }
                valid = new ModuleRegistration { Esn = Esn, Address = Address, User = User, Ports = ports, Transport = Transport }.Validated();
            }
            catch (HsmException ex)
            {
                Report(ex);
                return;
            }
            var where = $"{valid.ToAddress().Endpoint(ModuleServices.SshAdmin)} as {valid.User}";
            if (!ShouldProcess(valid.Esn, $"Register the module at {where} in {store.Root}")) return;
            try
            {
                if (!store.RegisterModule(valid, Force)) WriteVerbose($"Module {valid.Esn} is already registered at {where}; nothing changed.");
                if (PassThru) WriteObject(store.GetRegisteredModule(valid.Esn));
            }
            catch (HsmException ex) { Report(ex); }
        }
    }

    /// <summary>Unregister-HsmModule: forgets where a module is. Its pins and enrollment are kept (Invoke-HsmEnroll then drops it).</summary>
    [Cmdlet(VerbsLifecycle.Unregister, "HsmModule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    public sealed class UnregisterHsmModuleCommand : HsmCmdlet, IChangesHost
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public string[] Esn { get; set; } = Array.Empty<string>();

        protected override void ProcessRecord()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            foreach (var text in Esn)
            {
                try
                {
                    var esn = Store.Esn.Parse(text);
                    if (store.GetRegisteredModule(esn) == null)
                        throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                            $"Module {esn} is not registered with this host ({store.Root}).", esn);
                    if (!ShouldProcess(esn, $"Unregister the module from {store.Root}")) continue;
                    store.UnregisterModule(esn);
                }
                catch (HsmException ex) { Report(ex); }
            }
        }
    }

    /// <summary>Transport names usable in this session.</summary>
    public sealed class TransportCompleter : ListCompleter
    {
        protected override IEnumerable<(string, string)> Candidates(IDictionary bound)
        {
            foreach (var name in ModuleTransports.Names) yield return (name, $"The {name} transport");
        }
    }
}
