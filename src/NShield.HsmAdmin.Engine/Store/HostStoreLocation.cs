using System;
using System.IO;
using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Store
{
    /// <summary>Where a host's store lives: -HostPath &gt; NSHIELD_HSMADMIN_HOME &gt; the system default.</summary>
    public static class HostStoreLocation
    {
        public const string HomeVariable = "NSHIELD_HSMADMIN_HOME";

        public static string SystemDefault => RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "nCipher", "hsmadmin")
            : "/opt/nfast/hsmadmin";

        public static string Resolve(string? explicitPath = null)
        {
            if (!string.IsNullOrWhiteSpace(explicitPath)) return Path.GetFullPath(explicitPath);
            var env = Environment.GetEnvironmentVariable(HomeVariable);
            if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
            return SystemDefault;
        }
    }
}
