<#
.SYNOPSIS
    Runs the Pester suite against the built module and writes {Passed, Failed} to -SummaryPath.
    Pester comes from NuGet (PackageDownload in the test project), not from the PowerShell Gallery.
#>
param([Parameter(Mandatory)][string] $SummaryPath, [string] $Filter)
$ErrorActionPreference = 'Stop'
$globalPackages = ((dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
$pester = Join-Path $globalPackages 'pester/6.2.0/tools/Pester.psd1'
if (-not (Test-Path $pester)) { throw "Pester 6.2.0 not found at $pester; run 'dotnet restore tests/NShield.HsmAdmin.Tests' first." }
Import-Module $pester -Force

$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Normal'
$config.Output.RenderMode = 'Plaintext'
if ($Filter) { $config.Filter.FullName = "*$Filter*" }
$result = Invoke-Pester -Configuration $config
@{ Passed = $result.PassedCount; Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount } |
    ConvertTo-Json | Set-Content -Path $SummaryPath
