using NShield.HsmAdmin.Modules;
using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>The host's module list, modules.json (an array of <see cref="ModuleRecord"/>, ordered by ESN).</summary>
    public sealed partial class HostStore
    {
        public IReadOnlyList<ModuleRecord> GetModules()
        {
            var list = StoreJson.ReadFile<List<ModuleRecord>>(ModulesPath) ?? new List<ModuleRecord>();
            foreach (var m in list)
                if (!Esn.TryParse(m?.Esn, out _))
                    throw StoreJson.Corrupt(ModulesPath, $"'{m?.Esn}' is not an ESN");
            return list;
        }

        public ModuleRecord? GetModule(string esn)
        {
            esn = Esn.Parse(esn);
            return GetModules().FirstOrDefault(m => m.Esn == esn);
        }

        /// <summary>Adds or replaces the record of <c>record.Esn</c> (canonicalised); sets UpdatedAt.</summary>
        public ModuleRecord UpsertModule(ModuleRecord record)
        {
            record.Esn = Esn.Parse(record.Esn);
            return Write(() =>
            {
                var list = GetModules().Where(m => m.Esn != record.Esn).ToList();
                record.UpdatedAt = DateTimeOffset.UtcNow;
                list.Add(record);
                StoreJson.WriteFile(ModulesPath, list.OrderBy(m => m.Esn, StringComparer.Ordinal).ToList(), FileAccessScope.Public);
                return record;
            });
        }

        public bool RemoveModule(string esn)
        {
            esn = Esn.Parse(esn);
            return Write(() =>
            {
                var list = GetModules().ToList();
                if (list.RemoveAll(m => m.Esn == esn) == 0) return false;
                StoreJson.WriteFile(ModulesPath, list, FileAccessScope.Public);
                return true;
            });
        }
    }
}
