using System;
using System.Security;
using System.Text;
using NShield.HsmAdmin.Protection;

namespace NShield.HsmAdmin.Tests.Protection
{
    /// <summary>A machine with chosen S/B/G (null = this machine lacks it).</summary>
    internal sealed class FakeMachineIdentity : IMachineIdentity
    {
        public string? SystemUuid;
        public string? Baseboard;
        public byte[]? GlobalNonce;

        public FakeMachineIdentity(string? systemUuid = null, string? baseboard = null, byte[]? globalNonce = null)
        {
            SystemUuid = systemUuid;
            Baseboard = baseboard;
            GlobalNonce = globalNonce;
        }

        public static FakeMachineIdentity Full(string tag) => new FakeMachineIdentity(
            "4C4C4544-0000-" + tag + "-8000-B1C04F4B4E32", "BOARD-" + tag, Encoding.ASCII.GetBytes(("global-" + tag).PadRight(32, '.')));

        public string Description => "fake machine";

        public byte[] GetSystemUuid() => SystemUuid != null ? Encoding.UTF8.GetBytes(SystemUuid)
            : throw new ProtectionInputUnavailableException(ProtectionInput.SystemUuid, UnavailableReason.Absent, "fake: no system UUID");

        public byte[] GetBaseboardId() => Baseboard != null ? Encoding.UTF8.GetBytes(Baseboard)
            : throw new ProtectionInputUnavailableException(ProtectionInput.BaseboardId, UnavailableReason.Absent, "fake: no baseboard");

        public byte[] GetGlobalNonce(bool createIfMissing)
        {
            if (GlobalNonce == null && createIfMissing) GlobalNonce = Guid.NewGuid().ToByteArray();
            return GlobalNonce != null ? (byte[])GlobalNonce.Clone()
                : throw new ProtectionInputUnavailableException(ProtectionInput.GlobalNonce, UnavailableReason.Absent, "fake: no global nonce");
        }
    }

    internal static class Secure
    {
        public static SecureString String(string s)
        {
            var ss = new SecureString();
            foreach (var c in s) ss.AppendChar(c);
            ss.MakeReadOnly();
            return ss;
        }
    }
}
