using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Get-HsmHostConfiguration: the host's settings as they apply.</summary>
    public sealed class GetHostConfigurationOperation : IHsmOperation<HostRequest>
    {
        public Task RunAsync(HostRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            reporter.Result(HsmHostConfigurationInfo.From(HostStore.OpenExisting(request.HostPath)));
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// What Set-HsmHostConfiguration was asked: null leaves a setting as it is, an empty string puts it back to its
    /// default, any other value sets it (paths already resolved to full paths).
    /// </summary>
    public sealed class SetHostConfigurationRequest : HostRequest
    {
        public string? FactoryCredentialPath { get; set; }
        public string? HardserverRestartCommand { get; set; }
        public string? HardserverRestartArguments { get; set; }
        public string? HardserverServiceName { get; set; }
        public string? HardserverPidFile { get; set; }
        public string? HardserverProcessName { get; set; }
        public string? MachineFolder { get; set; }
        public string? AuditSyslogSocket { get; set; }
        /// <summary>Report the configuration after the change.</summary>
        public bool PassThru { get; set; }
    }

    /// <summary>
    /// Set-HsmHostConfiguration: where the factory credential is, how the hardserver is restarted and found, the machine
    /// folder and the audit copy. Every value is checked before anything is written; one change, one audit entry.
    /// </summary>
    public sealed class SetHostConfigurationOperation : IHsmOperation<SetHostConfigurationRequest>
    {
        public Task RunAsync(SetHostConfigurationRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.Open(request.HostPath);
            var credential = ExistingFile(request.FactoryCredentialPath, "factory credential");
            if (credential != null)
                using (OpenSshPrivateKey.Decode(HostStore.ReadFactoryCredentialFile(credential), null)) { }
            var command = RestartCommand(request.HardserverRestartCommand);
            if (command != null) StorePermissions.CheckConfiguredFile(command, "hardserver restart command");
            var pidFile = Value(request.HardserverPidFile);
            if (pidFile != null)
                StorePermissions.CheckConfiguredFile(File.Exists(pidFile) ? pidFile : Path.GetDirectoryName(pidFile)!, "hardserver pid file");
            if (Value(request.MachineFolder) is string machine) CheckMachineFolder(store, Path.GetFullPath(machine));
            if (Value(request.HardserverServiceName) is string service && PlatformHardserver.CheckServiceName(service) is string bad)
                throw new HsmException(HsmErrorIds.InvalidName, HsmErrorKind.InvalidArgument,
                    $"'{service}' is refused as a service name: {bad}. Nothing was changed.", service);

            var changes = new List<string>();
            void Say(string name, string? given, string? value, string none = "(default)")
            {
                if (given != null) changes.Add(name + "=" + (value ?? none));
            }
            Say("FactoryCredentialPath", request.FactoryCredentialPath, credential);
            Say("HardserverRestartCommand", request.HardserverRestartCommand, command);
            Say("HardserverRestartArguments", request.HardserverRestartArguments, Value(request.HardserverRestartArguments));
            Say("HardserverServiceName", request.HardserverServiceName, Value(request.HardserverServiceName));
            Say("HardserverPidFile", request.HardserverPidFile, pidFile);
            Say("HardserverProcessName", request.HardserverProcessName, Value(request.HardserverProcessName));
            Say("MachineFolder", request.MachineFolder, Value(request.MachineFolder));
            Say("AuditSyslogSocket", request.AuditSyslogSocket, Value(request.AuditSyslogSocket), "(off)");
            if (changes.Count > 0 && reporter.ShouldProcess(store.Root, "Set " + string.Join(", ", changes)))
                store.UpdateConfiguration(config =>
                {
                    if (request.FactoryCredentialPath != null) config.FactoryCredentialPath = credential;
                    if (request.HardserverRestartCommand != null) config.Hardserver.RestartCommand = command;
                    if (request.HardserverRestartArguments != null) config.Hardserver.RestartArguments = Value(request.HardserverRestartArguments);
                    if (request.HardserverServiceName != null) config.Hardserver.ServiceName = Value(request.HardserverServiceName);
                    if (request.HardserverPidFile != null) config.Hardserver.PidFile = pidFile;
                    if (request.HardserverProcessName != null) config.Hardserver.ProcessName = Value(request.HardserverProcessName);
                    if (request.MachineFolder != null) config.MachineFolder = Value(request.MachineFolder);
                    if (request.AuditSyslogSocket != null) config.AuditSyslogSocket = Value(request.AuditSyslogSocket);
                    return string.Join("; ", changes);
                });
            if (request.PassThru) reporter.Result(HsmHostConfigurationInfo.From(store));
            return Task.CompletedTask;
        }

        private static string? Value(string? given) => string.IsNullOrWhiteSpace(given) ? null : given;

        /// <summary>
        /// A machine folder holds the one secret input of KFG keys: owned by root or this account and writable by nobody
        /// else (StoreInsecurePermissions). A host whose keys already use G keeps them only where their nonces are: moving
        /// to a folder without them (not copied there first) would leave every such key unopenable, so it is refused.
        /// </summary>
        private static void CheckMachineFolder(HostStore store, string folder)
        {
            StorePermissions.CheckConfiguredFile(folder, "machine folder");
            if (string.Equals(folder, store.MachineRoot, StringComparison.Ordinal)) return;
            var missing = store.GetClientKeys().Where(k => k.ProtectionSpec.Contains(Protection.ProtectionInput.GlobalNonce))
                .Select(k => (k.Service, Nonce: k.NonceStore == null
                    ? Path.Combine(folder, Protection.LocalMachineIdentity.GlobalNonceFileName)
                    : Path.Combine(folder, "stores", k.NonceStore, Protection.LocalMachineIdentity.GlobalNonceFileName)))
                .Where(k => !File.Exists(k.Nonce)).ToList();
            if (missing.Count > 0)
                throw new HsmException(HsmErrorIds.MachineFolderMissingNonce, HsmErrorKind.InvalidOperation,
                    $"The client keys of {string.Join(", ", missing.Select(k => k.Service))} are bound to this machine through the " +
                    $"machine folder {store.MachineRoot}, and {folder} does not hold their nonce ({missing[0].Nonce}): they could not " +
                    "be opened after the change. Copy the machine folder there first (as root, keeping owners and modes), or roll " +
                    "the keys to a protection without G. Nothing was changed.", folder);
        }

        /// <summary>
        /// "systemctl restart nc_hardserver" in one string (resolved by the cmdlet to a path whose file name has spaces): the
        /// program and its arguments are two parameters.
        /// </summary>
        private static string? RestartCommand(string? given)
        {
            var name = Path.GetFileName(Value(given)?.Trim() ?? "");
            if (name.IndexOf(' ') > 0 && !File.Exists(given))
            {
                var parts = name.Split(new[] { ' ' }, 2);
                var program = Path.Combine(Path.GetDirectoryName(given!.Trim()) ?? "", parts[0]);
                throw new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound,
                    $"-HardserverRestartCommand takes the program alone and '{given}' is not a file. Give the arguments with " +
                    $"-HardserverRestartArguments: -HardserverRestartCommand {(File.Exists(program) ? program : parts[0])} " +
                    $"-HardserverRestartArguments '{parts[1].Trim()}' (the program by its full path, e.g. /usr/bin/systemctl). " +
                    "Nothing was changed.", given);
            }
            return ExistingFile(given, "hardserver restart command");
        }

        private static string? ExistingFile(string? given, string what)
        {
            var path = Value(given);
            if (path != null && !File.Exists(path))
                throw new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound,
                    $"The {what} '{path}' does not exist; nothing was changed.", path);
            return path;
        }
    }

    /// <summary>Get-HsmHardserver: whether the hardserver runs, since when, and whether it loaded the current ncoreapi key.</summary>
    public sealed class GetHardserverOperation : IHsmOperation<HostRequest>
    {
        public Task RunAsync(HostRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var host = request.OpenHost(HostStore.Open(request.HostPath)))
                reporter.Result(HardserverStatus.Read(host));
            return Task.CompletedTask;
        }
    }

    /// <summary>Restart-HsmHardserver: restarts the hardserver so it loads the current ncoreapi client key.</summary>
    public sealed class RestartHardserverOperation : IHsmOperation<HostRequest>
    {
        public Task RunAsync(HostRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var host = request.OpenHost(HostStore.Open(request.HostPath)))
                if (reporter.ShouldProcess(host.Hardserver.Description, "Restart the hardserver"))
                    reporter.Result(HardserverStatus.Restart(host));
            return Task.CompletedTask;
        }
    }

    /// <summary>Test-HsmAuditLog: checks every line of the host's audit log and its hash chain (reads only).</summary>
    public sealed class TestAuditLogOperation : IHsmOperation<HostRequest>
    {
        public Task RunAsync(HostRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            reporter.Result(HostStore.OpenExisting(request.HostPath).VerifyAudit());
            return Task.CompletedTask;
        }
    }
}
