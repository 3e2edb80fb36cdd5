using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Discovery
{
    /// <summary>
    /// Where the host's modules are now. The production provider is the host store's registry
    /// (<see cref="RegistryDiscovery"/>, managed with Register-/Unregister-HsmModule); a platform enumeration
    /// (e.g. the vendor's PCIe discovery) would be another implementation.
    /// </summary>
    public interface IModuleDiscovery
    {
        IReadOnlyList<ModuleAddress> Discover(HostStore store);
    }

    /// <summary>The modules registered in the host store (module-registry.json).</summary>
    public sealed class RegistryDiscovery : IModuleDiscovery
    {
        public static readonly RegistryDiscovery Instance = new RegistryDiscovery();

        public IReadOnlyList<ModuleAddress> Discover(HostStore store) =>
            store.GetRegisteredModules().Select(r => r.ToAddress()).ToList();
    }
}
