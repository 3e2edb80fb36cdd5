using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>Read-only questions to modules: status (Get-HsmModule) and channel checks (Test-HsmConnection).</summary>
    internal sealed partial class ModuleInspection
    {
        private readonly HsmHost _host;

        // Read once per inspection: the same for every module, and finding the process may start a program (Windows).
        private readonly Lazy<bool?> _keyCurrent;

        public ModuleInspection(HsmHost host)
        {
            _host = host;
            _keyCurrent = new Lazy<bool?>(() => HardserverKeyState.IsKeyCurrent(host.Hardserver.GetState(), host.Store));
        }

        /// <summary>The host's list and the registry together: registered modules first, then listed ones no longer registered.</summary>
        public IReadOnlyList<(string Esn, ModuleAddress? Address, ModuleRecord? Record)> Known()
        {
            var attached = _host.Attached();
            var records = _host.Store.GetModules();
            var all = new List<(string Esn, ModuleAddress? Address, ModuleRecord? Record)>();
            foreach (var a in attached)
                all.Add((a.Esn, a, records.FirstOrDefault(r => r.Esn == a.Esn.Value)));
            foreach (var r in records.Where(r => !attached.Any(a => a.Esn.Value == r.Esn)))
                all.Add((r.Esn, null, r));
            return all;
        }

        public async Task<HsmModuleInfo> StatusAsync(string esn, ModuleAddress? address, ModuleRecord? record, bool live, CancellationToken ct)
        {
            var info = new HsmModuleInfo
            {
                Esn = esn,
                Attached = address != null,
                Enrolled = record?.Status == ModuleStatus.Enrolled,
                Status = address == null ? "Detached" : record == null ? "NotEnrolled" : record.Status.ToString(),
                HostPath = _host.Path,
                HardserverKeyCurrent = _keyCurrent.Value,
            };
            if (address != null)
            {
                info.Address = address.Host;
                info.User = address.User;
                info.Transport = address.Transport;
                foreach (var port in address.Ports) info.Ports[port.Key] = port.Value;
            }
            if (address != null)
                foreach (var service in ModuleServices.All)
                    info.Endpoints[service] = address.Endpoint(service);
            if (!live || address == null || record?.Status == ModuleStatus.Released) return info;

            var identity = await AskIdentityAsync(address, ct, async channel =>
            {
                // On the channel the identity came over: the keys this module holds against the host's (issue 12, keys show).
                if (record?.Status == ModuleStatus.Enrolled)
                    info.KeyDrift = KeyDrift.Summarize(await KeyDrift.ReadAsync(_host, channel, ct).ConfigureAwait(false));
            }).ConfigureAwait(false);
            info.Mode = identity.Mode.ToString();
            info.FirmwareVersion = identity.FirmwareVersion;
            // The offset as read now; the reply's transit time (milliseconds) is below what a module clock is set to.
            info.ClockValid = identity.ClockValid;
            if (identity.ClockValid && identity.Clock != null)
                info.ClockOffsetSeconds = Math.Round((identity.Clock.Value - DateTimeOffset.UtcNow).TotalSeconds, 1);
            info.RecoveryFirmwareVersion = ModuleErrors.Printable(identity.RecoveryFirmwareVersion, 40);
            info.FirmwareVsn = identity.FirmwareVsn;
            info.RecoveryFirmwareVsn = identity.RecoveryFirmwareVsn;
            info.MinimumVsn = identity.MinimumVsn;
            info.NCoreApiOperational = identity.NCoreApiOperational;
            return info;
        }

        /// <summary>identity over sshadmin: with the host's key on the pinned server key, else (factory state) the default credential.</summary>
        private async Task<ModuleIdentity> AskIdentityAsync(ModuleAddress address, CancellationToken ct,
            Func<IModuleSession, Task>? alsoWithHostKey = null)
        {
            var pin = _host.Store.GetPin(address.Esn, ModuleServices.SshAdmin);
            _host.TransportFor(address); // UnknownTransport before anything is opened
            if (pin != null && _host.HasClientKeys)
            {
                try
                {
                    // A module excluded from a roll still accepts only the archived sshadmin key.
                    using (var archived = KeyDrift.ArchivedSshAdminKey(_host, address.Esn))
                    using (var channel = await _host.OpenPinnedAsync(address, ModuleServices.SshAdmin, ct, archived).ConfigureAwait(false))
                    {
                        var identity = await ModuleIdentityReader.ReadAsync(channel, ct).ConfigureAwait(false);
                        if (alsoWithHostKey != null) await alsoWithHostKey(channel).ConfigureAwait(false);
                        return identity;
                    }
                }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.AuthenticationFailed) { /* maybe factory state: ask below */ }
            }
            // The default credential is public; with a pin, the pin still has to match.
            var policy = pin != null ? ServerKeyPolicy.Pinned(pin, _host.Store.KnownHostsPath) : ServerKeyPolicy.FirstContact();
            using (var channel = await _host.OpenAsync(address, ModuleServices.SshAdmin, _host.FactoryCredential(), policy, ct).ConfigureAwait(false))
                return await ModuleIdentityReader.ReadAsync(channel, ct).ConfigureAwait(false);
        }

        /// <summary>One channel: pinned server key presented, host key accepted, firmware answers.</summary>
        public async Task<HsmConnectionTestResult> TestAsync(ModuleAddress address, string service, CancellationToken ct)
        {
            var result = new HsmConnectionTestResult { Esn = address.Esn, Service = service, Endpoint = address.Endpoint(service) };
            var clock = Stopwatch.StartNew();
            try
            {
                using (var channel = await _host.OpenPinnedAsync(address, service, ct).ConfigureAwait(false))
                {
                    result.PinMatches = true;
                    result.Authenticated = true;
                    await channel.PingAsync(ct).ConfigureAwait(false);
                    result.Success = true;
                }
            }
            catch (HsmException ex)
            {
                // Authentication comes after the pin check, so a refused key still proves the pin.
                result.PinMatches = ex.ErrorId == HsmErrorIds.AuthenticationFailed || ex.ErrorId == HsmErrorIds.ModuleError;
                result.Authenticated = ex.ErrorId == HsmErrorIds.ModuleError;
                result.ErrorId = ex.ErrorId;
                result.Message = ex.Message;
                result.Error = ex;
            }
            result.ElapsedMs = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
            return result;
        }
    }
}
