using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Firmware 13.5+ refuses SSH key changes while the module's clock is invalid, unless the module is in Recovery mode
    /// (where the clock can be set). The host checks the module's own identity report before it changes keys on it, so
    /// nothing is changed on host or module; a module that refuses anyway (E_CLOCK) gives the same id.
    /// </summary>
    internal static class ModuleClock
    {
        /// <summary>True when the module would accept a key change as far as its clock goes.</summary>
        public static bool AllowsKeyChanges(ModuleIdentity identity) => identity.ClockValid || identity.Mode == ModuleMode.Recovery;

        /// <summary>Throws ModuleClockInvalid when the module reports an invalid clock outside Recovery mode.</summary>
        public static void RequireValidForKeyChange(string esn, ModuleIdentity identity, string what)
        {
            if (AllowsKeyChanges(identity)) return;
            throw Refused(esn, what, identity.Clock == null ? "its clock is invalid" : $"its clock reads {identity.Clock.Value.UtcDateTime:u}");
        }

        public static HsmException Refused(string esn, string what, string detail) => ModuleErrors.ClockInvalid(esn, what, detail);

        /// <summary>
        /// Before a fleet-wide change: reads each module's identity (pinned sshadmin channel, the host's key) and refuses the
        /// whole command when any reports an invalid clock. Modules that cannot be asked are left to the operation itself.
        /// </summary>
        public static async Task RequireValidAsync(HsmHost host, IEnumerable<ModuleAddress> modules, string what, CancellationToken ct,
            Keys.SshKeyPair? credential = null)
        {
            var checks = modules.Select(async m =>
            {
                try
                {
                    // credential: the sshadmin key the modules accept, when it is not yet the host's (a restore).
                    using (var admin = await host.OpenPinnedAsync(m, ModuleServices.SshAdmin, ct, credential).ConfigureAwait(false))
                        return (Module: m, Identity: (ModuleIdentity?)await ModuleIdentityReader.ReadAsync(admin, ct).ConfigureAwait(false));
                }
                catch (HsmException) { return (Module: m, Identity: (ModuleIdentity?)null); }
            }).ToList();
            foreach (var (module, identity) in await Task.WhenAll(checks).ConfigureAwait(false))
                if (identity != null) RequireValidForKeyChange(module.Esn, identity, what);
        }
    }
}
