using System;
using System.Collections.Generic;
using System.Linq;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>Turns the bus's records into the addresses the transports use.</summary>
    public static class ModuleAddresses
    {
        public static IReadOnlyList<ModuleAddress> Attached(string hostPath) =>
            ModuleBus.Read(hostPath).Select(From).ToList();

        public static ModuleAddress From(AttachedModule m) => new ModuleAddress(
            m.Esn,
            m.IsInProcess ? ModuleTransportKind.InProcess : ModuleTransportKind.Ssh,
            m.Address,
            // Simulated endpoints log in as the account that started them: the current user.
            Environment.UserName,
            new Dictionary<string, int>(m.Ports, StringComparer.Ordinal),
            m.ModuleDir);
    }
}
