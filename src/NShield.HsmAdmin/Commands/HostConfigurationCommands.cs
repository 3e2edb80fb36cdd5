using System.IO;
using System.Management.Automation;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmHostConfiguration: the host's settings, with the defaults that apply where none is set.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmHostConfiguration")]
    [OutputType(typeof(HsmHostConfigurationInfo))]
    public sealed class GetHsmHostConfigurationCommand : HsmCmdlet
    {
        protected override void EndProcessing()
        {
            var store = Engine(() => HostStore.OpenExisting(ResolvedHostPath));
            WriteObject(Engine(() => HsmHostConfigurationInfo.From(store)));
        }
    }

    /// <summary>Set-HsmHostConfiguration: where the factory credential is, and how the hardserver is restarted and found.</summary>
    [Cmdlet(VerbsCommon.Set, "HsmHostConfiguration", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmHostConfigurationInfo))]
    public sealed class SetHsmHostConfigurationCommand : HsmCmdlet, IChangesHost
    {
        /// <summary>The vendor's factory sshadmin credential (OpenSSH private key file). Empty: back to the default.</summary>
        [Parameter] [AllowEmptyString] public string? FactoryCredentialPath { get; set; }
        /// <summary>Program that restarts the hardserver (Linux default /opt/nfast/sbin/init.d-ncipher). Empty: default.</summary>
        [Parameter] [AllowEmptyString] public string? HardserverRestartCommand { get; set; }
        /// <summary>Arguments of the restart program (default "restart").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverRestartArguments { get; set; }
        /// <summary>Windows service restarted (default "nFast Server").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverServiceName { get; set; }
        /// <summary>File holding the hardserver's process id (default: found by process name).</summary>
        [Parameter] [AllowEmptyString] public string? HardserverPidFile { get; set; }
        /// <summary>The hardserver's process name (default "hardserver").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverProcessName { get; set; }
        /// <summary>
        /// The machine folder (each store's own global nonce G, under stores/): default /etc/opt/nfast/hsmadmin or
        /// %ProgramData%\nCipher\hsmadmin-machine. Empty: back to the default. Keys protected with G before the change no longer open.
        /// </summary>
        [Parameter] [AllowEmptyString] public string? MachineFolder { get; set; }
        /// <summary>Also send every audit entry to the system log through this Unix socket (/dev/log). Empty: off. Linux.</summary>
        [Parameter] [AllowEmptyString] public string? AuditSyslogSocket { get; set; }
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void EndProcessing()
        {
            var store = Engine(() => HostStore.Open(ResolvedHostPath));
            // Everything is checked before anything is written.
            string? credential = null, command = null, pidFile = null;
            if (Bound(nameof(FactoryCredentialPath)))
            {
                credential = ExistingFile(FactoryCredentialPath, "factory credential");
                if (credential != null)
                    using (Engine(() => OpenSshPrivateKey.Decode(HostStore.ReadFactoryCredentialFile(credential), null))) { }
            }
            if (Bound(nameof(HardserverRestartCommand)))
            {
                // "systemctl restart nc_hardserver" in one string: the program and its arguments are two parameters.
                if (Empty(HardserverRestartCommand) is string typed && typed.Trim().IndexOf(' ') > 0 && !File.Exists(ResolvePath(typed)))
                {
                    var parts = typed.Trim().Split(new[] { ' ' }, 2);
                    Fail(new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound,
                        $"-HardserverRestartCommand takes the program alone and '{typed}' is not a file. Give the arguments with " +
                        $"-HardserverRestartArguments: -HardserverRestartCommand {parts[0]} -HardserverRestartArguments '{parts[1].Trim()}' " +
                        "(the program by its full path, e.g. /usr/bin/systemctl). Nothing was changed.", typed));
                }
                command = ExistingFile(HardserverRestartCommand, "hardserver restart command");
                if (command != null) Engine(() => StorePermissions.CheckConfiguredFile(command, "hardserver restart command"));
            }
            if (Bound(nameof(HardserverPidFile)) && Empty(HardserverPidFile) != null)
            {
                pidFile = ResolvePath(HardserverPidFile!);
                var folder = System.IO.Path.GetDirectoryName(pidFile)!;
                Engine(() => StorePermissions.CheckConfiguredFile(File.Exists(pidFile) ? pidFile : folder, "hardserver pid file"));
            }
            if (Bound(nameof(HardserverServiceName)) && Empty(HardserverServiceName) is string service
                && PlatformHardserver.CheckServiceName(service) is string bad)
                Fail(new HsmException(HsmErrorIds.InvalidName, HsmErrorKind.InvalidArgument,
                    $"'{service}' is refused as a service name: {bad}. Nothing was changed.", service));

            var changes = new System.Collections.Generic.List<string>();
            if (Bound(nameof(FactoryCredentialPath))) changes.Add("FactoryCredentialPath=" + (credential ?? "(default)"));
            if (Bound(nameof(HardserverRestartCommand))) changes.Add("HardserverRestartCommand=" + (command ?? "(default)"));
            if (Bound(nameof(HardserverRestartArguments))) changes.Add("HardserverRestartArguments=" +
                (Empty(HardserverRestartArguments) ?? "(default)"));
            if (Bound(nameof(HardserverServiceName))) changes.Add("HardserverServiceName=" + (Empty(HardserverServiceName) ?? "(default)"));
            if (Bound(nameof(HardserverPidFile))) changes.Add("HardserverPidFile=" + (pidFile ?? "(default)"));
            if (Bound(nameof(HardserverProcessName))) changes.Add("HardserverProcessName=" + (Empty(HardserverProcessName) ?? "(default)"));
            string? machineFolder = Bound(nameof(MachineFolder)) && Empty(MachineFolder) != null ? ResolvePath(MachineFolder!) : null;
            if (Bound(nameof(MachineFolder))) changes.Add("MachineFolder=" + (machineFolder ?? "(default)"));
            string? syslog = Bound(nameof(AuditSyslogSocket)) && Empty(AuditSyslogSocket) != null ? ResolvePath(AuditSyslogSocket!) : null;
            if (Bound(nameof(AuditSyslogSocket))) changes.Add("AuditSyslogSocket=" + (syslog ?? "(off)"));
            if (changes.Count > 0 && ShouldProcess(store.Root, "Set " + string.Join(", ", changes)))
                Engine(() => store.UpdateConfiguration(config =>
                {
                    if (Bound(nameof(FactoryCredentialPath))) config.FactoryCredentialPath = credential;
                    if (Bound(nameof(HardserverRestartCommand))) config.Hardserver.RestartCommand = command;
                    if (Bound(nameof(HardserverRestartArguments))) config.Hardserver.RestartArguments = Empty(HardserverRestartArguments);
                    if (Bound(nameof(HardserverServiceName))) config.Hardserver.ServiceName = Empty(HardserverServiceName);
                    if (Bound(nameof(HardserverPidFile))) config.Hardserver.PidFile = pidFile;
                    if (Bound(nameof(HardserverProcessName))) config.Hardserver.ProcessName = Empty(HardserverProcessName);
                    if (Bound(nameof(MachineFolder))) config.MachineFolder = machineFolder;
                    if (Bound(nameof(AuditSyslogSocket))) config.AuditSyslogSocket = syslog;
                    return string.Join("; ", changes);
                }));
            if (PassThru) WriteObject(Engine(() => HsmHostConfigurationInfo.From(store)));
        }

        private bool Bound(string name) => MyInvocation.BoundParameters.ContainsKey(name);

        private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

        private string? ExistingFile(string? value, string what)
        {
            if (Empty(value) == null) return null;
            var path = ResolvePath(value!);
            if (!File.Exists(path))
                Fail(new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound,
                    $"The {what} '{path}' does not exist; nothing was changed.", path));
            return path;
        }
    }

    /// <summary>Get-HsmHardserver: whether the hardserver runs, since when, and whether it loaded the current ncoreapi key.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmHardserver")]
    [OutputType(typeof(HsmHardserverInfo))]
    public sealed class GetHsmHardserverCommand : HsmCmdlet
    {
        protected override void EndProcessing()
        {
            using (var host = Engine(() => HsmHost.Open(ResolvedHostPath)))
                WriteObject(Engine(() => HardserverStatus.Read(host)));
        }
    }
}
