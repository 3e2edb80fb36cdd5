using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Simulation;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// The updater service of the simulated module (issue 22 item 3): firmware packages received in parts, checked (whole,
    /// vendor-signed, VSN at or above the minimum) before anything changes, installed, then a restart; the minimum VSN; and
    /// the ncoreapi interlock every change of this kind is subject to (item 6). See docs/firmware-protocol.md.
    /// </summary>
    internal static class FirmwareUpdater
    {
        /// <summary>ncoreapi is operational: running (normal mode) with a hardserver session open.</summary>
        public static bool NCoreApiOperational(ModuleState s) => s.NCoreApiSession && s.Mode == ModuleMode.Operational;

        public static FirmwareInfo Images(ModuleState s) => new FirmwareInfo
        {
            Primary = new FirmwareImageInfo { Version = s.FirmwareVersion, Vsn = s.FirmwareVsn },
            Recovery = new FirmwareImageInfo { Version = s.RecoveryFirmwareVersion, Vsn = s.RecoveryFirmwareVsn },
            MinimumVsn = s.MinimumVsn,
        };

        /// <summary>Refuses a change the module's state forbids now; runs before the body is read and changes nothing.</summary>
        public static void CheckInterlocks(ModuleLayout l, ModuleState s, string verb)
        {
            if (FirmwareVerbs.BlockedWhileNCoreApiOperational(verb) && NCoreApiOperational(s))
                throw new FirmwareError(FirmwareErrorCodes.NCoreApi,
                    $"'{verb}' is refused while ncoreapi is operational (a hardserver session is open); stop the hardserver and retry");
            if (FirmwareVerbs.BlockedPastLogCapacity(verb) && ModuleLog.Count(l) is int count && count >= s.LogCapacity)
                throw new FirmwareError(FirmwareErrorCodes.LogFull,
                    $"'{verb}' is refused: the log holds {count} entries, past its safe working capacity of {s.LogCapacity}; retrieve and clear it");
        }

        public static void PrepareChunk(ModuleLayout l, FirmwareChunkRequest body, out Action commit, out Func<string> result)
        {
            if (body.Offset is not long offset || offset < 0)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'offset' (integer >= 0) is required");
            byte[] data;
            var text = body.Data ?? throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'data' (base64) is required");
            try { data = Convert.FromBase64String(text); }
            catch (FormatException) { throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'data' is not base64"); }
            long staged = offset == 0 || !File.Exists(l.FirmwareStaging) ? 0 : new FileInfo(l.FirmwareStaging).Length;
            if (offset != staged)
                throw new FirmwareError(FirmwareErrorCodes.BadRequest,
                    $"'offset' {offset} does not continue the staged package ({staged} bytes); start again at 0");
            if (offset + data.LongLength > FirmwarePackage.MaxBytes)
                throw new FirmwareError(FirmwareErrorCodes.TooLarge, $"a firmware package is at most {FirmwarePackage.MaxBytes} bytes");
            long received = offset + data.LongLength;
            commit = () =>
            {
                using (var fs = new FileStream(l.FirmwareStaging, offset == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None))
                    fs.Write(data, 0, data.Length);
            };
            result = () => ReplyWriter.Ok(new FirmwareChunkResult { Received = received }, FirmwareJson.Default.FirmwareChunkResult);
        }

        public static void PrepareInstall(ModuleLayout l, ModuleState s, FirmwareInstallRequest body, out Action commit, out Func<string> result,
            out bool reloadAfter)
        {
            if (body.Size is not long size || size < 0) throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'size' (integer >= 0) is required");
            var sha = body.Sha256 ?? throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'sha256' (hex) is required");
            if (!File.Exists(l.FirmwareStaging))
                throw new FirmwareError(FirmwareErrorCodes.BadRequest, "no firmware package is staged (firmware.chunk first)");
            FirmwarePackage package;
            try
            {
                var bytes = File.ReadAllBytes(l.FirmwareStaging);
                if (bytes.LongLength != size)
                    throw new FirmwareError(FirmwareErrorCodes.Package, $"{bytes.LongLength} bytes were received, the package has {size}");
                using (var h = SHA256.Create())
                    if (!string.Equals(BitConverter.ToString(h.ComputeHash(bytes)).Replace("-", ""), sha, StringComparison.OrdinalIgnoreCase))
                        throw new FirmwareError(FirmwareErrorCodes.Package, "the bytes received are not the package sent (SHA-256 differs)");
                try { package = FirmwarePackage.Parse(bytes); }
                catch (FormatException e) { throw new FirmwareError(FirmwareErrorCodes.Package, "not a firmware package: " + e.Message); }
                var root = SshPublicKey.Parse(File.ReadAllText(l.VendorRootPubCopy).Trim());
                var why = package.VerifySignature(root);
                if (why != null) throw new FirmwareError(FirmwareErrorCodes.Signature, why);
                if (package.Vsn < s.MinimumVsn)
                    throw new FirmwareError(FirmwareErrorCodes.Vsn,
                        $"the package's VSN {package.Vsn} is below the module's minimum VSN {s.MinimumVsn}");
            }
            catch (FirmwareError)
            {
                // A refused package leaves nothing behind.
                TryDelete(l.FirmwareStaging);
                throw;
            }
            bool recovery = package.Image == FirmwarePackage.RecoveryImage;
            var previous = recovery ? s.RecoveryFirmwareVersion : s.FirmwareVersion;
            // Changing firmware in Recovery mode restarts the module by itself into normal mode, where it is in factory state
            // (new server keys, no client keys): the vendor's "Recovery mode" page.
            bool leavesRecovery = s.Mode == ModuleMode.Recovery;
            reloadAfter = leavesRecovery;
            commit = () =>
            {
                if (recovery) { s.RecoveryFirmwareVersion = package.Version; s.RecoveryFirmwareVsn = package.Vsn; }
                else { s.FirmwareVersion = package.Version; s.FirmwareVsn = package.Vsn; }
                s.NCoreApiSession = false; // a restart ends every session
                if (leavesRecovery) ModuleFirmware.ResetToFactory(l, s, recovery: false); // writes the state
                else
                {
                    s.Mode = s.Enrolled ? ModuleMode.Operational : ModuleMode.FactoryState;
                    ModuleFirmware.WriteState(l, s);
                }
                TryDelete(l.FirmwareStaging);
            };
            result = () => ReplyWriter.Ok(new FirmwareInstallResult
            {
                Image = package.Image, PreviousVersion = previous, Version = package.Version, Vsn = package.Vsn, Rebooting = true, Mode = s.Mode,
            }, FirmwareJson.Default.FirmwareInstallResult);
        }

        public static void PrepareSetMinVsn(ModuleLayout l, ModuleState s, SetMinVsnRequest body, out Action commit, out Func<string> result)
        {
            if (body.Vsn is not int vsn || vsn < 0) throw new FirmwareError(FirmwareErrorCodes.BadRequest, "'vsn' (integer >= 0) is required");
            if (vsn < s.MinimumVsn)
                throw new FirmwareError(FirmwareErrorCodes.Vsn, $"{vsn} is below the current minimum VSN {s.MinimumVsn}; the minimum only rises");
            if (vsn > s.FirmwareVsn)
                throw new FirmwareError(FirmwareErrorCodes.Vsn, $"{vsn} is above the installed firmware's VSN {s.FirmwareVsn}");
            commit = () => { s.MinimumVsn = vsn; ModuleFirmware.WriteState(l, s); };
            result = () => ReplyWriter.Ok(new SetMinVsnResult { MinimumVsn = s.MinimumVsn, FirmwareVsn = s.FirmwareVsn },
                FirmwareJson.Default.SetMinVsnResult);
        }

        /// <summary>After a restart out of Recovery mode ncoreapi runs again: its endpoint is started on its old port (SSH only).</summary>
        public static void StartEndpointsAfterBoot(ModuleLayout l, ModuleState s)
        {
            var svc = ModuleServices.NCoreApi;
            if (!ModuleFirmware.ServiceShouldRun(s, svc) || ProcessTools.IsAlive(ProcessTools.ReadPidFile(l.PidFile(svc)))) return;
            var sshd = FirmwareLocator.TryFindSshd();
            if (sshd == null || !File.Exists(l.PortFile(svc))) return;
            int.TryParse(File.ReadAllText(l.PortFile(svc)).Trim(), out var port);
            SshdEndpoint.Start(l, svc, sshd, port);
        }

        private static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
