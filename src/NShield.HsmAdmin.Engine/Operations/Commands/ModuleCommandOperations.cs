using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Reset-HsmModule: the modules to return to factory state (each within the request's module timeout).</summary>
    public sealed class ResetModuleRequest : ModulesRequest
    {
    }

    /// <summary>Reset-HsmModule (the vendor's hsmadmin factorystate); every module without -Esn, one question listing them.</summary>
    public sealed class ResetModuleOperation : IHsmOperation<ResetModuleRequest>
    {
        public async Task RunAsync(ResetModuleRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var opened = HostModules.Open(request, new[] { ModuleServices.SshAdmin }, "reset", reporter))
                await new ResetOperation(opened.Host).ResetAllAsync(opened.Modules.ToList(), request.Esns.Count == 0, request.ModuleTimeoutSeconds,
                    request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Test-HsmConnection: the services to test (empty: all six), and whether to report each or one $true/$false.</summary>
    public sealed class TestConnectionRequest : ModulesRequest
    {
        public IReadOnlyList<string> Services { get; set; } = Array.Empty<string>();
        public bool Detailed { get; set; }
    }

    /// <summary>Test-HsmConnection: per module and service, the pin matches and the host's key authenticates.</summary>
    public sealed class TestConnectionOperation : IHsmOperation<TestConnectionRequest>
    {
        public async Task RunAsync(TestConnectionRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var services = request.Services.Count == 0 ? ModuleServices.All.ToArray() : request.Services.Select(ModuleServices.Canonical).ToArray();
            using (var opened = HostModules.Open(request, services, "test", reporter))
            {
                var modules = opened.Modules.ToList();
                var results = await new ModuleInspection(opened.Host)
                    .TestAllAsync(modules, services, request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
                var open = OpenOperations.Warn(opened.Host.Store, reporter);
                foreach (var r in results)
                {
                    r.HostPath = opened.Host.Store.Root;
                    if (open != null && open.PendingModules.Contains(r.Esn, StringComparer.Ordinal)) r.OpenOperation = open.Summary;
                    if (request.Detailed) reporter.Result(r);
                }
                if (!request.Detailed) reporter.Result(ModuleInspection.AllPassed(modules, services, results));
            }
        }
    }

    /// <summary>Update-HsmServerKeyPin: the modules to re-pin, and which services (empty: every service whose key changed).</summary>
    public sealed class RepinRequest : ModulesRequest
    {
        public IReadOnlyList<string> Services { get; set; } = Array.Empty<string>();
    }

    /// <summary>
    /// Update-HsmServerKeyPin: the explicit re-pin of an enrolled module's server keys. Shows old and new fingerprints per
    /// service and asks twice, No by default (-Confirm:$false answers both); re-pins and audits.
    /// </summary>
    public sealed class UpdateServerKeyPinOperation : IHsmOperation<RepinRequest>
    {
        public async Task RunAsync(RepinRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var services = request.Services.Select(ModuleServices.Canonical).Distinct().ToList();
            using (var opened = HostModules.Open(request, new[] { ModuleServices.SshAdmin }, "re-pin", reporter))
                await new RepinOperation(opened.Host).RepinAllAsync(opened.Modules, services, reporter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Get-HsmLog: entries at or after a time, the newest N of each module.</summary>
    public sealed class GetLogRequest : ModulesRequest
    {
        /// <summary>The most entries read from each module (the largest -Tail).</summary>
        public const int MaxTail = 1000;

        public DateTimeOffset? Since { get; set; }
        public int? Tail { get; set; }
        /// <summary>Also save the entries read to this new file (a full path), as JSON; needed by <see cref="Clear"/>.</summary>
        public string? Path { get; set; }
        /// <summary>After the entries are saved, clear exactly those on each module (the vendor's logs retrieves and clears).</summary>
        public bool Clear { get; set; }
    }

    /// <summary>Get-HsmLog: the vendor's hsmadmin logs: the commands each module served, read over its monitor channel.</summary>
    public sealed class GetLogOperation : IHsmOperation<GetLogRequest>
    {
        public async Task RunAsync(GetLogRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var opened = HostModules.Open(request, new[] { ModuleServices.Monitor }, "read logs from", reporter))
            {
                var entries = request.Path == null
                    ? await new ModuleLogOperation(opened.Host)
                        .ReadAllAsync(opened.Modules, request.Since, request.Tail, request.ThrottleLimit, reporter, cancellationToken)
                        .ConfigureAwait(false)
                    : await new ModuleLogRetention(opened.Host).ReadSaveClearAsync(opened.Modules, request.Since, request.Tail, request.Path,
                        request.Clear, request.ThrottleLimit, reporter, cancellationToken).ConfigureAwait(false);
                foreach (var entry in entries) reporter.Result(entry);
            }
        }
    }

    /// <summary>Set-HsmSshKeyPermission: the service whose client key a group may read (null group: owner-only again).</summary>
    public sealed class KeyPermissionRequest : HostRequest
    {
        public string Service { get; set; } = "";
        public string? Group { get; set; }
    }

    /// <summary>Set-HsmSshKeyPermission: lets a group use one service's client key, or makes it owner-only again.</summary>
    public sealed class SetKeyPermissionOperation : IHsmOperation<KeyPermissionRequest>
    {
        public Task RunAsync(KeyPermissionRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenForKeyPermissions(request.HostPath);
            var service = ModuleServices.Canonical(request.Service);
            var what = request.Group == null ? "Make the client key readable by its owner only" : $"Let group '{request.Group}' read the client key";
            if (!reporter.ShouldProcess($"{service} client key in {store.Root}", what)) return Task.CompletedTask;
            if (request.Group == null)
            {
                if (!store.RevokeKeyAccess(service)) reporter.Warning($"The {service} client key had no group grant; it is owner-only.");
            }
            else store.GrantKeyAccess(service, request.Group);
            foreach (var key in KeyInventory.ClientKeys(store).Where(k => k.Service == service)) reporter.Result(key);
            return Task.CompletedTask;
        }
    }

    /// <summary>An open key roll or restore, made visible where an operator looks (issue 21).</summary>
    public static class OpenOperations
    {
        /// <summary>
        /// One line saying what roll or restore is open and the command that finishes (or reverts) it; null when none is open
        /// (or its journal cannot be read).
        /// </summary>
        public static string? Describe(HostStore store) => Read(store)?.Describe();

        /// <summary>Warns when a roll or restore is open and returns it.</summary>
        internal static OpenOperation? Warn(HostStore store, IOperationReporter reporter)
        {
            var open = Read(store);
            if (open != null) reporter.Warning(open.Describe());
            return open;
        }

        /// <summary>The open roll or restore, or null; a journal that cannot be read is left to the command that uses it.</summary>
        internal static OpenOperation? Read(HostStore store)
        {
            try { return OpenOperation.Read(store); }
            catch (HsmException) { return null; }
        }
    }
}

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Restart-HsmModule: the modules to reboot, into the recovery image or not.</summary>
    public sealed class RestartRequest : ModulesRequest
    {
        /// <summary>Boot the recovery image, as with the recovery button held.</summary>
        public bool Recovery { get; set; }
    }

    /// <summary>Restart-HsmModule (the vendor's hsmadmin reset): reboots each module and waits, within the timeout, until it answers.</summary>
    public sealed class RestartModulesOperation : IHsmOperation<RestartRequest>
    {
        public async Task RunAsync(RestartRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            using (var opened = HostModules.Open(request, new[] { ModuleServices.SshAdmin }, "restart", reporter))
                await new RestartOperation(opened.Host).RestartAllAsync(opened.Modules, request, reporter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Set-HsmModuleTime: the modules whose clock is set from the host's UTC time, stepped or slewed.</summary>
    public sealed class SetTimeRequest : ModulesRequest
    {
        /// <summary>Slew the (valid) clock gradually instead of stepping it.</summary>
        public bool Adjust { get; set; }
    }

    /// <summary>Set-HsmModuleTime (the vendor's hsmadmin settime [--adjust]).</summary>
    public sealed class SetModuleTimeOperation : IHsmOperation<SetTimeRequest>
    {
        public async Task RunAsync(SetTimeRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            // A host without client keys reaches its (factory-state) modules with the factory credential only.
            var services = store.GetClientKey(ModuleServices.SshAdmin) == null ? Array.Empty<string>() : new[] { ModuleServices.SshAdmin };
            using (var opened = HostModules.Open(store, request, services, "set the clock of", reporter))
                await new ModuleTimeOperation(opened.Host, request.Overrides?.Clock).SetAllAsync(opened.Modules, request, reporter, cancellationToken)
                    .ConfigureAwait(false);
        }
    }
}
