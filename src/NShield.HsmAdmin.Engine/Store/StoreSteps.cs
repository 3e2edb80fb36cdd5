using System;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Named points between the durable steps of a store change (keys.permission.*), for the same test-only crash hook as
    /// Operations' CrashPoints (which sets this one too). The shipped engine does nothing at them.
    /// </summary>
    internal static class StoreSteps
    {
        internal static Action<string>? Hook;

        public static void Reach(string point) => Hook?.Invoke(point);
    }
}
