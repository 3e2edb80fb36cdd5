using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>One module's firmware update (Update-HsmFirmware; the vendor's hsmadmin upgrade).</summary>
    public sealed class HsmFirmwareUpdateResult
    {
        public string Esn { get; set; } = "";
        /// <summary>The image the package replaced: primary or recovery.</summary>
        public string Image { get; set; } = "";
        public string PreviousVersion { get; set; } = "";
        public string Version { get; set; } = "";
        public int Vsn { get; set; }
        /// <summary>The module restarted to run it (always, as the vendor's modules do).</summary>
        public bool Rebooted { get; set; }
        /// <summary>The mode the module restarted into (from Recovery mode: FactoryState, enroll it again).</summary>
        public string Mode { get; set; } = "";
        public string Package { get; set; } = "";
        public string HostPath { get; set; } = "";
        public override string ToString() => $"{Esn} {Image} {PreviousVersion} -> {Version} (VSN {Vsn})";
    }

    /// <summary>One module's minimum VSN after Set-HsmMinimumVsn (the vendor's hsmadmin setminvsn).</summary>
    public sealed class HsmMinimumVsnResult
    {
        public string Esn { get; set; } = "";
        public int MinimumVsn { get; set; }
        public string HostPath { get; set; } = "";
        public override string ToString() => $"{Esn} minimum VSN {MinimumVsn}";
    }

    /// <summary>A firmware package file read on the host: its bytes and what its header says (the module checks the signature).</summary>
    public sealed class FirmwarePackageFile
    {
        private FirmwarePackageFile(string path, byte[] bytes, FirmwarePackage header) { Path = path; Bytes = bytes; Header = header; }
        public string Path { get; }
        public byte[] Bytes { get; }
        public FirmwarePackage Header { get; }
        public string Describe() => $"{Header.Image} firmware {Header.Version} (VSN {Header.Vsn}) from {Path}";

        /// <summary>Reads a whole package; a missing file is PathNotFound, anything but a whole package FirmwarePackageInvalid.</summary>
        public static FirmwarePackageFile Read(string path)
        {
            var full = System.IO.Path.GetFullPath(path);
            byte[] bytes;
            try
            {
                var info = new FileInfo(full);
                if (!info.Exists)
                    throw new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound,
                        $"The firmware package '{full}' does not exist.", full);
                if (info.Length > FirmwarePackage.MaxBytes)
                    throw new HsmException(HsmErrorIds.FirmwarePackageInvalid, HsmErrorKind.InvalidData,
                        $"'{full}' is larger than a firmware package can be ({FirmwarePackage.MaxBytes} bytes). No module was contacted.", full);
                bytes = File.ReadAllBytes(full);
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                throw new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ResourceUnavailable,
                    $"The firmware package '{full}' cannot be read: {ex.Message}", full, ex);
            }
            try { return new FirmwarePackageFile(full, bytes, FirmwarePackage.Parse(bytes)); }
            catch (FormatException ex)
            {
                throw new HsmException(HsmErrorIds.FirmwarePackageInvalid, HsmErrorKind.InvalidData,
                    $"'{full}' is not a whole firmware package: {ex.Message}. No module was contacted and nothing was changed; get the package " +
                    "again from the vendor.", full, ex);
            }
        }
    }

    /// <summary>
    /// Firmware over the updater service (issue 22 item 3): Update-HsmFirmware and Set-HsmMinimumVsn. Every rule that protects
    /// the module (vendor signature, minimum VSN, the ncoreapi interlock, log capacity) is the module's own: the host reads the
    /// package header only to ask and report, and turns each refusal into its typed error. A module that restarts out of
    /// Recovery mode comes up in factory state with new server keys, so the host forgets its pins as a factory reset does.
    /// </summary>
    internal sealed class FirmwareOperation
    {
        private readonly HsmHost _host;
        public FirmwareOperation(HsmHost host) { _host = host; }

        public Task UpdateAllAsync(IReadOnlyList<ModuleAddress> modules, FirmwarePackageFile package, int throttleLimit,
            IOperationReporter reporter, CancellationToken ct)
        {
            var confirmed = new List<ModuleAddress>();
            foreach (var m in modules)
                if (reporter.ShouldProcess($"module {m.Esn}", $"Install {package.Describe()} and restart the module")) confirmed.Add(m);
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await UpdateAsync(m, package, c).ConfigureAwait(false)),
                throttleLimit, "Updating module firmware", reporter, ct);
        }

        public async Task<HsmFirmwareUpdateResult> UpdateAsync(ModuleAddress module, FirmwarePackageFile package, CancellationToken ct)
        {
            FirmwareInstallOutcome outcome;
            ModuleMode modeBefore;
            using (var updater = await _host.OpenPinnedAsync(module, ModuleServices.Updater, ct).ConfigureAwait(false))
            {
                modeBefore = (await updater.GetIdentityAsync(ct).ConfigureAwait(false)).Mode;
                using (var stream = new MemoryStream(package.Bytes, writable: false))
                    outcome = await updater.UpdateFirmwareAsync(stream, package.Bytes.LongLength, ct).ConfigureAwait(false);
            }
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
            {
                if (modeBefore == ModuleMode.Recovery && outcome.ModeAfter != ModuleMode.Recovery)
                {
                    // Out of Recovery mode the module is in factory state with new server keys: the old pins are void.
                    _host.Store.RemovePins(module.Esn);
                    _host.Store.RemoveModule(module.Esn);
                }
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = "upgrade", Esn = module.Esn, Result = "Success",
                    Detail = $"{outcome.Image} {outcome.PreviousVersion} -> {outcome.Version} (VSN {outcome.Vsn}) from {package.Path}",
                });
            }
            return new HsmFirmwareUpdateResult
            {
                Esn = module.Esn, Image = outcome.Image, PreviousVersion = outcome.PreviousVersion, Version = outcome.Version, Vsn = outcome.Vsn,
                Rebooted = outcome.Rebooting, Mode = outcome.ModeAfter.ToString(), Package = package.Path, HostPath = _host.Path,
            };
        }

        public Task SetMinimumVsnAllAsync(IReadOnlyList<ModuleAddress> modules, int vsn, int throttleLimit, IOperationReporter reporter,
            CancellationToken ct)
        {
            var confirmed = new List<ModuleAddress>();
            foreach (var m in modules)
                if (reporter.ShouldProcess($"module {m.Esn}",
                        $"Raise the minimum VSN to {vsn} (firmware below it can never be installed again)")) confirmed.Add(m);
            return FleetExecutor.RunAsync(confirmed, m => m.Esn,
                async (m, c) => reporter.Result(await SetMinimumVsnAsync(m, vsn, c).ConfigureAwait(false)),
                throttleLimit, "Setting the minimum VSN", reporter, ct);
        }

        public async Task<HsmMinimumVsnResult> SetMinimumVsnAsync(ModuleAddress module, int vsn, CancellationToken ct)
        {
            if (vsn < 0) throw new HsmException(HsmErrorIds.MinimumVsnInvalid, HsmErrorKind.InvalidArgument, $"A VSN is 0 or more, not {vsn}.", vsn);
            int now;
            using (var updater = await _host.OpenPinnedAsync(module, ModuleServices.Updater, ct).ConfigureAwait(false))
                now = await updater.SetMinimumVsnAsync(vsn, ct).ConfigureAwait(false);
            using (_host.Store.AcquireLock(_host.Store.DefaultLockTimeout))
                _host.Store.AppendAudit(new AuditEntry
                {
                    Operation = "setminvsn", Esn = module.Esn, Result = "Success", Detail = $"minimum VSN {now}",
                });
            return new HsmMinimumVsnResult { Esn = module.Esn, MinimumVsn = now, HostPath = _host.Path };
        }
    }
}
