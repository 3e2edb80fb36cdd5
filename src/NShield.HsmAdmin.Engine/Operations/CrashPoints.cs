using System;
using System.Diagnostics;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Named points between the steps of the multi-step operations. When NSHIELD_HSMADMIN_KILL_AT names
    /// a point, the process kills itself there, exactly as a crash or power loss would stop it: the
    /// fault tests use it to prove that the next run completes or reverts the operation. Unset, it costs
    /// one environment lookup.
    /// </summary>
    public static class CrashPoints
    {
        public const string Variable = "NSHIELD_HSMADMIN_KILL_AT";

        public static void Reach(string point)
        {
            var target = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrEmpty(target) || !string.Equals(target, point, StringComparison.OrdinalIgnoreCase)) return;
            Console.Error.WriteLine($"[crash point] {point}: killing process {Process.GetCurrentProcess().Id}");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
        }
    }
}
