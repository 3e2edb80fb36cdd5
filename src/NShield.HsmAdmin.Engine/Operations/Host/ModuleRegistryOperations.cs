using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Register-HsmModule: where one module is.</summary>
    public sealed class RegisterModuleRequest : HostRequest
    {
        public string Esn { get; set; } = "";
        public string Address { get; set; } = "";
        public string User { get; set; } = ModuleEndpointDefaults.User;
        /// <summary>Ports that differ from the defaults, by service name, as given (checked here: whole numbers 1-65535).</summary>
        public IReadOnlyDictionary<string, object?> Ports { get; set; } = new Dictionary<string, object?>();
        public string Transport { get; set; } = ModuleTransports.Ssh;
        /// <summary>Replace an existing registration of the ESN at other endpoints.</summary>
        public bool Force { get; set; }
        public bool PassThru { get; set; }
    }

    /// <summary>Unregister-HsmModule: the modules to forget the address of.</summary>
    public sealed class UnregisterModuleRequest : HostRequest
    {
        public IReadOnlyList<string> Esns { get; set; } = Array.Empty<string>();
    }

    /// <summary>
    /// Register-HsmModule: tells the host where a module is (address, SSH user, a port per service). A registration that
    /// is not valid is this item's error (the pipeline goes on with the next).
    /// </summary>
    public sealed class RegisterModuleOperation : IHsmOperation<RegisterModuleRequest>
    {
        public Task RunAsync(RegisterModuleRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.Open(request.HostPath);
            try
            {
                var ports = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var entry in request.Ports)
                {
                    var service = ModuleServices.Canonical(entry.Key);
                    ports[service] = PortNumber(service, entry.Value);
                }
                var valid = new ModuleRegistration
                {
                    Esn = request.Esn, Address = request.Address, User = request.User, Ports = ports, Transport = request.Transport,
                }.Validated();
                var where = $"{valid.ToAddress().Endpoint(ModuleServices.SshAdmin)} as {valid.User}";
                if (!reporter.ShouldProcess(valid.Esn, $"Register the module at {where} in {store.Root}")) return Task.CompletedTask;
                if (!store.RegisterModule(valid, request.Force))
                    reporter.Verbose($"Module {valid.Esn} is already registered at {where}; nothing changed.");
                if (request.PassThru) reporter.Result(store.GetRegisteredModule(valid.Esn)!);
            }
            catch (HsmException ex) { reporter.Error(ex); }
            return Task.CompletedTask;
        }

        // Whole numbers only: 2201.6 or $true are not ports, whatever PowerShell could convert them to.
        private static int PortNumber(string service, object? raw)
        {
            long number;
            switch (raw)
            {
                case int i: number = i; break;
                case long l: number = l; break;
                case short sh: number = sh; break;
                case ushort us: number = us; break;
                case uint ui: number = ui; break;
                case string text when text.Trim().Length > 0 && text.Trim().All(char.IsDigit) && text.Trim().Length <= 6:
                    number = long.Parse(text.Trim()); break;
                default:
                    throw new HsmException(HsmErrorIds.InvalidPort, HsmErrorKind.InvalidArgument,
                        $"'{raw}' is not a TCP port (a whole number from 1 to 65535) for the {service} service.", raw);
            }
            if (number < 1 || number > 65535)
                throw new HsmException(HsmErrorIds.InvalidPort, HsmErrorKind.InvalidArgument,
                    $"{number} is not a TCP port (1-65535) for the {service} service.", number);
            return (int)number;
        }
    }

    /// <summary>Unregister-HsmModule: forgets where each module is; its pins and enrollment are kept.</summary>
    public sealed class UnregisterModuleOperation : IHsmOperation<UnregisterModuleRequest>
    {
        public Task RunAsync(UnregisterModuleRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.Open(request.HostPath);
            foreach (var text in request.Esns)
            {
                try
                {
                    var esn = Modules.Esn.Parse(text);
                    if (store.GetRegisteredModule(esn) == null)
                        throw new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                            $"Module {esn} is not registered with this host ({store.Root}).", esn);
                    if (!reporter.ShouldProcess(esn, $"Unregister the module from {store.Root}")) continue;
                    store.UnregisterModule(esn);
                }
                catch (HsmException ex) { reporter.Error(ex); }
            }
            return Task.CompletedTask;
        }
    }
}
