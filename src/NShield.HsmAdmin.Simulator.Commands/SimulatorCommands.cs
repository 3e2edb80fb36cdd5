using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using NShield.HsmAdmin.Firmware;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>A running simulator as the cmdlets show it.</summary>
    public sealed class HsmSimulatorInfo
    {
        /// <summary>The simulator's folder (module state, vendor root, simulator.json).</summary>
        public string Path { get; set; } = "";
        /// <summary>The host store the simulator started its modules in ("" with -NoHost).</summary>
        public string HostPath { get; set; } = "";
        /// <summary>Ssh (real sshd endpoints) or InProcess (the firmware called directly, no SSH at all).</summary>
        public SimulatorTransport Transport { get; set; }
        public bool Running { get; set; }
        /// <summary>True when started with -Persistent: it outlives the process that started it (else it stops when that process ends).</summary>
        public bool Persistent { get; set; }
        /// <summary>The process that started it: without -Persistent, the simulator stops within seconds of this process's end.</summary>
        public int OwnerProcessId { get; set; }
        public string VendorRootPublicKey { get; set; } = "";
        /// <summary>The simulated vendor's well-known factory sshadmin credential (what Set-HsmHostConfiguration
        /// -FactoryCredentialPath takes).</summary>
        public string FactoryCredentialPath { get; set; } = "";
        public SimulatedModule[] Modules { get; set; } = new SimulatedModule[0];

        internal static HsmSimulatorInfo From(Simulator sim, string? hostPath = null) => new HsmSimulatorInfo
        {
            Path = sim.Root, Transport = sim.Transport, Running = !sim.Stopped, VendorRootPublicKey = sim.VendorRootPublicKey,
            Persistent = sim.Persistent, OwnerProcessId = sim.OwnerPid,
            FactoryCredentialPath = sim.FactoryCredentialPath,
            Modules = sim.Modules.ToArray(),
            HostPath = hostPath ?? sim.Modules.Select(m => m.HostPath).FirstOrDefault(h => h.Length > 0) ?? "",
        };
    }

    /// <summary>Finds simulators: those started in this session, or the one that registered a module in a host store.</summary>
    internal static class SimulatorRegistry
    {
        private static readonly List<string> Started = new List<string>();

        public static void Remember(string root) { lock (Started) if (!Started.Contains(root)) Started.Add(root); }
        public static void Forget(string root) { lock (Started) Started.Remove(root); }
        public static IReadOnlyList<string> StartedInSession() { lock (Started) return Started.ToList(); }

        /// <summary>The simulator that owns a module: -SimulatorPath, else this session's, else the one that registered
        /// it in the host store.</summary>
        public static Simulator ForModule(string esn, string? simulatorPath, string? hostPath)
        {
            if (simulatorPath != null) return Simulator.Open(simulatorPath);
            foreach (var root in StartedInSession())
            {
                var sim = Simulator.Open(root);
                if (sim.Modules.Any(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase))) return sim;
            }
            var store = HostStoreLocation.Resolve(hostPath);
            foreach (var root in Simulator.RootsForHost(store))
            {
                var sim = Simulator.Open(root);
                if (sim.Modules.Any(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase))) return sim;
            }
            throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                $"No simulated module {esn} is known: it was not started in this session nor is " +
                $"it registered in {store}. Give -SimulatorPath or -HostPath.", esn);
        }
    }

    /// <summary>
    /// Start-HsmSimulator: simulated nShield 5s modules (factory state, as shipped) registered in a host store: the one
    /// -HostPath names, or a new temporary one. It never uses a store that holds modules or keys it did not make.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Start, "HsmSimulator", SupportsShouldProcess = true)]
    [OutputType(typeof(HsmSimulatorInfo))]
    public sealed class StartHsmSimulatorCommand : HsmCmdlet
    {
        [Parameter(Position = 0)]
        [ValidateRange(0, 64)]
        public int ModuleCount { get; set; } = 1;

        /// <summary>Ssh (real sshd endpoints; default where sshd exists) or InProcess (same firmware, no SSH).</summary>
        [Parameter]
        public SimulatorTransport? Transport { get; set; }

        /// <summary>Folder for the simulator's state. Default: a new folder under the temp directory.</summary>
        [Parameter]
        public string? SimulatorPath { get; set; }

        /// <summary>Start the modules without registering them anywhere: register them yourself with Register-HsmModule.</summary>
        [Parameter]
        public SwitchParameter NoHost { get; set; }

        /// <summary>
        /// Keep the simulator running after this process ends (long-lived labs; a simulator handed to other processes).
        /// Without it the simulator dies with its owner: within seconds of this process's end, however it ends, its sshd
        /// endpoints and firmware stop and a folder it created is deleted. Stop a persistent one with Stop-HsmSimulator.
        /// </summary>
        [Parameter]
        public SwitchParameter Persistent { get; set; }

        /// <summary>
        /// The process the simulator dies with, instead of this one: a test harness or lab script that starts simulators
        /// from child processes and hands them on. Not with -Persistent.
        /// </summary>
        [Parameter]
        [ValidateRange(1, int.MaxValue)]
        public int OwnerProcessId { get; set; }

        protected override void EndProcessing()
        {
            if (NoHost && HostPath != null)
                Fail(new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidArgument,
                    "Give either -HostPath or -NoHost, not both.", null));
            var simRoot = SimulatorPath != null ? ResolvePath(SimulatorPath) : Simulator.NewTemporaryRoot();
            // Never the system store by default: the host is -HostPath, or a new folder inside the simulator's.
            string? hostPath = NoHost ? null : ResolvedHostPath ?? System.IO.Path.Combine(simRoot, "host");
            var target = hostPath ?? "no host";
            if (!ShouldProcess(target, $"Start {ModuleCount} simulated module(s) ({Transport ?? Simulator.DefaultTransport})")) return;
            var sim = Engine(() => Simulator.Start(ModuleCount, hostPath, Transport ?? Simulator.DefaultTransport, simRoot, Persistent,
                OwnerProcessId));
            SimulatorRegistry.Remember(sim.Root);
            WriteObject(HsmSimulatorInfo.From(sim, hostPath ?? ""));
        }
    }

    /// <summary>Stop-HsmSimulator: stops every sshd a simulator started; nothing is left listening.</summary>
    [Cmdlet(VerbsLifecycle.Stop, "HsmSimulator", SupportsShouldProcess = true)]
    public sealed class StopHsmSimulatorCommand : PSCmdlet
    {
        /// <summary>The simulator's folder (the Path of Start-HsmSimulator's output). Default: every simulator started in this session.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("SimulatorPath")]
        public string[]? Path { get; set; }

        /// <summary>Also delete the simulator's folder.</summary>
        [Parameter]
        public SwitchParameter Remove { get; set; }

        protected override void ProcessRecord()
        {
            var roots = Path?.Select(p => SessionState.Path.GetUnresolvedProviderPathFromPSPath(p)).ToList()
                ?? SimulatorRegistry.StartedInSession().ToList();
            foreach (var root in roots)
            {
                if (!ShouldProcess(root, "Stop the simulator")) continue;
                try
                {
                    Simulator.Stop(root);
                    SimulatorRegistry.Forget(root);
                    if (Remove) Directory.Delete(root, true);
                }
                catch (HsmException ex) { WriteError(HsmCmdlet.ToErrorRecord(ex)); }
            }
        }
    }

    /// <summary>Get-HsmSimulator: simulators started in this session (or the one in -Path).</summary>
    [Cmdlet(VerbsCommon.Get, "HsmSimulator")]
    [OutputType(typeof(HsmSimulatorInfo))]
    public sealed class GetHsmSimulatorCommand : PSCmdlet
    {
        [Parameter(Position = 0)]
        public string[]? Path { get; set; }

        protected override void ProcessRecord()
        {
            foreach (var root in Path?.Select(p => SessionState.Path.GetUnresolvedProviderPathFromPSPath(p)) ?? SimulatorRegistry.StartedInSession())
            {
                try { WriteObject(HsmSimulatorInfo.From(Simulator.Open(root))); }
                catch (HsmException ex) { WriteError(HsmCmdlet.ToErrorRecord(ex)); }
            }
        }
    }

    /// <summary>Add-HsmSimulatedModule: plug new factory-state modules into a host.</summary>
    [Cmdlet(VerbsCommon.Add, "HsmSimulatedModule", SupportsShouldProcess = true)]
    [OutputType(typeof(SimulatedModule))]
    public sealed class AddHsmSimulatedModuleCommand : HsmCmdlet
    {
        [Parameter(Position = 0)]
        [ValidateRange(1, 64)]
        public int Count { get; set; } = 1;

        /// <summary>The simulator to add to. Default: the one started last in this session.</summary>
        [Parameter(ValueFromPipelineByPropertyName = true)]
        [Alias("Path")]
        public string? SimulatorPath { get; set; }

        protected override void ProcessRecord()
        {
            var root = SimulatorPath != null ? ResolvePath(SimulatorPath) : SimulatorRegistry.StartedInSession().LastOrDefault();
            if (root == null)
                Fail(new HsmException(SimulatorErrorIds.SimulatorNotFound, HsmErrorKind.ObjectNotFound,
                    "No simulator was started in this session: give -SimulatorPath.", null));
            var hostPath = ResolvedHostPath ?? Simulator.Open(root!).Modules.Select(m => m.HostPath).FirstOrDefault(h => h.Length > 0);
            if (hostPath == null)
                Fail(new HsmException(SimulatorErrorIds.SimulatorStartFailed, HsmErrorKind.InvalidArgument,
                    "Give -HostPath: the simulator has no host to add modules to.", null));
            if (!ShouldProcess(hostPath, $"Attach {Count} new simulated module(s)")) return;
            foreach (var module in Engine(() => Simulator.Open(root!).AddModules(Count, hostPath))) WriteObject(module);
        }
    }

    /// <summary>Shared parameters of the cmdlets that act on one simulated module.</summary>
    public abstract class SimulatedModuleCmdlet : HsmCmdlet
    {
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(EsnCompleter))]
        public string Esn { get; set; } = "";

        [Parameter]
        public string? SimulatorPath { get; set; }

        protected Simulator Owner() =>
            Engine(() => SimulatorRegistry.ForModule(Esn, SimulatorPath == null ? null : ResolvePath(SimulatorPath), ResolvedHostPath));
    }

    /// <summary>Remove-HsmSimulatedModule: unplug a module (its endpoints stop; its state is deleted).</summary>
    [Cmdlet(VerbsCommon.Remove, "HsmSimulatedModule", SupportsShouldProcess = true)]
    public sealed class RemoveHsmSimulatedModuleCommand : SimulatedModuleCmdlet
    {
        protected override void ProcessRecord()
        {
            var sim = Owner();
            if (ShouldProcess(Esn, "Detach and remove the simulated module")) Engine(() => sim.RemoveModule(Esn));
        }
    }

    /// <summary>Move-HsmSimulatedModule: the physical move of a module from one host to another (state kept).</summary>
    [Cmdlet(VerbsCommon.Move, "HsmSimulatedModule", SupportsShouldProcess = true)]
    [OutputType(typeof(SimulatedModule))]
    public sealed class MoveHsmSimulatedModuleCommand : SimulatedModuleCmdlet
    {
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string DestinationHostPath { get; set; } = "";

        protected override void ProcessRecord()
        {
            var sim = Owner();
            var destination = ResolvePath(DestinationHostPath);
            if (ShouldProcess(Esn, $"Unplug from its host and plug into {destination}"))
                WriteObject(Engine(() => sim.MoveModule(Esn, destination)));
        }
    }

    /// <summary>Set-HsmSimulatedModule: the recovery button, normal boot, and fault injection.</summary>
    [Cmdlet(VerbsCommon.Set, "HsmSimulatedModule", SupportsShouldProcess = true)]
    [OutputType(typeof(SimulatedModule))]
    public sealed class SetHsmSimulatedModuleCommand : SimulatedModuleCmdlet
    {
        /// <summary>Recovery mode: like factory state, and ncoreapi stays off until -BootNormally.</summary>
        [Parameter] public SwitchParameter PressRecoveryButton { get; set; }
        [Parameter] public SwitchParameter BootNormally { get; set; }
        /// <summary>A new server key for these services behind the host's back (a man in the middle).</summary>
        [Parameter, ArgumentCompleter(typeof(ServiceCompleter))] public string[]? ReplaceServerKey { get; set; }
        /// <summary>Answer the next -FaultCount runs of this firmware command with E_FAULT (before any change).</summary>
        [Parameter] public string? FailAt { get; set; }
        /// <summary>Drop the connection on this command before the change is made.</summary>
        [Parameter] public string? DropBefore { get; set; }
        /// <summary>Drop the connection on this command after the change is made (the reply is lost).</summary>
        [Parameter] public string? DropAfter { get; set; }
        [Parameter, ValidateRange(1, 1000)] public int FaultCount { get; set; } = 1;
        /// <summary>Refuse every connection ($true) until set back to $false.</summary>
        [Parameter] public bool? Refuse { get; set; }
        /// <summary>Milliseconds every command waits before answering (0 clears).</summary>
        [Parameter, ValidateRange(0, 600000)] public int? DelayMs { get; set; }
        /// <summary>The module's clock reads 1970.</summary>
        [Parameter] public bool? InvalidClock { get; set; }
        /// <summary>How many entries the module's command log keeps (the newest).</summary>
        [Parameter, ValidateRange(1, 100000)] public int? LogCapacity { get; set; }
        /// <summary>Change the oldest entry of the module's log after it was signed (Get-HsmLog then shows it as not verified).</summary>
        [Parameter] public SwitchParameter TamperLog { get; set; }
        /// <summary>The module's (valid) clock runs this many seconds ahead of real UTC; negative: behind.</summary>
        [Parameter, ValidateRange(-3153600000.0, 3153600000.0)] public double? ClockOffsetSeconds { get; set; }
        /// <summary>ncoreapi's maintenance mode, as the host's nopclearfail -M ($true) and -O ($false) set it.</summary>
        [Parameter] public bool? Maintenance { get; set; }
        /// <summary>Milliseconds a reboot takes (Restart-HsmModule waits for it).</summary>
        [Parameter, ValidateRange(0, 600000)] public int? BootMs { get; set; }
        /// <summary>A hardserver holds an ncoreapi session ($true) or none: while one is open, firmware and log changes are refused.</summary>
        [Parameter] public bool? NCoreApiSession { get; set; }
        [Parameter] public SwitchParameter ClearFaults { get; set; }
        /// <summary>Answer every SSH command in a way that breaks the protocol (None: a normal module again; -ClearFaults also clears it).</summary>
        [Parameter] public HostileReply? Hostile { get; set; }

        protected override void ProcessRecord()
        {
            var sim = Owner();
            if (!ShouldProcess(Esn, "Change the simulated module")) return;
            Engine(() =>
            {
                if (ClearFaults) sim.ClearFaults(Esn);
                if (PressRecoveryButton) sim.PressRecoveryButton(Esn);
                if (BootNormally) sim.BootNormally(Esn);
                foreach (var service in ReplaceServerKey ?? new string[0]) sim.ReplaceServerKey(Esn, ModuleServices.Canonical(service));
                if (FailAt != null) sim.InjectFault(Esn, FaultKind.FailAt, FailAt, FaultCount);
                if (DropBefore != null) sim.InjectFault(Esn, FaultKind.DropBefore, DropBefore, FaultCount);
                if (DropAfter != null) sim.InjectFault(Esn, FaultKind.DropAfter, DropAfter, FaultCount);
                if (DelayMs != null) sim.SetDelay(Esn, DelayMs.Value);
                if (InvalidClock != null) sim.SetInvalidClock(Esn, InvalidClock.Value);
                if (LogCapacity != null) sim.SetLogCapacity(Esn, LogCapacity.Value);
                if (ClockOffsetSeconds != null) sim.SetClockOffset(Esn, ClockOffsetSeconds.Value);
                if (Maintenance != null) sim.SetMaintenance(Esn, Maintenance.Value);
                if (BootMs != null) sim.SetBootMs(Esn, BootMs.Value);
                if (Refuse != null) sim.SetRefuse(Esn, Refuse.Value);
                if (NCoreApiSession != null) sim.SetNCoreApiSession(Esn, NCoreApiSession.Value);
                if (TamperLog) sim.TamperLogEntry(Esn);
                if (Hostile != null || ClearFaults) HostileReplies.Set(sim.GetModule(Esn).ModuleDir, Hostile ?? HostileReply.None);
            });
            WriteObject(Engine(() => sim.GetModule(Esn)));
        }
    }
}
