using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// A cmdlet that talks to modules: -Timeout (the vendor's --timeout), declared here only, and carried into the engine's
    /// host object (<see cref="OpenHost"/>), which applies it to every connect and every command.
    /// </summary>
    public abstract class HsmModuleCmdlet : HsmCmdlet
    {
        /// <summary>Seconds each module may take to connect and to answer each command (3 to 120, default 30).</summary>
        [Parameter]
        [ValidateRange(HsmHost.MinModuleTimeoutSeconds, HsmHost.MaxModuleTimeoutSeconds)]
        public int Timeout { get; set; } = HsmHost.DefaultModuleTimeoutSeconds;

        /// <summary>The engine's host object for a store, with this command's -Timeout.</summary>
        protected HsmHost OpenHost(Store.HostStore store, System.Security.SecureString? keyPassphrase) =>
            new HsmHost(store, keyPassphrase, moduleTimeout: TimeSpan.FromSeconds(Timeout));
    }

    /// <summary>A cmdlet that works on many modules at once: -ThrottleLimit, declared here only.</summary>
    public abstract class HsmParallelCmdlet : HsmModuleCmdlet
    {
        /// <summary>How many modules are worked on at the same time (1 to 64, default 16).</summary>
        [Parameter]
        [ValidateRange(1, 64)]
        public int ThrottleLimit { get; set; } = 16;
    }

    /// <summary>
    /// A command on chosen modules of one or more hosts: -Esn (parsed here), -HostPath and -ThrottleLimit. Both -Esn and
    /// -HostPath bind by property name, so objects piped from several hosts (Get-HsmModule -HostPath A, B) each reach their
    /// own host: the input is grouped by host and <see cref="ProcessHost"/> runs once per host, in the order first seen.
    /// </summary>
    public abstract class HsmFleetCmdlet : HsmParallelCmdlet
    {
        private readonly List<(string? HostPath, List<string>? Esns)> _byHost = new List<(string?, List<string>?)>();

        /// <summary>The modules (ESN); all registered modules when left out, unless a derived cmdlet makes it mandatory.</summary>
        [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        [EsnParameter]
        public virtual string[]? Esn { get; set; }

        /// <summary>The host store folder; taken from piped objects' HostPath property too.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        public override string? HostPath { get; set; }

        protected override void ProcessRecord()
        {
            ValidateBoundEsns();
            var host = ResolvedHostPath;
            var index = _byHost.FindIndex(h => string.Equals(h.HostPath, host, StringComparison.Ordinal));
            if (index < 0)
            {
                _byHost.Add((host, new List<string>()));
                index = _byHost.Count - 1;
            }
            var esns = _byHost[index].Esns;
            if (Esn == null || Esn.Length == 0)
                _byHost[index] = (host, null); // no -Esn: every registered module of that host
            else if (esns != null)
                esns.AddRange(ParseEsns(Esn));
        }

        /// <summary>
        /// Whether an empty pipeline (no input object at all) means every module of the -HostPath host, as it did before
        /// these commands grouped by host. Commands that change modules say no: nothing piped, nothing changed.
        /// </summary>
        protected virtual bool AllModulesWithoutInput => true;

        protected sealed override void EndProcessing()
        {
            if (_byHost.Count == 0 && AllModulesWithoutInput)
                _byHost.Add((ResolvedHostPath, null));
            // Piped objects bring their own HostPath, bound after BeginProcessing checked the command line's: check each
            // host before any of them is changed.
            foreach (var (hostPath, _) in _byHost)
                RequirePrivilegeFor(hostPath);
            foreach (var (hostPath, esns) in _byHost)
            {
                CurrentHostPath = hostPath;
                ProcessHost(hostPath, (IReadOnlyList<string>?)esns ?? Array.Empty<string>());
            }
        }

        /// <summary>Runs the command on one host; <paramref name="esns"/> is empty for every registered module.</summary>
        protected abstract void ProcessHost(string? hostPath, IReadOnlyList<string> esns);
    }
}
