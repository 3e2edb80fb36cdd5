using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>The public keys a host holds (client) and pins (server), as output objects.</summary>
    public static class KeyInventory
    {
        public static IEnumerable<HsmSshKeyInfo> ClientKeys(HostStore store) =>
            ModuleServices.All.Select(store.GetClientKey).Where(k => k != null).Select(k => new HsmSshKeyInfo
            {
                Role = HsmKeyRole.Client, Service = k!.Service, Algorithm = k.Algorithm.ToString(), Fingerprint = k.Fingerprint,
                Protection = k.Protection, InstalledAt = k.InstalledAt.UtcDateTime, PublicKey = k.PublicKey, HostPath = store.Root,
            });

        public static IEnumerable<HsmSshKeyInfo> ServerKeys(HostStore store, string esn)
        {
            var pins = store.GetPins(esn);
            return ModuleServices.All.Where(pins.ContainsKey).Select(s => new HsmSshKeyInfo
            {
                Role = HsmKeyRole.Server, Esn = esn, Service = s, Algorithm = pins[s].Algorithm.ToString(),
                Fingerprint = pins[s].Fingerprint, PublicKey = pins[s].ToAuthorizedKeysLine(), HostPath = store.Root,
            });
        }
    }
}
