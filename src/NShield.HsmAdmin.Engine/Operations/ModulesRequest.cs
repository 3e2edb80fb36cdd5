using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>A request about chosen modules of one host: which (none: every registered module), how many at once, and
    /// the passphrase of the host's client keys when their protection includes P (asked for when needed and not given).</summary>
    public class ModulesRequest : HostRequest
    {
        /// <summary>The modules by ESN, canonical; empty for every module registered with the host.</summary>
        public IReadOnlyList<string> Esns { get; set; } = Array.Empty<string>();
        /// <summary>How many modules are worked on at the same time.</summary>
        public int ThrottleLimit { get; set; } = 16;
        public SecureString? KeyPassphrase { get; set; }
    }

    /// <summary>
    /// The first steps every command on modules takes, in this order: open the existing store (StoreNotFound, never
    /// created), say when it has no modules, resolve and check the passphrase of the client keys it will open, and pick
    /// the modules asked for (an ESN that is not registered is that item's error; the others go on).
    /// </summary>
    public sealed class HostModules : IDisposable
    {
        private HostModules(HsmHost host, List<ModuleAddress> modules)
        {
            Host = host;
            Modules = modules;
        }

        public HsmHost Host { get; }
        public IReadOnlyList<ModuleAddress> Modules { get; }

        /// <summary>Opens <paramref name="request"/>'s host for a command that <paramref name="what"/> (e.g. "reset").</summary>
        public static HostModules Open(ModulesRequest request, IReadOnlyCollection<string> keyServices, string what, IOperationReporter reporter) =>
            Open(HostStore.OpenExisting(request.HostPath), request, keyServices, what, reporter);

        public static HostModules Open(HostStore store, ModulesRequest request, IReadOnlyCollection<string> keyServices, string what,
            IOperationReporter reporter, string? passphraseAlsoFor = null)
        {
            WarnIfNoModules(store, request.Esns, what, reporter);
            var host = request.OpenHost(store, KeyPassphrases.Resolve(store, request.KeyPassphrase, keyServices, reporter, passphraseAlsoFor));
            try
            {
                KeyPassphrases.Verify(host, keyServices);
                return new HostModules(host, Select(store, host.Attached(), request.Esns, reporter));
            }
            catch
            {
                host.Dispose();
                throw;
            }
        }

        /// <summary>A store with no registered module says so when the command was asked for every module (no -Esn).</summary>
        public static void WarnIfNoModules(HostStore store, IReadOnlyCollection<string> esns, string what, IOperationReporter reporter)
        {
            if (esns.Count > 0) return;
            if (store.GetRegisteredModules().Count == 0 && store.GetModules().Count == 0)
                reporter.Warning($"The host store {store.Root} has no registered modules, so there is nothing to {what}. " +
                    "Register them with Register-HsmModule, or check -HostPath.");
        }

        /// <summary>The registered modules asked for (all when <paramref name="esns"/> is empty); an unknown ESN is its own error.</summary>
        public static List<ModuleAddress> Select(HostStore store, IReadOnlyList<ModuleAddress> attached, IReadOnlyCollection<string> esns,
            IOperationReporter reporter)
        {
            if (esns.Count == 0) return attached.ToList();
            var selected = new List<ModuleAddress>();
            foreach (var esn in esns.Distinct(StringComparer.Ordinal))
            {
                var module = attached.FirstOrDefault(m => m.Esn == esn);
                if (module != null) selected.Add(module);
                else reporter.Error(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                    $"No module {esn} is registered with the host store {store.Root} (Register-HsmModule; another host: -HostPath). " +
                    $"Registered: {(attached.Count == 0 ? "none" : string.Join(", ", attached.Select(m => m.Esn)))}.", esn));
            }
            return selected;
        }

        public void Dispose() => Host.Dispose();
    }
}
