using NShield.HsmAdmin.Hardserver;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>The hardserver questions the cmdlets ask: its status, and a restart (audited).</summary>
    public static class HardserverStatus
    {
        public static HsmHardserverInfo Read(HsmHost host)
        {
            var hardserver = host.Hardserver;
            var state = hardserver.GetState();
            return new HsmHardserverInfo
            {
                Description = hardserver.Description,
                Running = state.Running,
                ProcessId = state.ProcessId,
                StartedAt = state.StartedAt,
                NcoreapiKeyActivatedAt = host.Store.GetClientKey(ModuleServices.NCoreApi)?.EffectiveActivatedAt,
                KeyCurrent = HardserverKeyState.IsKeyCurrent(state, host.Store),
                UnknownReason = state.UnknownReason,
                HostPath = host.Path,
            };
        }

        /// <summary>Restarts the host's hardserver and reports what runs now. Audited, success or failure.</summary>
        public static HsmHardserverInfo Restart(HsmHost host)
        {
            var hardserver = host.Hardserver;
            HardserverKeyState.WaitPastActivation(host.Store);
            try { hardserver.Restart(); }
            catch (HsmException ex)
            {
                host.Store.AppendAudit(new AuditEntry { Operation = "hardserver.restart", Result = ex.ErrorId, Detail = hardserver.Description });
                throw;
            }
            host.Store.AppendAudit(new AuditEntry { Operation = "hardserver.restart", Result = "Success", Detail = hardserver.Description });
            return Read(host);
        }
    }
}
