using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>The public keys a host holds (client) and pins (server), as output objects.</summary>
    public static class KeyInventory
    {
        public static IEnumerable<HsmSshKeyInfo> ClientKeys(HostStore store)
        {
            var grants = store.GetKeyGrants();
            var now = System.DateTimeOffset.UtcNow;
            return ModuleServices.All.Select(store.GetClientKey).Where(k => k != null).Select(k => new HsmSshKeyInfo
            {
                Role = HsmKeyRole.Client, Service = k!.Service, Algorithm = k.Algorithm.ToString(), Fingerprint = k.Fingerprint,
                Protection = k.Protection, PublicKey = k.PublicKey, HostPath = store.Root,
                StagedAt = k.InstalledAt.UtcDateTime,
                InstalledAt = k.ProvenAt?.UtcDateTime ?? (k.TracksProof ? (System.DateTime?)null : k.EffectiveActivatedAt.UtcDateTime),
                AccessGroup = grants.TryGetValue(k.Service, out var grant) ? grant.Group : "",
                // Unknown stays unknown (a restored key whose backup did not say, a record older than issue 22): never a guess.
                Created = k.CreatedAt?.UtcDateTime,
                Age = k.CreatedAt == null ? (System.TimeSpan?)null : now - k.CreatedAt.Value,
            });
        }

        /// <summary>Every module's pinned server keys, ESN by ESN, from one read of the pin file.</summary>
        public static IEnumerable<HsmSshKeyInfo> ServerKeys(HostStore store) =>
            store.GetAllPins().OrderBy(m => m.Key, System.StringComparer.Ordinal).SelectMany(m =>
                ModuleServices.All.Where(m.Value.ContainsKey).Select(s => new HsmSshKeyInfo
                {
                    Role = HsmKeyRole.Server, Esn = m.Key, Service = s, Algorithm = m.Value[s].Algorithm.ToString(),
                    Fingerprint = m.Value[s].Fingerprint, PublicKey = m.Value[s].ToAuthorizedKeysLine(), HostPath = store.Root,
                }));
    }
}
