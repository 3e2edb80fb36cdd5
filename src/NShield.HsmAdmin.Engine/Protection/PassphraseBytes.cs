using System;
using System.Runtime.InteropServices;
using System.Security;
using System.Text;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>The only place a SecureString becomes bytes; callers zero the result in a finally.</summary>
    public static class PassphraseBytes
    {
        public static byte[] FromSecureString(SecureString secure)
        {
            IntPtr ptr = IntPtr.Zero;
            char[] chars = new char[secure.Length];
            try
            {
                ptr = Marshal.SecureStringToGlobalAllocUnicode(secure);
                Marshal.Copy(ptr, chars, 0, chars.Length);
                return Encoding.UTF8.GetBytes(chars);
            }
            finally
            {
                Array.Clear(chars, 0, chars.Length);
                if (ptr != IntPtr.Zero) Marshal.ZeroFreeGlobalAllocUnicode(ptr);
            }
        }

        public static void Zero(byte[]? bytes)
        {
            if (bytes != null) Array.Clear(bytes, 0, bytes.Length);
        }
    }
}
