# Root module of NShield.HsmAdmin.Simulator: simulated nShield 5s modules for runbook tests without hardware.
# It needs NShield.HsmAdmin (the product) and loads its cmdlets into the product's isolated load context, so both
# share one engine. The product never loads this module or anything in it.
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    # Beside the product in this repository (bin/simulator → ../../NShield.HsmAdmin.psd1), else from the module path.
    $productManifest = [System.IO.Path]::Combine($PSScriptRoot, '..', '..', 'NShield.HsmAdmin.psd1')
    if ([System.IO.File]::Exists($productManifest)) { Microsoft.PowerShell.Core\Import-Module $productManifest -Global }
    else { Microsoft.PowerShell.Core\Import-Module NShield.HsmAdmin -Global }
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
