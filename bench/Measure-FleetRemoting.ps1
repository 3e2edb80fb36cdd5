<#
.SYNOPSIS
    Wall time of examples/Invoke-HsmFleetAcrossHosts.ps1 over PowerShell remoting (SSH, loopback): 1 host against 3.
.DESCRIPTION
    Stages the modules (build.ps1 package -NoBuild, into a temporary folder), starts three loopback hosts
    (pester/LoopbackFleet.psm1: one sshd on 127.0.0.1-3, each host its own store, machine folder and one simulated
    module), then alternates, -Repetitions times: the example on host 1 alone, and on all three hosts. The first
    pass enrolls; later ones find the modules enrolled and roll again. Each run connects, imports the module on each host,
    reads status, enrolls, rolls with a hardserver restart and tests every channel.
    Writes out/bench/remoting.json and out/bench/remoting.md and prints the table. Needs ./build.ps1 build first.
.EXAMPLE
    dotnet pwsh ./build.ps1 build; dotnet pwsh ./bench/Measure-FleetRemoting.ps1 -Repetitions 3
#>
param([int] $Repetitions = 2)
$ErrorActionPreference = 'Stop'
$repo = Split-Path $PSScriptRoot
Import-Module (Join-Path $repo 'pester/LoopbackFleet.psm1') -Force
$work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-bench-remoting-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Force $work | Out-Null
$modules = Join-Path $work 'modules'
try {
    & (Join-Path $repo 'build.ps1') package -NoBuild -OutputPath $modules *>&1 | Out-Null
    $fleet = Start-LoopbackFleet -Work $work -Modules $modules -HostCount 3 -ModulesPerHost 1
    $addresses = @($fleet.Hosts.ComputerName)
    $lines = Invoke-FleetChild $work @'
param([string] $Example, [string] $FleetJson, [int] $Repetitions, [string] $ResultPath)
$ErrorActionPreference = 'Stop'
$f = $FleetJson | ConvertFrom-Json -AsHashtable
$ssh = @{ Port = $f.Port; UserName = $f.UserName; KeyFilePath = $f.KeyFile; SshOption = [hashtable]$f.SshOption; ThrottleLimit = 8 }
$samples = foreach ($i in 1..$Repetitions) {
    foreach ($hosts in [string[]]@($f.Addresses[0]), [string[]]@($f.Addresses)) {
        $errs = $null
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $n = @(& $Example -HostName $hosts @ssh -ErrorAction SilentlyContinue -ErrorVariable errs).Count
        $sw.Stop()
        [pscustomobject]@{ Hosts = $hosts.Count; Pass = $i; Seconds = [math]::Round($sw.Elapsed.TotalSeconds, 2); Objects = $n; Errors = @($errs).Count }
    }
}
ConvertTo-Json -InputObject @($samples) | Set-Content $ResultPath
'@ @{ Example = (Join-Path $repo 'examples/Invoke-HsmFleetAcrossHosts.ps1'); Repetitions = $Repetitions; ResultPath = (Join-Path $work 'samples.json')
        FleetJson = (@{ Port = $fleet.Port; UserName = $fleet.UserName; KeyFile = $fleet.KeyFile; SshOption = $fleet.SshOption; Addresses = $addresses } | ConvertTo-Json -Compress) } @{ PSModulePath = $modules }
    $samples = @(Get-Content (Join-Path $work 'samples.json') -Raw | ConvertFrom-Json)
}
finally {
    Stop-LoopbackFleet -Work $work -Modules $modules
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
$outDir = Join-Path $repo 'out/bench'
New-Item -ItemType Directory -Force $outDir | Out-Null
$load = try { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' } catch { 'n/a' }
$median = { param($xs) $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
$one = & $median @($samples | Where-Object Hosts -eq 1 | ForEach-Object Seconds)
$three = & $median @($samples | Where-Object Hosts -eq 3 | ForEach-Object Seconds)
[ordered]@{ Machine = "$([Environment]::ProcessorCount) cores"; LoadAverage = $load; Samples = $samples; Median1 = $one; Median3 = $three } |
    ConvertTo-Json -Depth 4 | Set-Content (Join-Path $outDir 'remoting.json')
$md = @(
    '| hosts | pass | wall time (s) | objects | errors |', '|---|---|---|---|---|'
    $samples | ForEach-Object { "| $($_.Hosts) | $($_.Pass) | $($_.Seconds) | $($_.Objects) | $($_.Errors) |" }
    ''
    "Median: 1 host $one s, 3 hosts $three s (ratio $([math]::Round($three / $one, 2))); $([Environment]::ProcessorCount) cores, load $load."
)
$md | Set-Content (Join-Path $outDir 'remoting.md')
$md
