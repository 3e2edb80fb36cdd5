using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>The firmware error codes of issue 22 as the typed refusals every adapter raises (ModuleRefusals).</summary>
    internal static class FirmwareRefusals
    {
        public static HsmException? Map(string esn, string verb, string code, string message)
        {
            var detail = message.Length > 0 ? message : code;
            var what = $"'{verb}'";
            switch (code)
            {
                case FirmwareErrorCodes.NCoreApi: return ModuleRefusals.NCoreApiOperational(esn, what, detail);
                case FirmwareErrorCodes.LogFull: return ModuleRefusals.LogFull(esn, what, detail);
                case FirmwareErrorCodes.Package: return ModuleRefusals.PackageInvalid(esn, detail);
                case FirmwareErrorCodes.Signature: return ModuleRefusals.SignatureInvalid(esn, detail);
                case FirmwareErrorCodes.Vsn:
                    return verb == FirmwareVerbs.SetMinVsn ? ModuleRefusals.MinimumVsnInvalid(esn, detail) : ModuleRefusals.VsnTooLow(esn, detail);
                default: return null;
            }
        }
    }
}
