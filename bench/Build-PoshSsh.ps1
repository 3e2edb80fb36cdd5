#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds Posh-SSH from a source checkout into a module folder, to time its import beside ours in the bench
    (`bench/Invoke-Benchmark.ps1 -PoshSshManifest <folder>/Posh-SSH/Posh-SSH.psd1`).
.DESCRIPTION
    Offline, from NuGet as served here: Source/PoshSSH/PoshSSH.Core (netstandard2.0) against SSH.NET and
    PowerShellStandard.Library. Its package reference SshNet.Security.Cryptography is not served here and no source
    file uses it, so the copy built here drops that one reference (nothing else changes). Layout as Posh-SSH ships it:
    PoshSSH.dll beside the manifest, SSH.NET and BouncyCastle under Assembly/ (its RequiredAssemblies), its psm1 and
    format files.
.EXAMPLE
    dotnet pwsh ./bench/Build-PoshSsh.ps1 -Source ~/src/Posh-SSH -Output /tmp/posh-ssh
#>
param([Parameter(Mandatory)][string] $Source, [Parameter(Mandatory)][string] $Output)
$ErrorActionPreference = 'Stop'
$work = Join-Path ([IO.Path]::GetTempPath()) ("posh-ssh-build-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    Copy-Item (Join-Path $Source 'Source') $work -Recurse
    $csproj = Join-Path $work 'PoshSSH/PoshSSH.Core/PoshSSH.Core.csproj'
    [xml] $xml = Get-Content $csproj -Raw
    foreach ($ref in @($xml.Project.ItemGroup.PackageReference | Where-Object Include -eq 'SshNet.Security.Cryptography')) {
        $null = $ref.ParentNode.RemoveChild($ref)
    }
    $xml.Save($csproj)
    $bin = Join-Path $work 'out'
    dotnet build $csproj -c Release -o $bin --nologo -v q | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "Posh-SSH build failed (exit $LASTEXITCODE)" }
    $module = Join-Path $Output 'Posh-SSH'
    if (Test-Path $module) { Remove-Item $module -Recurse -Force }
    New-Item -ItemType Directory -Force (Join-Path $module 'Assembly') | Out-Null
    Get-ChildItem (Join-Path $Source 'Posh-SSH') | Where-Object Name -notin 'Assembly', 'PoshSSH.dll' | Copy-Item -Destination $module -Recurse
    Copy-Item (Join-Path $bin 'PoshSSH.dll') $module
    Get-ChildItem $bin -Filter *.dll | Where-Object Name -notin 'PoshSSH.dll', 'System.Management.Automation.dll' |
        Copy-Item -Destination (Join-Path $module 'Assembly')
    Join-Path $module 'Posh-SSH.psd1'
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
