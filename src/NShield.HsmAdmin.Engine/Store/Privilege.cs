using System;
using System.IO;
using System.Runtime.InteropServices;

using NShield.HsmAdmin.Interop;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// The vendor's rule: commands that create keys or change configuration need root (Linux) or Administrators
    /// (Windows). Checked up front, so a non-administrator gets one clear error instead of a failure halfway. Skipped for a
    /// store this account owns (a -HostPath store of its own, or one it is about to create outside the system location).
    /// </summary>
    public static class Privilege
    {
        /// <summary>Throws PrivilegeRequired unless this process may change the store at <paramref name="storeRoot"/>.</summary>
        public static void RequireAdministrator(string storeRoot, string action = "")
        {
            if (IsAdministrator() || IsOwnStore(storeRoot)) return;
            var need = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "membership of the Administrators group (an elevated session)"
                : "root (run it with sudo)";
            // The cmdlet's name is already in front of the message PowerShell shows (and is the action): say "this command".
            throw new HsmException(HsmErrorIds.PrivilegeRequired, HsmErrorKind.PermissionDenied,
                $"This command needs {need}: it creates keys or changes the host's configuration " +
                $"in {storeRoot}, which this account ({CurrentAccount()}) " +
                "does not own. Nothing was read or changed.", storeRoot)
            {
                RecommendedAction = "Run it as an administrator; or, to work on a store of your own, give -HostPath <folder> (or set " +
                    "$env:NSHIELD_HSMADMIN_HOME, or $PSDefaultParameterValues['*-Hsm*:HostPath'] once per session). Read-only commands " +
                    "(Get-HsmSshKey, Get-HsmModule -Offline, Test-HsmConnection on a service " +
                    "whose key you were granted with Set-HsmSshKeyPermission) " +
                    "work without it.",
            };
        }

        public static bool IsAdministrator()
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                using (var identity = System.Security.Principal.WindowsIdentity.GetCurrent())
                    return new System.Security.Principal.WindowsPrincipal(identity)
                        .IsInRole(System.Security.Principal.WindowsBuiltInRole.Administrator);
            }
            try { return UnixNative.EffectiveUserId() == 0; }
            catch (EntryPointNotFoundException) { return true; } // no libc geteuid: nothing to check against (documented)
            catch (DllNotFoundException) { return true; }
        }

        /// <summary>A store (or, not created yet, the folder it would go in) owned by this account.</summary>
        static bool IsOwnStore(string storeRoot)
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                // A store under the user's own profile is theirs; the system location is not.
                var profile = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                return !string.IsNullOrEmpty(profile)
                    && Path.GetFullPath(storeRoot).StartsWith(Path.GetFullPath(profile) + Path.DirectorySeparatorChar,
                    StringComparison.OrdinalIgnoreCase);
            }
            UnixNative.FileStatus? status;
            try { status = UnixNative.Stat(Path.GetFullPath(storeRoot)); }
            catch (PlatformNotSupportedException) { return true; }
            catch (UnauthorizedAccessException) { return false; }
            // A store not created yet is this account's own (creating it fails with StoreAccessDenied where it may not),
            // except the system location, which is the administrators'.
            if (status is not { } s)
                return !string.Equals(Path.GetFullPath(storeRoot).TrimEnd('/'), HostStoreLocation.SystemDefault.TrimEnd('/'),
                    StringComparison.Ordinal);
            return s.Owner == UnixNative.EffectiveUserId();
        }

        static string CurrentAccount()
        {
            try
            {
                return RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
                    ? Environment.UserName
                    : $"{UnixNative.EffectiveUserName()}, uid {UnixNative.EffectiveUserId()}";
            }
            catch (Exception) { return Environment.UserName; }
        }
    }
}
