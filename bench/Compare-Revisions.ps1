#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Benchmarks the current build side by side with another git revision, in one run.
.DESCRIPTION
    Run by `dotnet pwsh ./build.ps1 bench -Baseline <rev>` (which builds the current tree first). Checks <rev> out into
    a temporary detached git worktree (under the temp folder), builds it there (`dotnet tool restore`, then
    `dotnet pwsh ./build.ps1 build` of that tree; log in <OutputPath>/baseline-build.log), then runs -Passes passes.
    A pass runs bench/Compare-Worker.ps1 once per revision, each in its own child pwsh that imports that tree's
    NShield.HsmAdmin.psd1 and NShield.HsmAdmin.Simulator.psd1 (two builds of one binary module cannot load in one
    process); which revision goes first alternates from pass to pass (odd passes: baseline first). Each child starts
    its own simulator from its own tree, warms every command up, and times the same workloads on fresh fleets:
    enroll 1 and N, roll N, get-keys N, test N, get-module N, backup, restore N (N = -Modules).
    Verdict per workload: the ratio current/baseline of the medians over all samples, against the run's own noise,
    i.e. the larger relative spread between the passes' medians ((max - min) / median) of the two revisions: "slower"
    when ratio > 1 + noise, "faster" when ratio < 1 - noise, otherwise "same (within noise)". With two passes the
    spread is the difference between them; more passes give a fairer noise figure. The same rule on the measuring
    child's CPU (TotalProcessorTime) gives a CPU verdict, which load inflates less than wall time.
    -FromJson <compare.json> re-renders an earlier run's samples (no measurement).
    Passes repeat up to -Passes while the projected time stays within -BudgetSeconds (at least -MinPasses).
    Writes <OutputPath>/compare.json (every sample) and compare.md (printed at the end). The temporary worktree is
    removed afterwards (`git worktree remove --force`), also on failure. Timing is reported, never asserted.
.PARAMETER Baseline
    Any git revision (commit, tag, branch) of this repository to compare against.
.PARAMETER BaselineBuild
    An already built tree of the baseline to use instead of checking out and building -Baseline (it is left in place).
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Baseline 4e486e8
.EXAMPLE
    dotnet pwsh ./bench/Compare-Revisions.ps1 -Baseline main~5 -Passes 2 -Modules 8
#>
[CmdletBinding(DefaultParameterSetName = 'Run')]
param(
    [Parameter(Mandatory, ParameterSetName = 'Run')] [string] $Baseline,
    [int] $Passes = 3,
    [int] $MinPasses = 2,
    # Wall-clock budget for the passes (the baseline's build is not counted).
    [int] $BudgetSeconds = 420,
    [int] $Modules = 16,
    [string] $BaselineBuild,
    [string] $OutputPath,
    # Re-analyse the samples of an earlier run's compare.json (no measurement): rewrites compare.md/.json in -OutputPath.
    [Parameter(Mandatory, ParameterSetName = 'Reanalyse')] [string] $FromJson
)
$ErrorActionPreference = 'Stop'
$repo = Split-Path $PSScriptRoot
if (-not $OutputPath) { $OutputPath = Join-Path $repo 'out/bench' }
New-Item -ItemType Directory -Force $OutputPath | Out-Null
$worker = Join-Path $PSScriptRoot 'Compare-Worker.ps1'
function Get-LoadAverage { try { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' } catch { 'n/a' } }
function Invoke-Git { $out = & git -C $repo @args 2>&1; if ($LASTEXITCODE -ne 0) { throw "git $($args -join ' ') failed: $out" }; $out }

$runClock = [Diagnostics.Stopwatch]::StartNew()
$passRecords = [Collections.Generic.List[object]]::new()
if ($FromJson) {
    $earlier = Get-Content $FromJson -Raw | ConvertFrom-Json
    $Baseline = $earlier.baseline.revision; $baselineCommit = $earlier.baseline.commit
    $currentCommit = $earlier.current.commit; $dirty = [bool]$earlier.current.uncommittedChanges
    $loadAtStart = $earlier.machine.loadAverageStart; $loadAtEnd = $earlier.machine.loadAverageEnd
    $buildSeconds = $earlier.baselineBuildSeconds; $measuredSeconds = $earlier.totalSeconds
    $Modules = [int](@($earlier.runs[0].samples | Where-Object workload -like 'enroll *' | ForEach-Object { ($_.workload -split ' ')[1] }) |
            Measure-Object -Maximum).Maximum
    foreach ($r in $earlier.runs) { $passRecords.Add($r) }
    $measuredAt = $earlier.date
}
else {
    $baselineCommit = (Invoke-Git rev-parse --verify "$Baseline^{commit}").Trim()
    $currentCommit = (Invoke-Git rev-parse HEAD).Trim()
    $dirty = [bool](& git -C $repo status --porcelain --untracked-files=no 2>$null)
    if (-not (Test-Path (Join-Path $repo 'bin/NShield.HsmAdmin.psm1'))) {
        throw "The current tree is not built: run 'dotnet pwsh ./build.ps1 build' first (build.ps1 bench -Baseline does)."
    }
    $pwshDll = Join-Path $PSHOME 'pwsh.dll'
    $launcher = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { @('dotnet', $pwshDll) }
    else { @((Join-Path $PSHOME 'pwsh')) }
    $exe = $launcher[0]; $pre = @($launcher | Select-Object -Skip 1)

    $loadAtStart = Get-LoadAverage
    $tree = $null
    try {
        if ($BaselineBuild) {
            $baseRoot = (Resolve-Path $BaselineBuild).Path
            $treeCommit = (& git -C $baseRoot rev-parse HEAD 2>$null)
            if ($treeCommit -and $treeCommit.Trim() -ne $baselineCommit) { throw "$baseRoot is at $treeCommit, not $Baseline ($baselineCommit)." }
            Write-Host "Baseline ${baselineCommit}: the built tree $baseRoot"
            $buildSeconds = 0
        }
        else {
            $tree = Join-Path ([IO.Path]::GetTempPath()) ("nshield-baseline-" + $baselineCommit.Substring(0, 8) + '-' +
                [guid]::NewGuid().ToString('N').Substring(0, 6))
            Write-Host "Baseline ${baselineCommit}: git worktree add --detach $tree, then build (load average $(Get-LoadAverage))"
            $null = Invoke-Git worktree add --detach $tree $baselineCommit
            $baseRoot = $tree
            $buildLog = Join-Path $OutputPath 'baseline-build.log'
            $buildClock = [Diagnostics.Stopwatch]::StartNew()
            Push-Location $tree
            try {
                & dotnet tool restore *> $buildLog
                if ($LASTEXITCODE -ne 0) { throw "dotnet tool restore in $tree failed (exit $LASTEXITCODE); see $buildLog" }
                & dotnet pwsh -NoProfile -NonInteractive ./build.ps1 build *>> $buildLog
                if ($LASTEXITCODE -ne 0) {
                    Get-Content $buildLog -Tail 20 | Write-Host
                    throw "The baseline's build failed (exit $LASTEXITCODE); see $buildLog"
                }
            }
            finally { Pop-Location }
            $buildSeconds = [math]::Round($buildClock.Elapsed.TotalSeconds, 0)
            Write-Host "Baseline built in $buildSeconds s"
        }
        $roots = [ordered]@{ baseline = $baseRoot; current = $repo }

        $passClock = $null
        $durations = @()
        $passRecords.Clear()
        for ($p = 1; $p -le $Passes; $p++) {
            if ($p -gt $MinPasses -and $durations.Count -gt 0 -and
                ($runClock.Elapsed.TotalSeconds - $buildSeconds + ($durations | Measure-Object -Maximum).Maximum) -gt $BudgetSeconds) {
                Write-Host "Stopping after $($p - 1) passes: another would exceed the $BudgetSeconds s budget."
                break
            }
            $order = if ($p % 2) { @('baseline', 'current') } else { @('current', 'baseline') }
            $passClock = [Diagnostics.Stopwatch]::StartNew()
            foreach ($side in $order) {
                $load0 = Get-LoadAverage
                Write-Host "Pass $p, $side ($($roots[$side])), load average $load0"
                $out = Join-Path $OutputPath "compare-pass$p-$side.json"
                & $exe @pre -NoProfile -NonInteractive -File $worker -ModuleRoot $roots[$side] -OutFile $out -Modules $Modules
                if ($LASTEXITCODE -ne 0) { throw "Pass $p, $side failed (exit $LASTEXITCODE)." }
                $r = Get-Content $out -Raw | ConvertFrom-Json
                Remove-Item $out
                $passRecords.Add([pscustomobject][ordered]@{ pass = $p; side = $side; loadStart = $load0; loadEnd = Get-LoadAverage
                        warmupSeconds = $r.warmupSeconds; totalSeconds = $r.totalSeconds; samples = @($r.samples) })
            }
            $durations += $passClock.Elapsed.TotalSeconds
            Write-Host ("Pass {0}: {1:n0} s" -f $p, $passClock.Elapsed.TotalSeconds)
        }
    }
    finally {
        if ($tree) {
            & git -C $repo worktree remove --force $tree 2>&1 | Out-Null
            if (Test-Path $tree) { Remove-Item $tree -Recurse -Force -ErrorAction SilentlyContinue; & git -C $repo worktree prune 2>&1 | Out-Null }
        }
    }
    $loadAtEnd = Get-LoadAverage
    $measuredSeconds = [math]::Round($runClock.Elapsed.TotalSeconds, 1)
    $measuredAt = (Get-Date).ToUniversalTime().ToString('o')
}

# ---------------------------------------------------------------- analysis
function Get-Median([double[]] $v) {
    if (-not $v -or $v.Count -eq 0) { return $null }
    $s = @($v | Sort-Object); $n = $s.Count
    if ($n % 2) { $s[($n - 1) / 2] } else { ($s[$n / 2 - 1] + $s[$n / 2]) / 2 }
}
$passCount = @($passRecords | ForEach-Object { $_.pass } | Select-Object -Unique).Count
$workloads = @($passRecords | ForEach-Object { $_.samples } | ForEach-Object { $_.workload } | Select-Object -Unique)
# Each pass's median of one measure (ms or hostCpuMs) for a workload, in pass order, and their spread in % of their median.
function Get-PassMedians($recs, [string] $w, [string] $measure) {
    @($recs | ForEach-Object { $pr = $_; Get-Median @($pr.samples | Where-Object workload -eq $w | ForEach-Object { [double]$_.$measure }) })
}
function Get-SpreadPct([double[]] $perPass) {
    $pm = Get-Median $perPass
    if (-not $pm) { return 0 }
    [math]::Round(100 * (($perPass | Measure-Object -Maximum).Maximum - ($perPass | Measure-Object -Minimum).Minimum) / $pm, 1)
}
function Get-Verdict($ratio, [double] $noisePct) {
    if ($null -eq $ratio) { 'n/a' } elseif ($ratio -gt 1 + $noisePct / 100) { 'slower' }
    elseif ($ratio -lt 1 - $noisePct / 100) { 'faster' } else { 'same (within noise)' }
}
$rows = foreach ($w in $workloads) {
    $row = [ordered]@{ workload = $w }
    foreach ($side in 'baseline', 'current') {
        $recs = @($passRecords | Where-Object side -eq $side)
        $all = @($recs | ForEach-Object { $_.samples } | Where-Object workload -eq $w)
        $perPass = Get-PassMedians $recs $w 'ms'
        $cpuPerPass = Get-PassMedians $recs $w 'hostCpuMs'
        $med = Get-Median @($all | ForEach-Object { [double]$_.ms })
        $row[$side] = [ordered]@{
            medianMs = [math]::Round($med, 1); n = $all.Count; passMediansMs = @($perPass | ForEach-Object { [math]::Round($_, 1) })
            spreadPct = Get-SpreadPct $perPass
            passMediansHostCpuMs = @($cpuPerPass | ForEach-Object { [math]::Round($_, 1) }); hostCpuSpreadPct = Get-SpreadPct $cpuPerPass
            hostCpuMs = [math]::Round((Get-Median @($all | ForEach-Object { [double]$_.hostCpuMs })), 1)
            simulatorCpuMs = [math]::Round((Get-Median @($all | ForEach-Object { [double]$_.simulatorCpuMs })), 1)
            channels = Get-Median @($all | ForEach-Object { [double]$_.channels })
        }
    }
    $b = $row.baseline; $c = $row.current
    $row.ratio = if ($b.medianMs) { [math]::Round($c.medianMs / $b.medianMs, 2) } else { $null }
    $row.hostCpuRatio = if ($b.hostCpuMs) { [math]::Round($c.hostCpuMs / $b.hostCpuMs, 2) } else { $null }
    # Same pass, adjacent in time: the ratio of each pass's medians (load drift between passes cancels).
    $row.pairedRatios = @(for ($i = 0; $i -lt [math]::Min($b.passMediansMs.Count, $c.passMediansMs.Count); $i++) {
            if ($b.passMediansMs[$i]) { [math]::Round($c.passMediansMs[$i] / $b.passMediansMs[$i], 2) } })
    $row.noisePct = [math]::Max($b.spreadPct, $c.spreadPct)
    $row.verdict = Get-Verdict $row.ratio $row.noisePct
    # The same rule on the measuring process's CPU, which load inflates less than wall time.
    $row.hostCpuNoisePct = [math]::Max($b.hostCpuSpreadPct, $c.hostCpuSpreadPct)
    $row.hostCpuVerdict = if ($b.hostCpuMs -ge 20) { Get-Verdict $row.hostCpuRatio $row.hostCpuNoisePct } else { 'n/a (< 20 ms)' }
    $row
}
$result = [ordered]@{
    date = $measuredAt
    command = if ($FromJson) { $earlier.command }
    else { "dotnet pwsh ./bench/Compare-Revisions.ps1 -Baseline $Baseline -Passes $Passes -Modules $Modules" }
    baseline = [ordered]@{ revision = $Baseline; commit = $baselineCommit }
    current = [ordered]@{ commit = $currentCommit; uncommittedChanges = $dirty }
    machine = [ordered]@{ cores = [Environment]::ProcessorCount; os = [Runtime.InteropServices.RuntimeInformation]::OSDescription
        pwsh = $PSVersionTable.PSVersion.ToString(); loadAverageStart = $loadAtStart; loadAverageEnd = $loadAtEnd }
    baselineBuildSeconds = $buildSeconds; passes = $passCount; totalSeconds = $measuredSeconds
    verdictRule = 'slower when current/baseline > 1 + noise, faster when < 1 - noise; ' +
        'noise = the larger (max - min) / median of the passes'' medians of either revision; hostCpuVerdict: the same on host CPU'
    workloads = @($rows); runs = @($passRecords)
}
$result | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $OutputPath 'compare.json') -Encoding utf8

function N($v, [string] $fmt = '{0:n0}') { if ($null -eq $v) { '–' } else { $fmt -f $v } }
$md = [Collections.Generic.List[string]]::new()
$md.Add('# NShield.HsmAdmin: side by side with a baseline revision')
$md.Add('')
$md.Add("Baseline ``$Baseline`` = $baselineCommit; current = $currentCommit$(if ($dirty) { ' (with uncommitted changes)' }). " +
    "$([Environment]::ProcessorCount) cores, $($result.machine.os); load average $loadAtStart at start, $loadAtEnd at end; " +
    "$passCount passes (each revision in its own child pwsh, order alternating: odd passes baseline first), $Modules modules; " +
    "$($result.totalSeconds) s in all, baseline build $buildSeconds s; measured $measuredAt.")
$md.Add('')
$md.Add('Wall times in ms: median over all samples (n; then the per-pass medians); ratio = current / baseline; noise = the larger ' +
    'spread between the passes of either revision, (max - min) / median; verdict: slower when ratio > 1 + noise, faster when ' +
    'ratio < 1 - noise. Host CPU: the measuring process (the cmdlets), median ms, with the same rule on its per-pass medians ' +
    '(CPU verdict; not given under 20 ms). Simulator CPU: the fleet''s sshd listeners with their sessions (each revision runs its ' +
    'own simulator).')
$md.Add('')
$md.Add('| workload | baseline | current | ratio | per-pass ratios | noise | verdict | host CPU base / cur | CPU ratio | CPU noise | ' +
    'CPU verdict | simulator CPU base / cur | channels base / cur |')
$md.Add('|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|')
foreach ($r in $rows) {
    $b = $r.baseline; $c = $r.current
    $md.Add("| $($r.workload) | $(N $b.medianMs) (n=$($b.n); $($b.passMediansMs -join ', ')) | " +
        "$(N $c.medianMs) (n=$($c.n); $($c.passMediansMs -join ', ')) | " +
        "$(N $r.ratio '{0:n2}') | $($r.pairedRatios -join ', ') | $(N $r.noisePct '{0:n0}')% | $($r.verdict) | " +
        "$(N $b.hostCpuMs) / $(N $c.hostCpuMs) | $(N $r.hostCpuRatio '{0:n2}') | $(N $r.hostCpuNoisePct '{0:n0}')% | $($r.hostCpuVerdict) | " +
        "$(N $b.simulatorCpuMs) / $(N $c.simulatorCpuMs) | $(N $b.channels) / $(N $c.channels) |")
}
$md.Add('')
$md.Add('| pass | revision | load at start | load at end | child total s (warm-up s) |')
$md.Add('|---:|---|---|---|---:|')
foreach ($pr in $passRecords) {
    $md.Add("| $($pr.pass) | $($pr.side) | $($pr.loadStart) | $($pr.loadEnd) | $($pr.totalSeconds) ($($pr.warmupSeconds)) |")
}
$md | Set-Content (Join-Path $OutputPath 'compare.md') -Encoding utf8
Write-Host ''
$md | Write-Host
