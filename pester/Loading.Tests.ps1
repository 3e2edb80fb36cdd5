<#
    Safe loading (issue 6): SSH.NET, BouncyCastle and every other dependency load in isolation, so a session
    where another module already loaded different versions can still import and use ours, and theirs keep
    working. Each test runs in a child pwsh: what is loaded into a process cannot be unloaded again.
#>
BeforeAll {
    $script:repo = Split-Path $PSScriptRoot
    $script:manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    $script:work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-loading-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force $work | Out-Null

    # "Another module's" BouncyCastle: an older release than ours (2.7.0), fetched through NuGet.
    $script:otherVersion = '2.4.0'
    $globalPackages = ((dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
    $package = Join-Path $globalPackages "bouncycastle.cryptography/$otherVersion"
    if (-not (Test-Path $package)) {
        $fetch = Join-Path $work 'fetch'
        New-Item -ItemType Directory -Force $fetch | Out-Null
        Set-Content (Join-Path $fetch 'fetch.csproj') @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="BouncyCastle.Cryptography" Version="[$otherVersion]" /></ItemGroup>
</Project>
"@
        dotnet restore (Join-Path $fetch 'fetch.csproj') --nologo -v q | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "dotnet restore of BouncyCastle.Cryptography $otherVersion failed" }
    }
    $script:otherBouncyCastle = Get-ChildItem (Join-Path $package 'lib') -Recurse -Filter BouncyCastle.Cryptography.dll |
        Sort-Object { $_.Directory.Name -like 'net*.0' } -Descending | Select-Object -First 1 -ExpandProperty FullName
    if (-not $otherBouncyCastle) { throw "BouncyCastle.Cryptography $otherVersion has no lib/*/BouncyCastle.Cryptography.dll" }

    # Runs a script in a fresh pwsh (pwsh.dll through dotnet when this pwsh is a dotnet tool); the script's
    # last output line is JSON, returned as an object. Everything else it prints goes to the test log on failure.
    function Invoke-InChildPwsh([string] $Script, [hashtable] $Arguments) {
        $file = Join-Path $work ('child-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        Set-Content $file $Script
        $argList = foreach ($k in $Arguments.Keys) { "-$k"; $Arguments[$k] }
        $dll = Join-Path $PSHOME 'pwsh.dll'
        $output = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) {
            & dotnet $dll -NoProfile -NonInteractive -File $file @argList 2>&1
        } else {
            & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $file @argList 2>&1
        }
        $text = @($output | ForEach-Object { "$_" })
        if ($LASTEXITCODE -ne 0 -or -not $text) { throw "child pwsh failed (exit $LASTEXITCODE):`n$($text -join "`n")" }
        try { $text[-1] | ConvertFrom-Json }
        catch { throw "child pwsh printed no JSON result:`n$($text -join "`n")" }
    }

    # Loads the other BouncyCastle into the default context and uses it, then imports and uses our module,
    # then reports which BouncyCastle, SSH.NET and module assemblies ended up in which load context.
    $script:clashScript = @'
param([string] $Manifest, [string] $OtherBouncyCastle, [string] $Work, [string] $Transport)
$ErrorActionPreference = 'Stop'
$alc = [System.Runtime.Loader.AssemblyLoadContext]
function Get-Sha256Hex($assembly) {
    $digest = [Activator]::CreateInstance($assembly.GetType('Org.BouncyCastle.Crypto.Digests.Sha256Digest', $true))
    $data = [Text.Encoding]::ASCII.GetBytes('abc')
    $digest.BlockUpdate($data, 0, $data.Length)
    $out = [byte[]]::new(32)
    $null = $digest.DoFinal($out, 0)
    [BitConverter]::ToString($out).Replace('-', '')
}
$other = [System.Reflection.Assembly]::LoadFrom($OtherBouncyCastle)
$hashBefore = Get-Sha256Hex $other

Import-Module $Manifest
$productAssemblies = @([AppDomain]::CurrentDomain.GetAssemblies() | ForEach-Object { $_.GetName().Name })
Import-Module (Join-Path (Split-Path $Manifest) 'NShield.HsmAdmin.Simulator.psd1')
$hostPath = Join-Path $Work "host-$Transport"
$sim = Start-HsmSimulator -ModuleCount 1 -HostPath $hostPath -SimulatorPath (Join-Path $Work "sim-$Transport") -Transport $Transport
try {
    $enroll = @(Invoke-HsmEnroll -HostPath $hostPath)
    $connected = @(Test-HsmConnection -HostPath $hostPath)
    $keys = @(Get-HsmSshKey -HostPath $hostPath)
}
finally { Stop-HsmSimulator -Path $sim.Path }

$describe = { param($a) [pscustomobject]@{
        # BouncyCastle 2.x keeps assembly version 2.0.0.0 for every release: the file version tells them apart.
        Name = $a.GetName().Name; Version = [Diagnostics.FileVersionInfo]::GetVersionInfo($a.Location).FileVersion; Context = $alc::GetLoadContext($a).Name
        IsDefault = [object]::ReferenceEquals($alc::GetLoadContext($a), $alc::Default); Location = $a.Location } }
$loaded = [AppDomain]::CurrentDomain.GetAssemblies()
[pscustomobject]@{
    OtherLoadedVersion = [Diagnostics.FileVersionInfo]::GetVersionInfo($other.Location).FileVersion
    HashBefore         = $hashBefore
    HashAfter          = Get-Sha256Hex $other
    EnrollActions      = @($enroll | ForEach-Object { "$($_.Action)" })
    Connected          = @($connected | ForEach-Object { $_ -is [bool] -and $_ })
    KeyCount           = $keys.Count
    Cmdlets            = & $describe (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly
    BouncyCastle       = @($loaded | Where-Object { $_.GetName().Name -eq 'BouncyCastle.Cryptography' } | ForEach-Object { & $describe $_ })
    SshNet             = @($loaded | Where-Object { $_.GetName().Name -eq 'Renci.SshNet' } | ForEach-Object { & $describe $_ })
    ProductAssemblies  = $productAssemblies
    Simulator          = @($loaded | Where-Object { $_.GetName().Name -like 'NShield.HsmAdmin.Simulator*' } | ForEach-Object { & $describe $_ })
    FromDeps           = @($loaded | Where-Object { -not $_.IsDynamic -and $_.Location -and $_.Location.StartsWith((Join-Path (Split-Path $Manifest) 'bin')) } |
            ForEach-Object { & $describe $_ })
} | ConvertTo-Json -Depth 4 -Compress
'@
}

AfterAll {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Loading in isolation' {
    Context 'a session that already holds another BouncyCastle (<Transport> transport)' -ForEach @(
        @{ Transport = 'InProcess' }
        @{ Transport = 'Ssh' }
    ) {
        BeforeAll {
            $sshMissing = -not (Test-Path /usr/sbin/sshd) -and -not (Get-Command sshd -ErrorAction SilentlyContinue)
            if ($Transport -eq 'Ssh' -and ($IsWindows -or $sshMissing)) { $script:result = $null; return }
            $script:result = Invoke-InChildPwsh $clashScript @{
                Manifest = $manifest; OtherBouncyCastle = $otherBouncyCastle; Work = (Join-Path $work $Transport); Transport = $Transport }
        }

        It 'imports and uses the module: enroll, then every channel connects' {
            if (-not $result) { Set-ItResult -Skipped -Because 'OpenSSH sshd is not installed'; return }
            $result.EnrollActions | Should -Be @('Enrolled')
            $result.Connected | Should -Not -BeNullOrEmpty
            $result.Connected | Should -Not -Contain $false
            $result.KeyCount | Should -BeGreaterThan 0
        }

        It 'leaves the other BouncyCastle in the default context, working' {
            if (-not $result) { Set-ItResult -Skipped -Because 'OpenSSH sshd is not installed'; return }
            $result.OtherLoadedVersion | Should -BeLike "$otherVersion*"
            $defaultOnes = @($result.BouncyCastle | Where-Object IsDefault)
            $defaultOnes.Count | Should -Be 1
            $defaultOnes[0].Version | Should -BeLike "$otherVersion*"
            $result.HashAfter | Should -Be $result.HashBefore
            $result.HashAfter | Should -Be 'BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD'
        }

        It 'uses its own BouncyCastle and cmdlets from a private load context' {
            if (-not $result) { Set-ItResult -Skipped -Because 'OpenSSH sshd is not installed'; return }
            $ours = @($result.BouncyCastle | Where-Object { -not $_.IsDefault })
            $ours.Count | Should -Be 1
            $ours[0].Context | Should -Be 'NShield.HsmAdmin'
            $ours[0].Version | Should -Not -BeLike "$otherVersion*"
            $ours[0].Version | Should -Be ([Diagnostics.FileVersionInfo]::GetVersionInfo((Join-Path $repo 'bin/deps/BouncyCastle.Cryptography.dll')).FileVersion)
            $ours[0].Location | Should -BeLike (Join-Path $repo 'bin/deps/*')
            $result.Cmdlets.Context | Should -Be 'NShield.HsmAdmin'
            $result.Cmdlets.IsDefault | Should -BeFalse
        }

        It 'puts nothing of bin/deps into the default context (only the loader is shared)' {
            if (-not $result) { Set-ItResult -Skipped -Because 'OpenSSH sshd is not installed'; return }
            $shared = @($result.FromDeps | Where-Object IsDefault)
            @($shared | ForEach-Object Name) | Should -Be @('NShield.HsmAdmin.Loader')
            @($result.FromDeps | Where-Object { -not $_.IsDefault } | ForEach-Object Context | Select-Object -Unique) | Should -Be @('NShield.HsmAdmin')
        }

        It 'runs SSH.NET from the private load context' {
            if (-not $result) { Set-ItResult -Skipped -Because 'OpenSSH sshd is not installed'; return }
            if ($Transport -ne 'Ssh') { Set-ItResult -Skipped -Because 'the in-process transport does not use SSH.NET'; return }
            @($result.SshNet).Count | Should -Be 1
            $result.SshNet[0].Context | Should -Be 'NShield.HsmAdmin'
        }

        It 'Import-Module of the product loads no simulator code; the simulator module joins the product''s context' {
            if (-not $result) { Set-ItResult -Skipped -Because 'sshd is not available'; return }
            $result.ProductAssemblies.Count | Should -BeGreaterThan 10
            $result.ProductAssemblies | Where-Object { $_ -like 'NShield.HsmAdmin.Simulator*' -or $_ -eq 'nshield-sim-firmware' } | Should -BeNullOrEmpty
            @($result.Simulator).Count | Should -Be 2
            $result.Simulator | ForEach-Object { $_.Context | Should -Be 'NShield.HsmAdmin' }
        }
    }

    Context 'import, remove, import again' {
        BeforeAll {
            $script:reload = Invoke-InChildPwsh @'
param([string] $Manifest, [string] $Work)
$ErrorActionPreference = 'Stop'
$expected = @((Import-PowerShellDataFile $Manifest).CmdletsToExport | Sort-Object)
$first = Import-Module $Manifest -PassThru
$firstAssembly = (Get-Command Get-HsmSshKey).ImplementingType.Assembly
Remove-Module NShield.HsmAdmin
$goneAfterRemove = -not (Get-Command Get-HsmSshKey -ErrorAction SilentlyContinue)
$second = Import-Module $Manifest -PassThru
$secondAssembly = (Get-Command Get-HsmSshKey).ImplementingType.Assembly
$third = Import-Module $Manifest -PassThru -Force
Import-Module (Join-Path (Split-Path $Manifest) 'NShield.HsmAdmin.Simulator.psd1')
$sim = Start-HsmSimulator -ModuleCount 2 -HostPath (Join-Path $Work 'host') -SimulatorPath (Join-Path $Work 'sim') -Transport InProcess
try {
    $enroll = @(Invoke-HsmEnroll -HostPath (Join-Path $Work 'host'))
    $connected = @(Test-HsmConnection -HostPath (Join-Path $Work 'host'))
    $completion = @((TabExpansion2 -inputScript ($s = "Get-HsmSshKey -HostPath '$(Join-Path $Work 'host')' -Esn ") -cursorColumn $s.Length).CompletionMatches | ForEach-Object CompletionText)
}
finally { Stop-HsmSimulator -Path $sim.Path }
[pscustomobject]@{
    Expected        = $expected
    First           = @($first.ExportedCmdlets.Keys | Sort-Object)
    GoneAfterRemove = $goneAfterRemove
    Second          = @($second.ExportedCmdlets.Keys | Sort-Object)
    Third           = @($third.ExportedCmdlets.Keys | Sort-Object)
    SameAssembly    = [object]::ReferenceEquals($firstAssembly, $secondAssembly)
    EnrollActions   = @($enroll | ForEach-Object { "$($_.Action)" })
    Connected       = @($connected | ForEach-Object { $_ -is [bool] -and $_ })
    Esns            = @($enroll | ForEach-Object { "$($_.Esn)" } | Sort-Object)
    Completion      = @($completion | Sort-Object)
    Synopsis        = (Get-Help Get-HsmSshKey).Synopsis
} | ConvertTo-Json -Depth 3 -Compress
'@ @{ Manifest = $manifest; Work = (Join-Path $work 'reload') }
        }

        It 'exports every cmdlet of the manifest on each import' {
            $reload.First | Should -Be $reload.Expected
            $reload.GoneAfterRemove | Should -BeTrue
            $reload.Second | Should -Be $reload.Expected
            $reload.Third | Should -Be $reload.Expected
        }

        It 'reuses the loaded assembly instead of loading a second copy' {
            $reload.SameAssembly | Should -BeTrue
        }

        It 'still works after the re-import: enroll, connect, complete, help' {
            $reload.EnrollActions | Should -Be @('Enrolled', 'Enrolled')
            $reload.Connected | Should -Not -Contain $false
            $reload.Completion | Should -Be $reload.Esns
            $reload.Synopsis | Should -Not -BeLike 'Get-HsmSshKey *'
        }
    }
}
