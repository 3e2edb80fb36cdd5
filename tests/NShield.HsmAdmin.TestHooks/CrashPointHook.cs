using System;
using System.Diagnostics;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.TestHooks
{
    /// <summary>
    /// Fault tests only: when NSHIELD_HSMADMIN_KILL_AT names a crash point, the process kills itself there, exactly as
    /// a crash or power loss would stop it. Loaded into the product's context by the test (pester/TestSupport.psm1).
    /// </summary>
    public static class CrashPointHook
    {
        public const string Variable = "NSHIELD_HSMADMIN_KILL_AT";

        /// <summary>Installs the hook when the variable is set; returns the point it will stop at (null: none).</summary>
        public static string? InstallFromEnvironment()
        {
            var target = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrEmpty(target)) return null;
            CrashPoints.Hook = point =>
            {
                if (!string.Equals(target, point, StringComparison.OrdinalIgnoreCase)) return;
                Console.Error.WriteLine($"[crash point] {point}: killing process {Process.GetCurrentProcess().Id}");
                Console.Error.Flush();
                Process.GetCurrentProcess().Kill();
            };
            return target;
        }
    }
}
