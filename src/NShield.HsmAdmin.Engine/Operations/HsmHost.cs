using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// One host as the operations see it: its store, the modules its bus reports as attached, and a
    /// transport per module. Opened per cmdlet invocation; client keys are decrypted at most once.
    /// </summary>
    public sealed class HsmHost : IDisposable
    {
        private readonly ConcurrentDictionary<string, SshKeyPair> _openKeys = new ConcurrentDictionary<string, SshKeyPair>();
        private readonly SecureString? _userPassphrase;

        public HsmHost(HostStore store, SecureString? userPassphrase = null, IModuleTransport? sshTransport = null)
        {
            Store = store;
            _userPassphrase = userPassphrase;
            SshTransport = sshTransport ?? new SshModuleTransport();
        }

        public static HsmHost Open(string? hostPath, SecureString? userPassphrase = null) =>
            new HsmHost(HostStore.Open(hostPath), userPassphrase);

        public HostStore Store { get; }
        public string Path => Store.Root;
        public IModuleTransport SshTransport { get; }
        public IModuleTransport InProcessTransport { get; } = new InProcessModuleTransport();

        public IModuleTransport TransportFor(ModuleAddress module) =>
            module.Transport == ModuleTransportKind.InProcess ? InProcessTransport : SshTransport;

        /// <summary>The modules the host's bus reports as attached now (the PCIe enumeration).</summary>
        public IReadOnlyList<ModuleAddress> Attached() => ModuleAddresses.Attached(Store.Root);

        public ModuleAddress? FindAttached(string esn) =>
            Attached().FirstOrDefault(m => string.Equals(m.Esn, esn, StringComparison.OrdinalIgnoreCase));

        public bool HasClientKeys => ModuleServices.All.All(s => Store.GetClientKey(s) != null);

        /// <summary>The host's private client key for a service, decrypted once per host object.</summary>
        public SshKeyPair ClientKey(string service)
        {
            return _openKeys.GetOrAdd(service, s =>
            {
                if (Store.GetClientKey(s) == null)
                    throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                        $"This host ({Store.Root}) has no {s} client key. Run Invoke-HsmEnroll to create and install keys, " +
                        "or Restore-HsmSshKey if they were lost and you have a backup.", s);
                return Store.OpenClientKey(s, _userPassphrase);
            });
        }

        /// <summary>Forgets a decrypted key (after a roll switched the host to a new one).</summary>
        public void ForgetClientKey(string service)
        {
            if (_openKeys.TryRemove(service, out var key)) key.Dispose();
        }

        /// <summary>Opens a channel that must present the pinned server key and authenticates with the given (or the host's) key.</summary>
        public Task<IModuleChannel> OpenPinnedAsync(ModuleAddress module, string service, CancellationToken ct, SshKeyPair? credential = null)
        {
            var pin = Store.GetPin(module.Esn, service);
            if (pin == null)
                throw new HsmException(HsmErrorIds.ServerKeyNotPinned, HsmErrorKind.SecurityError,
                    $"This host has no pinned {service} server key for module {module.Esn}, so it will not connect. Run Invoke-HsmEnroll for the module.", module.Esn);
            return TransportFor(module).OpenAsync(module, service, credential ?? ClientKey(service),
                ServerKeyPolicy.Pinned(pin, Store.KnownHostsPath), ct);
        }

        /// <summary>Proves a channel end to end: pinned server key, the given (or the host's) client key, firmware answers.</summary>
        public async Task PingAsync(ModuleAddress module, string service, CancellationToken ct, SshKeyPair? credential = null)
        {
            using (var channel = await OpenPinnedAsync(module, service, ct, credential).ConfigureAwait(false))
                await channel.InvokeAsync("ping", null, ct).ConfigureAwait(false);
        }

        public void Dispose()
        {
            foreach (var key in _openKeys.Values) key.Dispose();
            _openKeys.Clear();
        }
    }
}
