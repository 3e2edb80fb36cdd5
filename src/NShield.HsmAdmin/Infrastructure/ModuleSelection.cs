using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Drivers;

namespace NShield.HsmAdmin.Commands
{
    internal static class ModuleSelection
    {
        /// <summary>
        /// The registered modules the user asked for (all when no -Esn); an ESN that is not registered gets
        /// its own non-terminating error so the others go on.
        /// </summary>
        public static List<ModuleAddress> Select(HsmCmdlet cmdlet, IReadOnlyList<ModuleAddress> attached, IReadOnlyCollection<string> esns)
        {
            if (esns.Count == 0) return attached.ToList();
            var selected = new List<ModuleAddress>();
            foreach (var esn in esns.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var module = attached.FirstOrDefault(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase));
                if (module != null) selected.Add(module);
                else cmdlet.WriteError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.UnknownModule, HsmErrorKind.ObjectNotFound,
                    $"No module {esn} is registered with this host (Register-HsmModule). Registered: {(attached.Count == 0 ? "none" : string.Join(", ", attached.Select(m => m.Esn)))}.", esn)));
            }
            return selected;
        }
    }
}
