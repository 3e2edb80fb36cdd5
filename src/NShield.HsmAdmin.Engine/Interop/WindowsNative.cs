using System.Runtime.InteropServices;

namespace NShield.HsmAdmin.Interop
{
    /// <summary>Every Win32 call of the product and the simulator (one interop file per OS; see UnixNative for Linux/macOS).</summary>
    internal static class WindowsNative
    {
        [DllImport("kernel32.dll", SetLastError = true)]
        static extern uint GetSystemFirmwareTable(uint provider, uint tableId, byte[]? buffer, uint size);

        const uint Rsmb = 0x52534D42; // 'RSMB'

        /// <summary>The raw SMBIOS table (GetSystemFirmwareTable 'RSMB'), or null.</summary>
        public static byte[]? ReadSmbiosTable()
        {
            uint size = GetSystemFirmwareTable(Rsmb, 0, null, 0);
            if (size == 0) return null;
            var buffer = new byte[size];
            return GetSystemFirmwareTable(Rsmb, 0, buffer, size) == size ? buffer : null;
        }
    }
}
