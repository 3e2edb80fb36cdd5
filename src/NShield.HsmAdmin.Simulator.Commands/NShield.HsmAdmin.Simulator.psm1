# Root module of NShield.HsmAdmin.Simulator: simulated nShield 5s modules for runbook tests without hardware.
# It needs NShield.HsmAdmin (the product) and loads its cmdlets into the product's isolated load context, so both
# share one engine. The product never loads this module or anything in it.
# Keep this file free of PowerShell 7-only syntax (Windows PowerShell 5.1 loads it too).
$ErrorActionPreference = 'Stop'
# Where the product is, in order:
#   - already imported (an installed copy's manifest lists it in RequiredModules, so PowerShell imported it first);
#   - the repository layout: <repo>/bin/simulator/this.psm1 -> <repo>/NShield.HsmAdmin.psd1;
#   - installed side by side: <modules>/NShield.HsmAdmin.Simulator/<version>/bin/simulator/this.psm1 ->
#     <modules>/NShield.HsmAdmin/<version>/NShield.HsmAdmin.psd1 (same version), for an import by path;
#   - NShield.HsmAdmin by name from PSModulePath.
# The simulator's assemblies join the product's load context and use its engine, so both must be the same version.
$simulatorBase = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..'))
$simulatorVersion = $null
$simulatorManifest = [System.IO.Path]::Combine($simulatorBase, 'NShield.HsmAdmin.Simulator.psd1')
if ([System.IO.File]::Exists($simulatorManifest)) {
    $versionLine = Select-String -LiteralPath $simulatorManifest -Pattern "^\s*ModuleVersion\s*=\s*'([^']+)'" | Select-Object -First 1
    if ($versionLine) { $simulatorVersion = [version]$versionLine.Matches[0].Groups[1].Value }
}
$product = Get-Module NShield.HsmAdmin | Select-Object -First 1
if (-not $product) {
    $repoManifest = [System.IO.Path]::Combine($simulatorBase, 'NShield.HsmAdmin.psd1')
    $sideBySide = [System.IO.Path]::Combine($simulatorBase, '..', '..', 'NShield.HsmAdmin', [System.IO.Path]::GetFileName($simulatorBase),
        'NShield.HsmAdmin.psd1')
    if ([System.IO.File]::Exists($repoManifest)) { $product = Microsoft.PowerShell.Core\Import-Module $repoManifest -Global -PassThru }
    elseif ([System.IO.File]::Exists($sideBySide)) {
        $product = Microsoft.PowerShell.Core\Import-Module ([System.IO.Path]::GetFullPath($sideBySide)) -Global -PassThru
    }
    elseif ($simulatorVersion) {
        $product = Microsoft.PowerShell.Core\Import-Module NShield.HsmAdmin -RequiredVersion $simulatorVersion -Global -PassThru
    }
    else { $product = Microsoft.PowerShell.Core\Import-Module NShield.HsmAdmin -Global -PassThru }
    $product = $product | Where-Object Name -eq 'NShield.HsmAdmin' | Select-Object -First 1
}
if ($simulatorVersion -and $product -and $product.Version -ne $simulatorVersion) {
    throw ("NShield.HsmAdmin.Simulator $simulatorVersion needs NShield.HsmAdmin $simulatorVersion, but NShield.HsmAdmin " +
        "$($product.Version) is imported from $($product.ModuleBase). Remove-Module NShield.HsmAdmin, then import the simulator again.")
}
# The Native AOT firmware (deps/firmware/nshield-sim-firmware, preferred by the simulator) must be executable, but a
# .nupkg keeps no Unix file modes: Install-PSResource/Save-PSResource leave it rw-r--r--. Give back the execute bits
# where it is readable; where the install folder is not ours to change, run the JIT firmware (same behaviour, slower
# start) for this session instead.
if ([System.IO.Path]::DirectorySeparatorChar -eq '/') {
    $nativeFirmware = [System.IO.Path]::Combine($PSScriptRoot, 'deps', 'firmware', 'nshield-sim-firmware')
    if ([System.IO.File]::Exists($nativeFirmware)) {
        $mode = [System.IO.File]::GetUnixFileMode($nativeFirmware)
        $wanted = $mode
        if ($mode -band [System.IO.UnixFileMode]::UserRead) { $wanted = $wanted -bor [System.IO.UnixFileMode]::UserExecute }
        if ($mode -band [System.IO.UnixFileMode]::GroupRead) { $wanted = $wanted -bor [System.IO.UnixFileMode]::GroupExecute }
        if ($mode -band [System.IO.UnixFileMode]::OtherRead) { $wanted = $wanted -bor [System.IO.UnixFileMode]::OtherExecute }
        if ($wanted -ne $mode) {
            try { [System.IO.File]::SetUnixFileMode($nativeFirmware, $wanted) }
            catch {
                $jitFirmware = [System.IO.Path]::Combine($PSScriptRoot, 'deps', 'firmware', 'nshield-sim-firmware.dll')
                if (-not $env:NSHIELD_HSMADMIN_FIRMWARE -and [System.IO.File]::Exists($jitFirmware)) {
                    $env:NSHIELD_HSMADMIN_FIRMWARE = $jitFirmware
                    Write-Warning ("NShield.HsmAdmin.Simulator: cannot make $nativeFirmware executable ($($_.Exception.Message)); " +
                        "using the JIT firmware (slower start). Run 'chmod +x' on it to use the native one.")
                }
            }
        }
    }
}
$simulatorAssembly = [NShield.HsmAdmin.Loader.ModuleLoader]::LoadExtension(
    [System.IO.Path]::Combine($PSScriptRoot, 'deps'), 'NShield.HsmAdmin.Simulator.Commands')
$innerModule = Microsoft.PowerShell.Core\Import-Module -Assembly $simulatorAssembly -PassThru
if ($innerModule) {
    # Same re-import workaround as the product's loader (PowerShell/PowerShell#20710).
    $addExportedCmdlet = [System.Management.Automation.PSModuleInfo].GetMethod(
        'AddExportedCmdlet', [System.Reflection.BindingFlags]'Instance, NonPublic')
    if ($addExportedCmdlet) {
        foreach ($cmd in $innerModule.ExportedCommands.Values) {
            if ($cmd -is [System.Management.Automation.CmdletInfo]) {
                $addExportedCmdlet.Invoke($ExecutionContext.SessionState.Module, @(, $cmd))
            }
        }
    }
}
