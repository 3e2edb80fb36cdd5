using System;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>The vendor's `hsmadmin factorystate`: the module forgets every client key and makes new server keys;
    /// the host forgets its pins.</summary>
    internal sealed partial class ResetOperation
    {
        private readonly HsmHost _host;
        public ResetOperation(HsmHost host) { _host = host; }

        public const string Action = "Return to factory state (erases every client key, regenerates every server key)";

        /// <summary>The vendor's advice before factorystate: a unit in use must be in maintenance mode first.</summary>
        public const string MaintenanceAdvice = "Put each module in maintenance mode before returning it to factory state " +
            "(on the host: nopclearfail -M -m <MODULEID> -w). A reset erases every client key: " +
            "applications using the module lose it until it is enrolled again.";

        /// <summary>The confirmation target when no ESN was named: every module of the host, by ESN.</summary>
        public static string DescribeAll(System.Collections.Generic.IReadOnlyCollection<ModuleAddress> modules) =>
            $"every module of this host ({modules.Count}): {string.Join(", ", System.Linq.Enumerable.Select(modules, m => m.Esn))}";

        public async Task<HsmModuleInfo> ResetAsync(ModuleAddress module, int timeoutSeconds, CancellationToken ct)
        {
            try
            {
                using (var admin = await _host.OpenPinnedAsync(module, ModuleServices.SshAdmin, ct).ConfigureAwait(false))
                using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    ModuleClock.RequireValidForKeyChange(module.Esn, await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false),
                        "the factory reset");
                    deadline.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds + 5));
                    await admin.ReturnToFactoryStateAsync(timeoutSeconds, deadline.Token).ConfigureAwait(false);
                }
            }
            catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.ServerKeyChanged || ex.ErrorId == HsmErrorIds.ConnectionFailed)
            {
                // An earlier run may have reset it and lost the reply: only a module that is now in factory state
                // with keys its certificate chain vouches for lets us go on and forget the pins.
                if (!await IsVerifiedFactoryStateAsync(module, ct).ConfigureAwait(false)) throw;
            }
            CrashPoints.Reach("reset.done");
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                _host.Store.RemovePins(module.Esn);
                _host.Store.RemoveModule(module.Esn);
                _host.Store.AppendAudit(new AuditEntry { Operation = "factorystate", Esn = module.Esn, Result = "Success" });
            }
            return new HsmModuleInfo
            {
                Esn = module.Esn, Mode = ModuleMode.FactoryState.ToString(), Attached = true, Enrolled = false, Status = "NotEnrolled",
                HostPath = _host.Path,
            };
        }

        private async Task<bool> IsVerifiedFactoryStateAsync(ModuleAddress module, CancellationToken ct)
        {
            try
            {
                using (var admin = await _host.OpenAsync(module, ModuleServices.SshAdmin, _host.FactoryCredential(),
                    ServerKeyPolicy.FirstContact(), ct).ConfigureAwait(false))
                {
                    var identity = await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false);
                    return identity.Mode != ModuleMode.Operational
                        && TrustVerification.VerifyAgainstRoots(_host.Store, module.Esn, identity, admin.ServerKey) == null;
                }
            }
            catch (HsmException) { return false; }
        }
    }
}
