using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Operations;
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

        protected override void ProcessRecord() => Run(new RegisterModuleOperation(), new RegisterModuleRequest
        {
            Esn = Esn, Address = Address, User = User, Transport = Transport, Force = Force, PassThru = PassThru,
            Ports = Port == null ? new Dictionary<string, object?>()
                : Port.Cast<DictionaryEntry>().ToDictionary(
                    e => e.Key?.ToString() ?? "", e => (object?)(e.Value is PSObject o ? o.BaseObject : e.Value)),
        });
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

        protected override void ProcessRecord() => Run(new UnregisterModuleOperation(), new UnregisterModuleRequest { Esns = Esn });
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
