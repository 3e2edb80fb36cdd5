#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, demonstrates and benchmarks NShield.HsmAdmin.
.DESCRIPTION
    build  publishes the module into ./bin (the manifest at the repository root points there: the loader
           bin/NShield.HsmAdmin.psm1 + bin/loader, cmdlets, engine and dependencies in bin/deps), the simulator
           module into ./bin/simulator (NShield.HsmAdmin.Simulator.psd1; firmware in bin/simulator/deps/firmware),
           the test-only crash hook into ./out/testhooks, and generates the MAML help into ./en-US.
    Before anything is built, test, bench and demo check for OpenSSH's sshd and ssh-keygen (build/Prerequisites.psm1):
           when missing they are installed if this machine allows it (root plus apt-get, dnf, zypper or apk; Windows:
           an elevated session, the OpenSSH.Server capability) and one line says so; otherwise test and bench stop at
           once with one line naming the command to run (exit 2), and demo says so and runs in-process.
    test   builds, runs the xUnit suite, then the Pester suite in a child pwsh, and prints one closing
           line "N passed, N failed" (", N skipped" when any were skipped) for both together, as the last
           line; exits non-zero on any failure. A run that crashed or aborted, wrote no results, or found no
           test counts as a failure and prints a "FAILED RUN:" line saying why (pester/TestRunner.psm1).
    xunit  builds and runs the xUnit suite alone (-XUnitFilter), with the same closing line.
    pester builds and runs the Pester suite alone (-PesterFilter), with the same closing line.
    demo   builds, then runs examples/Demo.ps1 against simulated modules on a temporary host.
    bench  builds, then runs the benchmark harness in bench/.
           With -Baseline <git rev>: builds that revision in a temporary git worktree (removed afterwards) and runs the
           same workloads (our cmdlets) against it and the current build side by side in one run, each in its own
           child pwsh, alternating which goes first (bench/Compare-Revisions.ps1); writes out/bench/compare.md/.json
           with ratio current/baseline and a slower/faster/same verdict per workload against the run's own noise.
    package builds (unless -NoBuild), then stages the two modules with only what runs into
           <OutputPath>/NShield.HsmAdmin/<version>/ and <OutputPath>/NShield.HsmAdmin.Simulator/<version>/ (default
           OutputPath: ./out), and publishes both with PSResourceGet (Publish-PSResource) into the local file repository
           <OutputPath>/repository as .nupkg files. The version is VersionPrefix in Directory.Build.props, stamped into
           the assemblies (MSBuild), both manifests (every build) and, from CHANGELOG.md, the staged ReleaseNotes.
.EXAMPLE
    dotnet pwsh ./build.ps1 package
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1 xunit -XUnitFilter 'FullyQualifiedName~HostStore'
.EXAMPLE
    dotnet pwsh ./build.ps1 pester -PesterFilter '*Hygiene*'
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Baseline 4e486e8
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'bench', 'xunit', 'pester', 'package')]
    [string] $Task = 'build',
    # xUnit filter, dotnet test --filter syntax: 'FullyQualifiedName~HostStore', 'Name=X|Name=Y'.
    [string] $XUnitFilter,
    # Pester filter, a wildcard on a test's full name ('*Hygiene*'); without wildcards, '*<text>*'.
    [string] $PesterFilter,
    # Skip the Native AOT firmware (the simulator then runs the JIT firmware, ~150 ms slower per command).
    [switch] $NoAot,
    # package: where the staged modules and the local repository go (default ./out).
    [string] $OutputPath,
    # package: stage from the existing ./bin and ./en-US instead of building first.
    [switch] $NoBuild,
    # bench: a git revision to measure side by side with the current build (bench/Compare-Revisions.ps1).
    [string] $Baseline
)
$ErrorActionPreference = 'Stop'
$env:NO_COLOR = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$root = $PSScriptRoot
$bin = Join-Path $root 'bin'

# Running and counting the suites (and Invoke-ChildPwsh): shared with the runner's own tests, pester/Runner.Tests.ps1.
Import-Module (Join-Path $root 'pester/TestRunner.psm1') -Force
# What test, bench and demo need from the machine (sshd, ssh-keygen), decided before anything is built.
Import-Module (Join-Path $root 'build/Prerequisites.psm1') -Force

# test and bench: install what is missing when this machine allows it, else stop at once with one line naming the command.
function Assert-Prerequisite {
    $stop = Install-Prerequisite -Task $Task
    if ($stop) { Write-Host $stop; exit 2 }
}

function Invoke-Native([string] $what, [scriptblock] $block) {
    & $block
    if ($LASTEXITCODE -ne 0) { throw "$what failed (exit $LASTEXITCODE)" }
}

# The one version source: VersionPrefix in Directory.Build.props (MSBuild stamps it into every assembly).
function Get-ModuleVersion {
    $props = [xml](Get-Content -Raw (Join-Path $root 'Directory.Build.props'))
    $version = @($props.Project.PropertyGroup | ForEach-Object { $_.VersionPrefix } | Where-Object { $_ })[0]
    if (-not $version) { throw 'Directory.Build.props has no VersionPrefix.' }
    [version]$version
}

# Writes the version into a manifest's ModuleVersion line when it differs (the manifests never carry their own).
function Set-ManifestVersion([string] $path, [version] $version) {
    $text = [IO.File]::ReadAllText($path)
    $pattern = "(?m)^(\s*ModuleVersion\s*=\s*')([^']*)(')"
    if ($text -notmatch $pattern) { throw "$path has no ModuleVersion line." }
    if ($Matches[2] -ne "$version") {
        [IO.File]::WriteAllText($path, ([regex]::Replace($text, $pattern, "`${1}$version`${3}")))
        Write-Host "Stamped version $version into $(Split-Path -Leaf $path) (was $($Matches[2]))."
    }
}

function Invoke-Build {
    $version = Get-ModuleVersion
    foreach ($m in 'NShield.HsmAdmin.psd1', 'NShield.HsmAdmin.Simulator.psd1') { Set-ManifestVersion (Join-Path $root $m) $version }
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
    # No separate views for remoting's Deserialized.<type> objects: PowerShell strips the prefix when it picks a view.
    Remove-Item (Join-Path $bin 'NShield.HsmAdmin.Deserialized.Format.ps1xml') -ErrorAction SilentlyContinue
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
    # Tests never write this machine's default machine folder (every test store gets its own, issue 20): a run that
    # created it fails (as the Pester run does, pester/Invoke-PesterSuite.ps1).
    $machineBefore = Get-MachineFolderState
    Invoke-XUnitRun -Project "$root/tests/NShield.HsmAdmin.Tests/NShield.HsmAdmin.Tests.csproj" -ResultsDirectory (Join-Path $root 'out/xunit') -Filter $XUnitFilter
    # The in-memory adapter, built against the engine's public API only (no InternalsVisibleTo). A filter naming only
    # the main suite's classes would find nothing here, which counts as a failed run: it runs unfiltered or when named.
    if (-not $XUnitFilter -or $XUnitFilter -match 'Adapter') {
        Invoke-XUnitRun -Project "$root/tests/NShield.HsmAdmin.AdapterTests/NShield.HsmAdmin.AdapterTests.csproj" `
            -ResultsDirectory (Join-Path $root 'out/xunit-adapter') -Filter $XUnitFilter -Suite 'xUnit (adapter)'
    }
    if ($why = Test-MachineFolderWritten $machineBefore 'the xUnit run') {
        [pscustomobject]@{ Suite = 'xUnit (machine folder)'; Passed = 0; Failed = 1; Skipped = 0; Reasons = @($why) }
    }
}

function Invoke-Pester {
    # A child pwsh, so the module never loads into the calling session.
    Invoke-PesterRun -SummaryPath (Join-Path $root 'out/pester-summary.json') -Filter $PesterFilter
}

# The section '## [<version>] ...' of CHANGELOG.md (Keep a Changelog), without its heading.
function Get-ReleaseNotes([version] $version) {
    $lines = Get-Content (Join-Path $root 'CHANGELOG.md')
    $start = -1
    for ($i = 0; $i -lt $lines.Count; $i++) {
        if ($start -lt 0 -and $lines[$i] -match "^## \[$([regex]::Escape("$version"))\]") { $start = $i + 1; continue }
        if ($start -ge 0 -and $lines[$i] -match '^## ') { break }
    }
    if ($start -lt 0) { throw "CHANGELOG.md has no section '## [$version]': add the release notes of this version first." }
    $notes = ($lines[$start..($i - 1)] -join "`n").Trim()
    if (-not $notes) { throw "CHANGELOG.md's section for $version is empty." }
    # DSC v3's PowerShell adapter takes any manifest with an uncommented line naming DscResourcesToExport for a DSC module.
    if ($notes -match '\bDscResourcesToExport\b') { throw "CHANGELOG.md's section for $version names DscResourcesToExport: DSC v3 would then scan the simulator's manifest too; reword it." }
    if ($notes -match "(?m)^'@") { throw "CHANGELOG.md's section for $version has a line starting with '@ (ends the manifest's here-string)." }
    $notes
}

# A staged copy of a repository manifest: the version, the release notes, and for the simulator the product it requires.
function Write-StagedManifest([string] $source, [string] $destination, [version] $version, [string] $notes, [switch] $RequireProduct) {
    $text = [IO.File]::ReadAllText($source)
    $text = [regex]::Replace($text, "(?m)^(\s*ModuleVersion\s*=\s*')[^']*(')", "`${1}$version`${2}")
    $text = [regex]::Replace($text, "(?m)^(\s*ReleaseNotes\s*=\s*)''", { param($m) $m.Groups[1].Value + "@'`n$notes`n'@" })
    if ($text -notmatch [regex]::Escape($notes)) { throw "$source has no ReleaseNotes = '' line to fill in." }
    if ($RequireProduct) {
        # Installed copies come as a pair of one version: Install-PSResource brings the product along, PowerShell imports it first.
        $text = [regex]::Replace($text, "(?m)^(\s*)(PowerShellVersion\s*=)", "`${1}RequiredModules      = @(@{ ModuleName = 'NShield.HsmAdmin'; RequiredVersion = '$version' })`n`${1}`${2}")
    }
    [IO.File]::WriteAllText($destination, $text)
}

# Copies the listed files (relative to the repository root) into the staging folder, keeping their relative paths.
function Copy-Staged([string] $stage, [string[]] $relative) {
    foreach ($r in $relative) {
        $from = Join-Path $root $r
        if (-not (Test-Path -LiteralPath $from -PathType Leaf)) { throw "package: $r is missing (run ./build.ps1 build)." }
        $to = Join-Path $stage $r
        New-Item -ItemType Directory -Force (Split-Path $to) | Out-Null
        Copy-Item -LiteralPath $from $to
    }
}

# Relative paths of the files under a bin/ folder that run: no symbols, no build-time dependency manifests (the
# loader resolves from the folder; the firmware keeps its deps.json and runtimeconfig.json, dotnet reads them).
function Get-RuntimeFiles([string] $relativeDir, [switch] $Recurse, [string[]] $Exclude = @()) {
    $dir = Join-Path $root $relativeDir
    Get-ChildItem -LiteralPath $dir -File -Recurse:$Recurse | Where-Object {
        $_.Extension -ne '.pdb' -and ($_.Name -notlike '*.deps.json' -or $_.Directory.Name -eq 'firmware') -and $_.FullName -notin $Exclude
    } | ForEach-Object { [IO.Path]::GetRelativePath($root, $_.FullName) }
}

function Invoke-Package {
    # PSResourceGet's settings are redirected through XDG_DATA_HOME, which only Linux honours (.NET reads
    # ~/Library/Application Support on macOS and %LOCALAPPDATA% on Windows): elsewhere it would touch the user's own.
    if (-not $IsLinux) { throw 'package: runs on Linux only (it redirects PSResourceGet''s settings through XDG_DATA_HOME, which other systems ignore; your own settings are left alone). Use Compress-PSResource on the staged folders elsewhere.' }
    $version = Get-ModuleVersion
    $notes = Get-ReleaseNotes $version
    $out = if ($OutputPath) { [IO.Path]::GetFullPath($OutputPath) } else { Join-Path $root 'out' }
    $productStage = Join-Path $out "NShield.HsmAdmin/$version"
    $simStage = Join-Path $out "NShield.HsmAdmin.Simulator/$version"
    $repository = Join-Path $out 'repository'
    foreach ($d in $productStage, $simStage) { if (Test-Path $d) { Remove-Item $d -Recurse -Force } }
    New-Item -ItemType Directory -Force $productStage, $simStage, $repository | Out-Null
    foreach ($old in Get-ChildItem $repository -Filter "NShield.HsmAdmin*.$version.nupkg") { Remove-Item $old.FullName }

    # The product: manifest, loader (+ the DSC resource in it), cmdlets, engine and dependencies, formats, help.
    Copy-Staged $productStage (@(
            'LICENSE', 'bin/NShield.HsmAdmin.psm1'
            'formats/NShield.HsmAdmin.Format.ps1xml'
            'en-US/NShield.HsmAdmin.dll-Help.xml', 'en-US/about_NShield.HsmAdmin.help.txt'
        ) + (Get-RuntimeFiles 'bin/loader' -Recurse) + (Get-RuntimeFiles 'bin/deps'))
    Write-StagedManifest (Join-Path $root 'NShield.HsmAdmin.psd1') (Join-Path $productStage 'NShield.HsmAdmin.psd1') $version $notes
    # The simulator: its own assemblies, its firmware (Native AOT build included when there is one), formats, help.
    Copy-Staged $simStage (@(
            'LICENSE', 'bin/simulator/NShield.HsmAdmin.Simulator.psm1'
            'formats/NShield.HsmAdmin.Simulator.Format.ps1xml', 'en-US/NShield.HsmAdmin.Simulator.Commands.dll-Help.xml'
        ) + (Get-RuntimeFiles 'bin/simulator/deps' -Recurse))
    Write-StagedManifest (Join-Path $root 'NShield.HsmAdmin.Simulator.psd1') (Join-Path $simStage 'NShield.HsmAdmin.Simulator.psd1') $version $notes -RequireProduct

    # PSResourceGet keeps its repository list under the local application-data folder: a temporary one (XDG_DATA_HOME
    # on Linux/macOS) and a uniquely named repository, removed afterwards, so nothing stays in the user's settings.
    $settings = Join-Path ([IO.Path]::GetTempPath()) ('nshield-package-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $saved = @{ XDG_DATA_HOME = $env:XDG_DATA_HOME; PSModulePath = $env:PSModulePath }
    $repoName = 'NShieldHsmAdminLocal' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    # It must exist: .NET answers "" for a missing local application-data folder, and PSResourceGet then writes its
    # settings under the current directory.
    New-Item -ItemType Directory -Force $settings | Out-Null
    $env:XDG_DATA_HOME = $settings
    # The simulator's RequiredModules must resolve while its manifest is checked: the staged product first on the path.
    $env:PSModulePath = $out + [IO.Path]::PathSeparator + $env:PSModulePath
    try {
        Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop
        Register-PSResourceRepository -Name $repoName -Uri $repository -Trusted
        Publish-PSResource -Path $productStage -Repository $repoName
        Publish-PSResource -Path $simStage -Repository $repoName
    }
    finally {
        Unregister-PSResourceRepository -Name $repoName -ErrorAction SilentlyContinue
        $env:XDG_DATA_HOME = $saved.XDG_DATA_HOME
        $env:PSModulePath = $saved.PSModulePath
        Remove-Item $settings -Recurse -Force -ErrorAction SilentlyContinue
    }
    foreach ($stage in $productStage, $simStage) {
        $files = @(Get-ChildItem $stage -Recurse -File)
        Write-Host ("Staged {0} ({1} files, {2:n1} MB)" -f $stage, $files.Count, (($files | Measure-Object Length -Sum).Sum / 1MB))
    }
    Get-ChildItem $repository -Filter "NShield.HsmAdmin*.$version.nupkg" | ForEach-Object { Write-Host "Published $($_.FullName)" }
}

switch ($Task) {
    'build' { Invoke-Build }
    'xunit' { Invoke-Build; exit (Complete-TestRun @(Invoke-XUnit)) }
    'pester' { Invoke-Build; exit (Complete-TestRun @(Invoke-Pester)) }
    'test' {
        Assert-Prerequisite
        Invoke-Build
        $x = @(Invoke-XUnit)
        $p = Invoke-Pester
        # Prints each suite's counts and every failed-run reason, then the closing line, last.
        exit (Complete-TestRun @($x + $p))
    }
    'demo' {
        # Provisioned like test; when it cannot be, the demo says so and runs in-process (Demo.ps1 picks the transport).
        $stop = Install-Prerequisite -Task $Task
        if ($stop) { Write-Host $stop }
        Invoke-Build
        Invoke-ChildPwsh -File (Join-Path $root 'examples/Demo.ps1')
        exit $LASTEXITCODE
    }
    'package' {
        if (-not $NoBuild) { Invoke-Build }
        Invoke-Package
    }
    'bench' {
        Assert-Prerequisite
        Invoke-Build
        if ($Baseline) { Invoke-ChildPwsh -File (Join-Path $root 'bench/Compare-Revisions.ps1') -Baseline $Baseline }
        else { Invoke-ChildPwsh -File (Join-Path $root 'bench/Invoke-Benchmark.ps1') }
        exit $LASTEXITCODE
    }
}
