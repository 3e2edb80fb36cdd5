using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// The module registry, module-registry.json: where each module of this host is (address, login, ports).
    /// It is what discovery reads (<see cref="Discovery.RegistryDiscovery"/>); the module list (modules.json)
    /// says which of them are enrolled.
    /// </summary>
    public sealed partial class HostStore
    {
        public string RegistryPath => Path.Combine(Root, "module-registry.json");

        /// <summary>True when the registry file exists (an empty registry is a choice; a missing one may be a loss).</summary>
        public bool HasRegistry => File.Exists(RegistryPath);

        /// <summary>The registrations, each validated as when it was registered (a hand-edited file cannot slip anything past).</summary>
        public IReadOnlyList<ModuleRegistration> GetRegisteredModules()
        {
            var list = StoreJson.ReadFile<List<ModuleRegistration>>(RegistryPath) ?? new List<ModuleRegistration>();
            var valid = new List<ModuleRegistration>();
            foreach (var m in list)
            {
                if (m == null) throw StoreJson.Corrupt(RegistryPath, "it holds an empty entry");
                ModuleRegistration checkedEntry;
                try { checkedEntry = m.Validated(requireTransport: false); }
                catch (HsmException e) { throw StoreJson.Corrupt(RegistryPath, $"the entry for '{m.Esn}' is invalid ({e.Message})", e); }
                if (valid.Any(v => v.Esn == checkedEntry.Esn)) throw StoreJson.Corrupt(RegistryPath, $"{checkedEntry.Esn} is registered twice");
                valid.Add(checkedEntry);
            }
            return valid;
        }

        public ModuleRegistration? GetRegisteredModule(string esn)
        {
            esn = Esn.Parse(esn);
            return GetRegisteredModules().FirstOrDefault(m => m.Esn == esn);
        }

        /// <summary>
        /// Registers where a module is. Everything is validated before anything is written. Registering the same
        /// endpoints again changes nothing (returns false); different endpoints for a registered ESN need
        /// <paramref name="replace"/>, else ModuleAlreadyRegistered. Audited.
        /// </summary>
        public bool RegisterModule(ModuleRegistration registration, bool replace = false)
        {
            var valid = registration.Validated();
            return Write(() =>
            {
                var list = GetRegisteredModules().ToList();
                var existing = list.FirstOrDefault(m => m.Esn == valid.Esn);
                if (existing != null && existing.SameEndpoints(valid)) return false;
                if (existing != null && !replace)
                    throw new HsmException(HsmErrorIds.ModuleAlreadyRegistered, HsmErrorKind.ResourceExists,
                        $"Module {valid.Esn} is already registered at " +
                        $"{existing.ToAddress().Endpoint(ModuleServices.SshAdmin)} (user {existing.User}). " +
                        "Use -Force to replace the registration, or Unregister-HsmModule first.", valid.Esn);
                valid.RegisteredAt = DateTimeOffset.UtcNow;
                list.RemoveAll(m => m.Esn == valid.Esn);
                list.Add(valid);
                StoreJson.WriteFile(RegistryPath, list.OrderBy(m => m.Esn, StringComparer.Ordinal).ToList(), FileAccessScope.Public);
                AppendAudit(new AuditEntry
                {
                    Operation = existing == null ? "registry.add" : "registry.replace", Esn = valid.Esn, Result = "Success",
                    Detail = Describe(valid) + (valid.RegisteredBy == null ? "" : $" by {valid.RegisteredBy}") +
                             (existing == null ? "" : "; was " + Describe(existing)),
                });
                return true;
            });
        }

        static string Describe(ModuleRegistration r) =>
            $"{r.Transport} {r.Address} user {r.User} ports " +
            string.Join(",", ModuleServices.All.Select(s => r.Ports.TryGetValue(s, out var p) ? p.ToString() : "?"));

        /// <summary>Removes a module's registration; false when it was not registered. Pins and enrollment are kept. Audited.</summary>
        public bool UnregisterModule(string esn)
        {
            esn = Esn.Parse(esn);
            return Write(() =>
            {
                var list = GetRegisteredModules().ToList();
                var existing = list.FirstOrDefault(m => m.Esn == esn);
                if (existing == null) return false;
                list.Remove(existing);
                StoreJson.WriteFile(RegistryPath, list, FileAccessScope.Public);
                AppendAudit(new AuditEntry { Operation = "registry.remove", Esn = esn, Result = "Success", Detail = "was " + Describe(existing) });
                return true;
            });
        }
    }
}
