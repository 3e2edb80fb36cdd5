#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, demonstrates and benchmarks NShield.HsmAdmin.
.DESCRIPTION
    build  publishes the module into ./bin (the manifest at the repository root points there: the loader
           bin/NShield.HsmAdmin.psm1 + bin/loader, cmdlets, engine and dependencies in bin/deps), the simulator
           module into ./bin/simulator (NShield.HsmAdmin.Simulator.psd1; firmware in bin/simulator/deps/firmware),
           the test-only crash hook into ./out/testhooks, and generates the MAML help into ./en-US.
    test   builds, runs the xUnit suite, then the Pester suite in a child pwsh, and prints one closing
           line "N passed, N failed" for both together; exits non-zero on any failure.
    demo   builds, then runs examples/Demo.ps1 against simulated modules on a temporary host.
    bench  builds, then runs the benchmark harness in bench/.
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'bench', 'xunit', 'pester')]
    [string] $Task = 'build',
    # Pester/xUnit filter, for working on one area.
    [string] $Filter,
    # Skip the Native AOT firmware (the simulator then runs the JIT firmware, ~150 ms slower per command).
    [switch] $NoAot
)
$ErrorActionPreference = 'Stop'
$env:NO_COLOR = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$root = $PSScriptRoot
$bin = Join-Path $root 'bin'

# The pwsh running this script: as a dotnet tool, the process is dotnet, so start pwsh.dll through it.
function Invoke-ChildPwsh {
    $dll = Join-Path $PSHOME 'pwsh.dll'
    $exe = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) { & dotnet $dll -NoProfile -NonInteractive @args }
    else { & $exe -NoProfile -NonInteractive @args }
}

function Invoke-Native([string] $what, [scriptblock] $block) {
    & $block
    if ($LASTEXITCODE -ne 0) { throw "$what failed (exit $LASTEXITCODE)" }
}

function Invoke-Build {
    # dotnet publish never deletes stale files: start from an empty folder.
    if (Test-Path $bin) { Remove-Item $bin -Recurse -Force }
    # Layout (see src/NShield.HsmAdmin.Loader): bin/NShield.HsmAdmin.psm1 and bin/loader/{Core,Desktop} are all that
    # load in the shared context; cmdlets, engine and dependencies go to bin/deps and load in isolation. The
    # firmware goes where the engine's FirmwareLocator looks: <engine dir>/firmware.
    $deps = Join-Path $bin 'deps'
    Invoke-Native 'module build' { dotnet publish "$root/src/NShield.HsmAdmin/NShield.HsmAdmin.csproj" -c Release -o $deps --nologo -v q }
    # The simulator is a module of its own (NShield.HsmAdmin.Simulator.psd1): bin/simulator, loaded into the product's
    # context by its psm1; only its own assemblies are kept there (the product's come from bin/deps).
    $simDeps = Join-Path $bin 'simulator/deps'
    Invoke-Native 'simulator build' { dotnet publish "$root/src/NShield.HsmAdmin.Simulator.Commands/NShield.HsmAdmin.Simulator.Commands.csproj" -c Release -o $simDeps --nologo -v q }
    Get-ChildItem $simDeps -File | Where-Object { $_.Name -notlike 'NShield.HsmAdmin.Simulator*' } | Remove-Item
    Copy-Item "$root/src/NShield.HsmAdmin.Simulator.Commands/NShield.HsmAdmin.Simulator.psm1" (Join-Path $bin 'simulator')
    Invoke-Native 'firmware build' { dotnet publish "$root/src/NShield.HsmAdmin.Firmware/NShield.HsmAdmin.Firmware.csproj" -c Release -o (Join-Path $simDeps 'firmware') --nologo -v q }
    # Test-only: the crash-point hook the fault tests load (never part of bin/, never shipped).
    $hooks = Join-Path $root 'out/testhooks'
    if (Test-Path $hooks) { Remove-Item $hooks -Recurse -Force }
    Invoke-Native 'test hooks build' { dotnet publish "$root/tests/NShield.HsmAdmin.TestHooks/NShield.HsmAdmin.TestHooks.csproj" -c Release -o $hooks --nologo -v q }
    $loader = "$root/src/NShield.HsmAdmin.Loader/NShield.HsmAdmin.Loader.csproj"
    Invoke-Native 'loader build (Core)' { dotnet publish $loader -c Release -f net8.0 -o (Join-Path $bin 'loader/Core') --nologo -v q }
    Invoke-Native 'loader build (Desktop)' { dotnet publish $loader -c Release -f netstandard2.0 -o (Join-Path $bin 'loader/Desktop') --nologo -v q }
    Move-Item (Join-Path $bin 'loader/Core/NShield.HsmAdmin.psm1') $bin -Force
    Remove-Item (Join-Path $bin 'loader/Desktop/NShield.HsmAdmin.psm1'), (Join-Path $bin 'loader/*/*.deps.json') -ErrorAction SilentlyContinue
    if (-not $NoAot -and $IsLinux) { Build-AotFirmware }
    $helpBuilder = Join-Path $root 'docs/help/Build-Help.ps1'
    if (Test-Path $helpBuilder) {
        & $helpBuilder -OutputPath (Join-Path $root 'en-US')
        & $helpBuilder -OutputPath (Join-Path $root 'en-US') -SourcePath (Join-Path $root 'docs/help/simulator') -AssemblyName 'NShield.HsmAdmin.Simulator.Commands'
    }
}

# The simulated firmware runs once per SSH command: natively compiled it starts in ~20 ms instead of ~180 ms.
# Built into out/ (incremental) and copied next to the JIT build, where FirmwareLocator prefers it.
function Build-AotFirmware {
    $aotOut = Join-Path $root 'out/firmware-aot'
    $linker = @(if (-not (Get-Command clang -ErrorAction SilentlyContinue)) { '-p:CppCompilerAndLinker=gcc' })
    dotnet publish "$root/src/NShield.HsmAdmin.Firmware/NShield.HsmAdmin.Firmware.csproj" -c Release -r linux-x64 `
        '-p:NShieldFirmwareAot=true' @linker -o $aotOut --nologo -v q | Out-Host
    if ($LASTEXITCODE -eq 0 -and (Test-Path "$aotOut/nshield-sim-firmware")) {
        Copy-Item "$aotOut/nshield-sim-firmware" (Join-Path $bin 'simulator/deps/firmware/nshield-sim-firmware')
    }
    else { Write-Warning 'Native AOT firmware build failed; the simulator uses the JIT firmware (slower, same behaviour).' }
}

function Invoke-XUnit {
    $results = Join-Path $root 'out/xunit'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    $args = @("$root/tests/NShield.HsmAdmin.Tests/NShield.HsmAdmin.Tests.csproj", '-c', 'Release', '--nologo',
        '--logger', 'trx;LogFileName=xunit.trx', '--logger', 'console;verbosity=minimal', '--results-directory', $results)
    if ($Filter) { $args += @('--filter', $Filter) }
    dotnet test @args | Out-Host
    $trx = Get-ChildItem $results -Filter *.trx -Recurse | Select-Object -First 1
    if (-not $trx) { return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    $counters = ([xml](Get-Content $trx.FullName -Raw)).TestRun.ResultSummary.Counters
    [pscustomobject]@{ Passed = [int]$counters.passed; Failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout }
}

function Invoke-Pester {
    # A child pwsh, so the module never loads into the calling session.
    $summary = Join-Path $root 'out/pester-summary.json'
    New-Item -ItemType Directory -Force (Split-Path $summary) | Out-Null
    if (Test-Path $summary) { Remove-Item $summary }
    Invoke-ChildPwsh -File (Join-Path $root 'pester/Invoke-PesterSuite.ps1') -SummaryPath $summary -Filter $Filter | Out-Host
    if (-not (Test-Path $summary)) { return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    Get-Content $summary -Raw | ConvertFrom-Json
}

switch ($Task) {
    'build' { Invoke-Build }
    'xunit' { Invoke-Build; $x = Invoke-XUnit; "$($x.Passed) passed, $($x.Failed) failed"; exit ([int]($x.Failed -gt 0)) }
    'pester' { Invoke-Build; $p = Invoke-Pester; "$($p.Passed) passed, $($p.Failed) failed"; exit ([int]($p.Failed -gt 0)) }
    'test' {
        Invoke-Build
        $x = Invoke-XUnit
        $p = Invoke-Pester
        Write-Host "xUnit: $($x.Passed) passed, $($x.Failed) failed; Pester: $($p.Passed) passed, $($p.Failed) failed"
        $passed = $x.Passed + $p.Passed; $failed = $x.Failed + $p.Failed
        "$passed passed, $failed failed"
        exit ([int]($failed -gt 0 -or $passed -eq 0))
    }
    'demo' {
        Invoke-Build
        Invoke-ChildPwsh -File (Join-Path $root 'examples/Demo.ps1')
        exit $LASTEXITCODE
    }
    'bench' {
        Invoke-Build
        Invoke-ChildPwsh -File (Join-Path $root 'bench/Invoke-Benchmark.ps1')
        exit $LASTEXITCODE
    }
}
