# Root module of NShield.HsmAdmin. The cmdlets live in deps/NShield.HsmAdmin.dll; this loads that assembly,
# the engine and every dependency (SSH.NET, BouncyCastle, ...) in isolation, so versions another module put in
# the session first cannot break ours and ours cannot break theirs:
#   PowerShell 7:            a private AssemblyLoadContext over deps/ (loader/Core/NShield.HsmAdmin.Loader.dll)
#   Windows PowerShell 5.1:  Assembly.LoadFile plus an AssemblyResolve handler for deps/ (loader/Desktop/...)
# Only the small loader assembly lands in the shared context. Keep this file free of PowerShell 7-only syntax.
$ErrorActionPreference = 'Stop'
$edition = if ($PSVersionTable.PSEdition -eq 'Core') { 'Core' } else { 'Desktop' }
if (-not ('NShield.HsmAdmin.Loader.ModuleLoader' -as [type])) {
    # LoadFrom rather than Add-Type: same effect, a few hundred milliseconds less on import.
    $null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'loader', $edition, 'NShield.HsmAdmin.Loader.dll'))
}
$moduleAssembly = [NShield.HsmAdmin.Loader.ModuleLoader]::Load([System.IO.Path]::Combine($PSScriptRoot, 'deps'))

# Module-qualified, so a proxy or a user function named Import-Module cannot get in the way.
$innerModule = Microsoft.PowerShell.Core\Import-Module -Assembly $moduleAssembly -PassThru
if ($innerModule) {
    # On a re-import in the same session PowerShell hands back the cached binary module without adding its
    # cmdlets to this module's exports (PowerShell/PowerShell#20710); add them here so the manifest's
    # CmdletsToExport still finds them.
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
