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
           line "N passed, N failed" (", N skipped" when any were skipped) for both together, as the last
           line; exits non-zero on any failure. A run that crashed or aborted, wrote no results, or found no
           test counts as a failure and prints a "FAILED RUN:" line saying why (pester/TestRunner.psm1).
    xunit  builds and runs the xUnit suite alone (-XUnitFilter), with the same closing line.
    pester builds and runs the Pester suite alone (-PesterFilter), with the same closing line.
    demo   builds, then runs examples/Demo.ps1 against simulated modules on a temporary host.
    bench  builds, then runs the benchmark harness in bench/.
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1 xunit -XUnitFilter 'FullyQualifiedName~HostStore'
.EXAMPLE
    dotnet pwsh ./build.ps1 pester -PesterFilter '*Hygiene*'
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'bench', 'xunit', 'pester')]
    [string] $Task = 'build',
    # xUnit filter, dotnet test --filter syntax: 'FullyQualifiedName~HostStore', 'Name=X|Name=Y'.
    [string] $XUnitFilter,
    # Pester filter, a wildcard on a test's full name ('*Hygiene*'); without wildcards, '*<text>*'.
    [string] $PesterFilter,
    # Skip the Native AOT firmware (the simulator then runs the JIT firmware, ~150 ms slower per command).
    [switch] $NoAot
)
$ErrorActionPreference = 'Stop'
$env:NO_COLOR = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$root = $PSScriptRoot
$bin = Join-Path $root 'bin'

# Running and counting the suites (and Invoke-ChildPwsh): shared with the runner's own tests, pester/Runner.Tests.ps1.
Import-Module (Join-Path $root 'pester/TestRunner.psm1') -Force

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
    Invoke-XUnitRun -Project "$root/tests/NShield.HsmAdmin.Tests/NShield.HsmAdmin.Tests.csproj" -ResultsDirectory (Join-Path $root 'out/xunit') -Filter $XUnitFilter
}

function Invoke-Pester {
    # A child pwsh, so the module never loads into the calling session.
    Invoke-PesterRun -SummaryPath (Join-Path $root 'out/pester-summary.json') -Filter $PesterFilter
}

switch ($Task) {
    'build' { Invoke-Build }
    'xunit' { Invoke-Build; exit (Complete-TestRun @(Invoke-XUnit)) }
    'pester' { Invoke-Build; exit (Complete-TestRun @(Invoke-Pester)) }
    'test' {
        Invoke-Build
        $x = Invoke-XUnit
        $p = Invoke-Pester
        # Prints each suite's counts and every failed-run reason, then the closing line, last.
        exit (Complete-TestRun @($x, $p))
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
