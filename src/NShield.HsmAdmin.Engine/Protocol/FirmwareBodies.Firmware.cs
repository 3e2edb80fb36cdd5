using System;
using System.Text.Json;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>Bodies and reply parsing of the updater's verbs and identity's issue 22 fields (docs/firmware-protocol.md).</summary>
    internal static class FirmwareUpdateBodies
    {
        public static string Chunk(long offset, byte[] data, int count) =>
            JsonSerializer.Serialize(new FirmwareChunkRequest { Offset = offset, Data = Convert.ToBase64String(data, 0, count) },
                FirmwareJson.Default.FirmwareChunkRequest);

        public static string Install(long size, string sha256) =>
            JsonSerializer.Serialize(new FirmwareInstallRequest { Size = size, Sha256 = sha256 }, FirmwareJson.Default.FirmwareInstallRequest);

        public static string SetMinVsn(int vsn) =>
            JsonSerializer.Serialize(new SetMinVsnRequest { Vsn = vsn }, FirmwareJson.Default.SetMinVsnRequest);

        public static long ParseChunk(string esn, FirmwareResult reply) =>
            FirmwareBodies.Read(reply.Result, FirmwareJson.Default.FirmwareChunkResult, FirmwareVerbs.FirmwareChunk, esn).Received;

        public static FirmwareInstallOutcome ParseInstall(string esn, FirmwareResult reply)
        {
            var r = FirmwareBodies.Read(reply.Result, FirmwareJson.Default.FirmwareInstallResult, FirmwareVerbs.FirmwareInstall, esn);
            if (r.Image == null || r.Version == null || !(r.Mode is ModuleMode mode) || !Enum.IsDefined(typeof(ModuleMode), mode))
                throw FirmwareBodies.Malformed(FirmwareVerbs.FirmwareInstall, esn, "'image', 'version' or 'mode' is missing");
            return new FirmwareInstallOutcome
            {
                Image = ModuleErrors.Printable(r.Image, 20),
                PreviousVersion = ModuleErrors.Printable(r.PreviousVersion ?? "", 40),
                Version = ModuleErrors.Printable(r.Version, 40),
                Vsn = r.Vsn,
                Rebooting = r.Rebooting,
                ModeAfter = mode,
            };
        }

        public static int ParseSetMinVsn(string esn, FirmwareResult reply) =>
            FirmwareBodies.Read(reply.Result, FirmwareJson.Default.SetMinVsnResult, FirmwareVerbs.SetMinVsn, esn).MinimumVsn;

        /// <summary>identity's issue 22 fields into the identity (each optional: an older module reports none).</summary>
        public static void ReadIdentityAdditions(IdentityResult r, ModuleIdentity id)
        {
            if (r.Firmware != null)
            {
                if (r.Firmware.Primary != null)
                {
                    if (r.Firmware.Primary.Version != null) id.FirmwareVersion = ModuleErrors.Printable(r.Firmware.Primary.Version, 40);
                    id.FirmwareVsn = r.Firmware.Primary.Vsn;
                }
                id.RecoveryFirmwareVersion = ModuleErrors.Printable(r.Firmware.Recovery?.Version ?? "", 40);
                id.RecoveryFirmwareVsn = r.Firmware.Recovery?.Vsn;
                id.MinimumVsn = r.Firmware.MinimumVsn;
            }
            id.NCoreApiOperational = r.NcoreapiOperational;
            if (!string.IsNullOrEmpty(r.LogKey)) id.LogKey = SshPublicKey.Parse(r.LogKey!);
            id.LogKeyCertificate = r.LogKeyCertificate ?? "";
        }
    }
}
