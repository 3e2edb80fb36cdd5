<#
.SYNOPSIS
    Runs the Pester suite against the built module and writes its counts (Passed, Failed, FailedBlocks,
    FailedContainers, Skipped, Inconclusive, NotRun, Total) as JSON to -SummaryPath. build.ps1 (through
    pester/TestRunner.psm1) reads them; a run that writes no summary counts as failed.
    Pester comes from NuGet (PackageDownload in the test project), not from the PowerShell Gallery.
.PARAMETER Path
    Test files or folders, separated by the platform's path separator (':' on Linux, ';' on Windows);
    default: this folder (the real suite). pester/Runner.Tests.ps1 points it at tests/runner/pester-fixture.
.PARAMETER Filter
    A Pester FullName wildcard ('*Hygiene*', 'Errors.*'); without wildcards it matches as '*<Filter>*'.
#>
param([Parameter(Mandatory)][string] $SummaryPath, [string] $Path, [string] $Filter)
$ErrorActionPreference = 'Stop'
$globalPackages = ((dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
$pester = Join-Path $globalPackages 'pester/6.2.0/tools/Pester.psd1'
if (-not (Test-Path $pester)) { throw "Pester 6.2.0 not found at $pester; run 'dotnet restore tests/NShield.HsmAdmin.Tests' first." }
Import-Module $pester -Force

# What killed runs left (a SIGKILL runs no AfterAll): the per-process folders of test processes that no longer exist.
# Simulators clean up after themselves (their watcher); these hold host stores and machine folders.
foreach ($stale in Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -ErrorAction SilentlyContinue) {
    if ($stale.Name -notmatch '^nshield-(pester|pester-machine|xunit-machine|runner-tests)-(\d+)$') { continue }
    if (Get-Process -Id ([int]$Matches[2]) -ErrorAction SilentlyContinue) { continue }
    Remove-Item $stale.FullName -Recurse -Force -ErrorAction SilentlyContinue
}

$config = New-PesterConfiguration
$config.Run.Path = if ($Path) { @($Path -split [IO.Path]::PathSeparator | Where-Object { $_ }) } else { $PSScriptRoot }
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Normal'
$config.Output.RenderMode = 'Plaintext'
if ($Filter) { $config.Filter.FullName = $Filter -match '[*?]' ? $Filter : "*$Filter*" }
# The run never writes this machine's default machine folder (pester/TestRunner.psm1, issue 20): it fails if it did.
Import-Module (Join-Path $PSScriptRoot 'TestRunner.psm1') -Force
$machineBefore = Get-MachineFolderState
$result = Invoke-Pester -Configuration $config
$machineFolderWritten = 0
if ($why = Test-MachineFolderWritten $machineBefore 'This Pester run') {
    Write-Host "[-] $why"
    $machineFolderWritten = 1
}
[ordered]@{
    Passed = $result.PassedCount; Failed = $result.FailedCount + $machineFolderWritten
    FailedBlocks = $result.FailedBlocksCount; FailedContainers = $result.FailedContainersCount
    Skipped = $result.SkippedCount; Inconclusive = $result.InconclusiveCount; NotRun = $result.NotRunCount
    Total = $result.TotalCount
} | ConvertTo-Json | Set-Content -Path $SummaryPath
exit 0
