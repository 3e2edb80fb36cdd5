#!/usr/bin/env pwsh
<#
.SYNOPSIS
    CPU per authenticated SSH channel, measured from outside the measured process: the host side (a separate pwsh that
    runs our cmdlets) and the simulator side (the modules' sshd listeners with every session and firmware run they reaped).
.DESCRIPTION
    The definition the bench uses too (bench/Invoke-Benchmark.ps1, "host / channel"): whole-process CPU (user + system,
    every thread) of the process that runs the fleet command, during that command, divided by the authenticated SSH
    connections the modules' sshd accepted during it ("Accepted publickey" in their logs).
    Independent of the bench: the bench reads its own TotalProcessorTime; here this script reads the child pwsh's
    /proc/<pid>/stat before it sends a command on the child's stdin and after the child answers "done", so nothing inside
    the measured process takes part. The child is a fresh pwsh with the module imported: its first command of each kind is
    reported separately as "cold" (JIT of our and SSH.NET's code, first key decryption), the later ones as "warm".
    Workloads: Test-HsmConnection -ThrottleLimit 16 over N enrolled modules (6 channels each), and Invoke-HsmEnroll
    -ThrottleLimit 16 of N fresh factory-state modules.
.EXAMPLE
    dotnet pwsh ./bench/Measure-ChannelCpu.ps1 -Modules 16 -Repetitions 4     # after ./build.ps1 build
#>
param([int] $Modules = 16, [int] $Repetitions = 4, [int] $EnrollRepetitions = 2)
$ErrorActionPreference = 'Stop'
$repo = Split-Path $PSScriptRoot
Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1')
Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-chcpu-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$simPath = Join-Path $work 'sim'
$clockTicks = try { [int](& getconf CLK_TCK) } catch { 100 }
function Get-LoadAverage { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' }
# utime+stime (own) and cutime+cstime (reaped children) of a process, in ms.
function Get-ProcCpu([int] $procId) {
    $stat = [IO.File]::ReadAllText("/proc/$procId/stat")
    $f = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
    [pscustomobject]@{ Own = ([double]$f[11] + [double]$f[12]) * 1000 / $clockTicks; Children = ([double]$f[13] + [double]$f[14]) * 1000 / $clockTicks }
}
function Get-Fleet([string] $hostPath) {
    $registry = Get-Content (Join-Path $hostPath 'module-registry.json') -Raw | ConvertFrom-Json
    $dirs = (Get-HsmSimulator -Path $simPath).Modules | Where-Object { $_.Esn -in $registry.esn } | ForEach-Object ModuleDir
    $pids = @(); $logs = @()
    foreach ($d in $dirs) {
        foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            $pf = Join-Path $d "services/$svc/sshd.pid"
            if (Test-Path $pf) { $pids += [int](Get-Content $pf -Raw).Trim() }
            $logs += Join-Path $d "services/$svc/sshd.log"
        }
    }
    [pscustomobject]@{ Pids = $pids; Logs = $logs }
}
function Get-Channels($fleet) {
    $n = 0
    foreach ($l in $fleet.Logs) { try { $n += [regex]::Matches([IO.File]::ReadAllText($l), 'Accepted publickey').Count } catch { } }
    $n
}
function Get-SimCpu($fleet) { $t = 0.0; foreach ($p in $fleet.Pids) { try { $c = Get-ProcCpu $p; $t += $c.Own + $c.Children } catch { } }; $t }

$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$exe = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { (Get-Process -Id $PID).Path } else { Join-Path $PSHOME 'pwsh' }
# The child: imports the module, then runs one command per stdin line and answers "done" (or "error: ...").
$childScript = @'
$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; $WarningPreference = 'SilentlyContinue'
Import-Module $env:NSHIELD_BENCH_MANIFEST
[Console]::Out.WriteLine('ready'); [Console]::Out.Flush()
while ($null -ne ($line = [Console]::In.ReadLine())) {
    if ($line -eq 'exit') { break }
    try { $null = & ([scriptblock]::Create($line)); [Console]::Out.WriteLine('done') }
    catch { [Console]::Out.WriteLine("error: $_") }
    [Console]::Out.Flush()
}
'@
$rows = [Collections.Generic.List[object]]::new()
$child = $null
$loadStart = Get-LoadAverage
try {
    New-Item -ItemType Directory -Force $work | Out-Null
    $testHost = Join-Path $work 'host-test'
    $null = Start-HsmSimulator -ModuleCount $Modules -SimulatorPath $simPath -HostPath $testHost -Confirm:$false
    $null = Invoke-HsmEnroll -HostPath $testHost -ThrottleLimit 16 -Confirm:$false -WarningAction SilentlyContinue

    $psi = [Diagnostics.ProcessStartInfo]::new($exe)
    if ($exe -notlike '*pwsh') { $psi.ArgumentList.Add($pwshDll) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $childScript) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $psi.Environment['NSHIELD_BENCH_MANIFEST'] = Join-Path $repo 'NShield.HsmAdmin.psd1'
    $child = [Diagnostics.Process]::Start($psi)
    if ($child.StandardOutput.ReadLine() -ne 'ready') { throw 'The child pwsh did not start.' }

    function Measure-Child([string] $workload, [string] $kind, [string] $command, $fleet) {
        $ch0 = Get-Channels $fleet; $sim0 = Get-SimCpu $fleet; $cpu0 = (Get-ProcCpu $child.Id).Own
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $child.StandardInput.WriteLine($command); $child.StandardInput.Flush()
        $answer = $child.StandardOutput.ReadLine()
        $ms = $sw.Elapsed.TotalMilliseconds
        $cpu1 = (Get-ProcCpu $child.Id).Own
        if ($answer -ne 'done') { throw "$workload failed in the child: $answer" }
        Start-Sleep -Milliseconds 300   # let the listeners reap their last sessions
        $channels = (Get-Channels $fleet) - $ch0; $sim = (Get-SimCpu $fleet) - $sim0
        $row = [pscustomobject]@{
            Workload = $workload; Kind = $kind; WallMs = [math]::Round($ms); Channels = $channels
            HostCpuMs = [math]::Round($cpu1 - $cpu0); HostPerChannel = [math]::Round(($cpu1 - $cpu0) / [math]::Max(1, $channels), 1)
            SimCpuMs = [math]::Round($sim); SimPerChannel = [math]::Round($sim / [math]::Max(1, $channels), 1); Load = Get-LoadAverage
        }
        $rows.Add($row)
        Write-Host ('{0,-10} {1,-5} {2,6} ms  {3,4} channels  host {4,5} ms = {5,5:n1}/channel  simulator {6,5} ms = {7,5:n1}/channel  load {8}' -f
            $row.Workload, $row.Kind, $row.WallMs, $row.Channels, $row.HostCpuMs, $row.HostPerChannel, $row.SimCpuMs, $row.SimPerChannel, $row.Load)
    }
    $testFleet = Get-Fleet $testHost
    $testCmd = "if ((Test-HsmConnection -HostPath '$testHost' -ThrottleLimit 16) -ne `$true) { throw 'a channel failed' }"
    foreach ($i in 0..$Repetitions) { Measure-Child "test $Modules" $(if ($i) { 'warm' } else { 'cold' }) $testCmd $testFleet }
    foreach ($i in 0..$EnrollRepetitions) {
        $h = Join-Path $work "host-enroll-$i"
        $null = Add-HsmSimulatedModule -Count $Modules -SimulatorPath $simPath -HostPath $h -Confirm:$false
        Measure-Child "enroll $Modules" $(if ($i) { 'warm' } else { 'cold' }) "Invoke-HsmEnroll -HostPath '$h' -ThrottleLimit 16 -Confirm:`$false" (Get-Fleet $h)
    }
}
finally {
    if ($child -and -not $child.HasExited) { $child.StandardInput.WriteLine('exit'); if (-not $child.WaitForExit(10000)) { $child.Kill() } }
    Get-HsmSimulator | Where-Object Path -eq $simPath | Stop-HsmSimulator -Remove -Confirm:$false -ErrorAction SilentlyContinue
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
function Median([double[]] $v) { $v = @($v | Sort-Object); $n = $v.Count; if (-not $n) { return $null }; if ($n % 2) { $v[($n - 1) / 2] } else { ($v[$n / 2 - 1] + $v[$n / 2]) / 2 } }
''
"CPU per authenticated channel, measured from outside the process; $([Environment]::ProcessorCount) cores, load average $loadStart at start, $(Get-LoadAverage) at end"
''
'| workload | session | n | channels | host CPU / channel, median (min–max) | simulator CPU / channel, median (min–max) |'
'|---|---|---:|---:|---:|---:|'
foreach ($g in $rows | Group-Object Workload, Kind) {
    $h = @($g.Group.HostPerChannel); $s = @($g.Group.SimPerChannel)
    '| {0} | {1} | {2} | {3} | {4:n1} ({5:n1}–{6:n1}) | {7:n1} ({8:n1}–{9:n1}) |' -f $g.Group[0].Workload, $g.Group[0].Kind, $g.Count,
        (Median $g.Group.Channels), (Median $h), ($h | Measure-Object -Minimum).Minimum, ($h | Measure-Object -Maximum).Maximum,
        (Median $s), ($s | Measure-Object -Minimum).Minimum, ($s | Measure-Object -Maximum).Maximum
}
