using System.IO;
using System.Management.Automation;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Commands;
using NShield.HsmAdmin.Simulation;

namespace NShield.HsmAdmin.Simulation.Commands
{
    /// <summary>
    /// New-HsmSimulatedFirmwarePackage: a firmware package signed by the simulated vendor (its firmware-signing key,
    /// certified by the simulated vendor root every simulated module trusts), or one with a defect: a wrong signer, cut
    /// short, or changed after signing. A downgrade is a good package with a low -Vsn.
    /// </summary>
    [Cmdlet(VerbsCommon.New, "HsmSimulatedFirmwarePackage", SupportsShouldProcess = true)]
    [OutputType(typeof(FileInfo))]
    public sealed class NewHsmSimulatedFirmwarePackageCommand : PSCmdlet
    {
        /// <summary>The package file to write (refused when it exists, unless -Force).</summary>
        [Parameter(Mandatory = true, Position = 0)]
        [ValidateNotNullOrEmpty]
        public string Path { get; set; } = "";

        /// <summary>The simulator whose vendor signs the package (its folder, as Start-HsmSimulator returned it).</summary>
        [Parameter(Mandatory = true)]
        [ValidateNotNullOrEmpty]
        public string SimulatorPath { get; set; } = "";

        [Parameter] [ValidateLength(1, 40)] public string Version { get; set; } = "13.7.0-sim";
        [Parameter] [ValidateRange(0, int.MaxValue)] public int Vsn { get; set; } = 5;
        /// <summary>primary (normal operation) or recovery (the image recovery mode runs).</summary>
        [Parameter] public Modules.FirmwareImage Image { get; set; } = Modules.FirmwareImage.Primary;
        /// <summary>Size of the simulated image inside the package (keep test packages small).</summary>
        [Parameter] [ValidateRange(0, 64 * 1024 * 1024)] public int PayloadBytes { get; set; } = 4096;
        [Parameter] public FirmwarePackageDefect Defect { get; set; } = FirmwarePackageDefect.None;
        [Parameter] public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
            if (!ShouldProcess(path, $"Write a simulated firmware package ({Image} {Version}, VSN {Vsn}, defect {Defect})")) return;
            try
            {
                if (File.Exists(path) && !Force)
                    throw new HsmException(HsmErrorIds.FileExists, HsmErrorKind.ResourceExists, $"'{path}' exists; give -Force to replace it.", path);
                var sim = Simulator.Open(SessionState.Path.GetUnresolvedProviderPathFromPSPath(SimulatorPath));
                var bytes = SimulatedFirmwarePackages.Build(sim, Version, Vsn, Modules.FirmwarePackage.ImageName(Image), PayloadBytes, Defect);
                SecureFiles.WriteAtomic(path, bytes, FileAccessScope.Public);
            }
            catch (HsmException ex) { ThrowTerminatingError(HsmCmdlet.ToErrorRecord(ex)); }
            WriteObject(new FileInfo(path));
        }
    }
}
