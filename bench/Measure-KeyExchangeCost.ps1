<#
.SYNOPSIS
    What post-quantum key exchange costs a fleet workload: every channel of N enrolled simulated modules tested
    (Test-HsmConnection's work: 6 × N connections, each connect + authenticate + one command) with the host's
    default key exchange order (post-quantum hybrid first) against the same order without the hybrids
    (curve25519 first). Alternating passes in one run; reports medians of wall time and of this process's CPU.
.EXAMPLE
    dotnet pwsh ./bench/Measure-KeyExchangeCost.ps1 -ModuleCount 8 -Passes 3
#>
param([int] $ModuleCount = 8, [int] $Passes = 3, [string] $OutFile)
$ErrorActionPreference = 'Stop'
$repo = Split-Path $PSScriptRoot
Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-kexbench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$load = { (Get-Content /proc/loadavg -Raw).Split(' ')[0..2] -join ' ' }
$startLoad = & $load
$sim = Start-HsmSimulator -ModuleCount $ModuleCount -HostPath (Join-Path $work 'host') -SimulatorPath (Join-Path $work 'sim') -Transport Ssh
try {
    $h = $sim.HostPath
    Invoke-HsmEnroll -HostPath $h | Out-Null
    # The engine lives in the module's own load context: its types are reached through the cmdlets' assembly.
    $cmdlets = (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly
    $engine = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).LoadFromAssemblyName(
        ($cmdlets.GetReferencedAssemblies() | Where-Object Name -eq 'NShield.HsmAdmin.Engine'))
    $T = { param($name) $engine.GetType("NShield.HsmAdmin.$name", $true) }
    $policy = & $T 'Drivers.SshAlgorithmPolicy'
    $classical = [string[]]@($policy::KeyExchanges | Where-Object { $_ -notin $policy::PostQuantumKeyExchanges })
    $variants = [ordered]@{ 'post-quantum first (default)' = $null; 'classical (curve25519 first)' = $classical }
    $samples = @{}; foreach ($k in $variants.Keys) { $samples[$k] = [Collections.Generic.List[object]]::new() }
    $me = [Diagnostics.Process]::GetCurrentProcess()
    foreach ($pass in 1..$Passes) {
        foreach ($name in $variants.Keys) {
            $transport = (& $T 'Drivers.SshModuleTransport')::new($null, $null, $variants[$name])
            $store = (& $T 'Store.HostStore')::Open($h, $null)
            $hsm = (& $T 'Operations.HsmHost')::new($store, $null, $transport, $null, $null)
            try {
                $inspection = (& $T 'Operations.ModuleInspection')::new($hsm)
                $null = $hsm.ClientKey('sshadmin')   # key opening is not what is measured
                foreach ($s in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $null = $hsm.ClientKey($s) }
                $me.Refresh(); $cpu0 = $me.TotalProcessorTime
                $clock = [Diagnostics.Stopwatch]::StartNew()
                $tasks = foreach ($m in $hsm.Attached()) {
                    foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $inspection.TestAsync($m, $svc, [Threading.CancellationToken]::None) }
                }
                $results = [Threading.Tasks.Task]::WhenAll([Threading.Tasks.Task[]]@($tasks)).GetAwaiter().GetResult()
                $wall = $clock.Elapsed.TotalMilliseconds
                $me.Refresh(); $cpu = ($me.TotalProcessorTime - $cpu0).TotalMilliseconds
                if (@($results | Where-Object { -not $_.Success }).Count) { throw "a channel failed under '$name'" }
                $samples[$name].Add([pscustomobject]@{ Wall = $wall; Cpu = $cpu })
                Write-Host ("pass {0} {1,-30} wall {2,7:n0} ms  host CPU {3,7:n0} ms" -f $pass, $name, $wall, $cpu)
            }
            finally { $hsm.Dispose() }
        }
    }
}
finally { Stop-HsmSimulator -Path $sim.Path; Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
$median = { param($xs) $s = @($xs | Sort-Object); $s[[int][math]::Floor(($s.Count - 1) / 2)] }
$channels = 6 * $ModuleCount
$rows = foreach ($name in $samples.Keys) {
    [pscustomobject]@{ Variant = $name; WallMs = [math]::Round((& $median $samples[$name].Wall), 0); HostCpuMs = [math]::Round((& $median $samples[$name].Cpu), 0)
        HostCpuPerChannelMs = [math]::Round((& $median $samples[$name].Cpu) / $channels, 1) }
}
$pq = $rows | Where-Object Variant -like 'post*'; $cl = $rows | Where-Object Variant -like 'classical*'
$ratio = [math]::Round($pq.WallMs / $cl.WallMs, 2)
$md = @("# Key exchange cost on a fleet workload", "",
    "Command: ``dotnet pwsh ./bench/Measure-KeyExchangeCost.ps1 -ModuleCount $ModuleCount -Passes $Passes``; commit $(git -C $repo rev-parse --short HEAD); $([Environment]::ProcessorCount) cores; load average at start $startLoad, at end $(& $load).",
    "Workload: every channel of $ModuleCount enrolled simulated modules tested ($channels connections, each connect + authenticate + ping), in parallel.", "",
    "| variant | wall (median) | host CPU (median) | host CPU per channel |", "|---|---:|---:|---:|")
foreach ($r in $rows) { $md += "| $($r.Variant) | $($r.WallMs) ms | $($r.HostCpuMs) ms | $($r.HostCpuPerChannelMs) ms |" }
$md += ""; $md += "Post-quantum first / classical, wall time: **$ratio** (the rule: keep post-quantum first unless this exceeds 2)."
$md -join "`n" | Write-Host
if ($OutFile) { $md -join "`n" | Set-Content $OutFile }
