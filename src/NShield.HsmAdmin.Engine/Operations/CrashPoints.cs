using System;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Named points between the steps of the multi-step operations (roll.switching, move.proven, ...). The shipped
    /// engine does nothing at them: no environment variable or setting reaches this hook. Only test code, through
    /// InternalsVisibleTo (tests/NShield.HsmAdmin.TestHooks, never shipped), sets <see cref="Hook"/> to stop the process
    /// at a point exactly as a crash would, to prove the next run completes or reverts the operation.
    /// </summary>
    internal static class CrashPoints
    {
        static Action<string>? _hook;

        /// <summary>Also reaches the store's own steps (<see cref="Store.StoreSteps"/>: the store sits below Operations).</summary>
        internal static Action<string>? Hook
        {
            get => _hook;
            set { _hook = value; Store.StoreSteps.Hook = value; }
        }

        public static void Reach(string point) => _hook?.Invoke(point);
    }
}
