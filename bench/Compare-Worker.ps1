#!/usr/bin/env pwsh
<#
.SYNOPSIS
    One pass of bench/Compare-Revisions.ps1 for one build: run in its own child pwsh, never by hand.
.DESCRIPTION
    Imports NShield.HsmAdmin.psd1 and NShield.HsmAdmin.Simulator.psd1 from -ModuleRoot (a built tree: two builds of the
    same binary module cannot load in one process), starts a simulator (real sshd per module and service), warms every
    measured command up on one module (untimed), adds two fresh factory-state fleets (1 and -Modules modules, untimed)
    and times, in this order:
      enroll 1, enroll N          Invoke-HsmEnroll -ThrottleLimit 16
      roll N                      Update-HsmSshKey (all services)
      get-keys N (x5)             Get-HsmSshKey
      test N (x2)                 Test-HsmConnection -ThrottleLimit 16 (must return $true)
      get-module N (x2)           Get-HsmModule (contacts every module)
      backup (x3)                 Backup-HsmSshKey -Passphrase -Force
      restore N                   Restore-HsmSshKey -Passphrase -ThrottleLimit 16
    Only parameters that both the baseline and the current revision have are used. Each sample records wall time, the
    CPU of this process (TotalProcessorTime delta: the cmdlets), the simulator's CPU (the fleet's sshd listeners with
    the sessions and firmware runs they reaped, /proc/<pid>/stat) and the SSH connections the modules accepted.
    Writes the samples as JSON to -OutFile; stops and removes its simulator and work folder whatever happens.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModuleRoot,
    [Parameter(Mandatory)] [string] $OutFile,
    [int] $Modules = 16
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$PSStyle.OutputRendering = 'PlainText'

Import-Module (Join-Path $ModuleRoot 'NShield.HsmAdmin.psd1')
Import-Module (Join-Path $ModuleRoot 'NShield.HsmAdmin.Simulator.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-compare-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$simPath = Join-Path $work 'sim'
New-Item -ItemType Directory -Force $work | Out-Null
# The machine folder (global nonce) in the work folder: older revisions default to /etc/opt/nfast/hsmadmin without it;
# newer ones take the simulated host's MachineFolder setting first and never read this variable then.
$env:NSHIELD_HSMADMIN_MACHINE_DIR = Join-Path $work 'machine'

$clockTicks = try { [int](& getconf CLK_TCK) } catch { 100 }
function Get-ProcCpuMs([int] $procId) {
    try { $stat = [IO.File]::ReadAllText("/proc/$procId/stat") } catch { return 0.0 }
    $f = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')   # f[0] is field 3 (state)
    ([double]$f[11] + [double]$f[12] + [double]$f[13] + [double]$f[14]) * 1000 / $clockTicks
}
function Get-HostCpuMs { $p = [Diagnostics.Process]::GetCurrentProcess(); $p.Refresh(); $p.TotalProcessorTime.TotalMilliseconds }
function Get-SimCpuMs($fleet) { $s = 0.0; foreach ($p in $fleet.SshdPids) { $s += Get-ProcCpuMs $p }; $s }
function Get-ChannelCount($fleet) {
    $n = 0
    foreach ($log in $fleet.SshdLogs) { try { $n += ([regex]::Matches([IO.File]::ReadAllText($log), 'Accepted publickey')).Count } catch { } }
    $n
}

$samples = [Collections.Generic.List[object]]::new()
function Measure-Workload([string] $name, $fleet, [scriptblock] $block) {
    $ch0 = Get-ChannelCount $fleet; $sim0 = Get-SimCpuMs $fleet; $cpu0 = Get-HostCpuMs
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $null = & $block
    $sw.Stop()
    $cpu1 = Get-HostCpuMs
    Start-Sleep -Milliseconds 200   # let the listeners reap their last sessions
    $sim1 = Get-SimCpuMs $fleet; $ch1 = Get-ChannelCount $fleet
    $samples.Add([ordered]@{ workload = $name; ms = [math]::Round($sw.Elapsed.TotalMilliseconds, 1)
            hostCpuMs = [math]::Round($cpu1 - $cpu0, 1); simulatorCpuMs = [math]::Round($sim1 - $sim0, 1); channels = $ch1 - $ch0 })
    Write-Host ("    {0,-14} {1,8:n0} ms   host CPU {2,6:n0} ms   simulator CPU {3,6:n0} ms   {4} channels" -f `
            $name, $sw.Elapsed.TotalMilliseconds, ($cpu1 - $cpu0), ($sim1 - $sim0), ($ch1 - $ch0))
}
function New-Fleet([int] $count, [string] $tag) {
    $hostPath = Join-Path $work "hosts/$tag"
    $mods = Add-HsmSimulatedModule -Count $count -SimulatorPath $simPath -HostPath $hostPath -Confirm:$false
    $pids = [Collections.Generic.List[int]]::new(); $logs = [Collections.Generic.List[string]]::new()
    foreach ($m in $mods) {
        foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            $pidFile = Join-Path $m.ModuleDir "services/$svc/sshd.pid"
            if (Test-Path $pidFile) { $pids.Add([int](Get-Content $pidFile -Raw).Trim()) }
            $logs.Add((Join-Path $m.ModuleDir "services/$svc/sshd.log"))
        }
    }
    [pscustomobject]@{ Host = $hostPath; SshdPids = $pids; SshdLogs = $logs }
}
function Assert-Connected($result) { if ($result -ne $true) { throw "Test-HsmConnection returned $result" } }

# The policy of both revisions: at least 12 characters, not one character repeated.
$passphrase = ConvertTo-SecureString 'bench-backup-passphrase' -AsPlainText -Force
$clock = [Diagnostics.Stopwatch]::StartNew()
try {
    $warm = Join-Path $work 'hosts/warmup'
    $null = Start-HsmSimulator -ModuleCount 1 -SimulatorPath $simPath -HostPath $warm -Confirm:$false
    # Warm-up, untimed: every measured command once (JIT, first SSH.NET use), so no sample pays a first call.
    $bakWarm = Join-Path $work 'warm.bak'
    $null = Invoke-HsmEnroll -HostPath $warm -ThrottleLimit 16 -Confirm:$false
    $null = Update-HsmSshKey -HostPath $warm -Confirm:$false
    $null = Get-HsmSshKey -HostPath $warm
    Assert-Connected (Test-HsmConnection -HostPath $warm -ThrottleLimit 16)
    $null = Get-HsmModule -HostPath $warm
    $null = Backup-HsmSshKey -HostPath $warm -Path $bakWarm -Passphrase $passphrase -Force -Confirm:$false
    $null = Restore-HsmSshKey -HostPath $warm -Path $bakWarm -Passphrase $passphrase -ThrottleLimit 16 -Confirm:$false
    $warmupSeconds = $clock.Elapsed.TotalSeconds

    $one = New-Fleet 1 'one'
    $many = New-Fleet $Modules 'many'
    $setupSeconds = $clock.Elapsed.TotalSeconds - $warmupSeconds
    Measure-Workload 'enroll 1' $one { Invoke-HsmEnroll -HostPath $one.Host -ThrottleLimit 16 -Confirm:$false }
    Measure-Workload "enroll $Modules" $many { Invoke-HsmEnroll -HostPath $many.Host -ThrottleLimit 16 -Confirm:$false }
    Measure-Workload "roll $Modules" $many { Update-HsmSshKey -HostPath $many.Host -Confirm:$false }
    foreach ($i in 1..5) { Measure-Workload "get-keys $Modules" $many { Get-HsmSshKey -HostPath $many.Host } }
    foreach ($i in 1..2) { Measure-Workload "test $Modules" $many { Assert-Connected (Test-HsmConnection -HostPath $many.Host -ThrottleLimit 16) } }
    foreach ($i in 1..2) { Measure-Workload "get-module $Modules" $many { Get-HsmModule -HostPath $many.Host } }
    $bak = Join-Path $work 'fleet.bak'
    foreach ($i in 1..3) {
        Measure-Workload 'backup' $many { Backup-HsmSshKey -HostPath $many.Host -Path $bak -Passphrase $passphrase -Force -Confirm:$false }
    }
    Measure-Workload "restore $Modules" $many {
        Restore-HsmSshKey -HostPath $many.Host -Path $bak -Passphrase $passphrase -ThrottleLimit 16 -Confirm:$false }
    # The fleet still answers with the keys the host holds after the restore (untimed).
    Assert-Connected (Test-HsmConnection -HostPath $many.Host -ThrottleLimit 16)
}
finally {
    Get-HsmSimulator | Where-Object Path -eq $simPath | Stop-HsmSimulator -Remove -Confirm:$false -ErrorAction SilentlyContinue
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
[ordered]@{ moduleRoot = $ModuleRoot; warmupSeconds = [math]::Round($warmupSeconds, 1); setupSeconds = [math]::Round($setupSeconds, 1)
    totalSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 1); samples = $samples } |
    ConvertTo-Json -Depth 5 | Set-Content $OutFile -Encoding utf8
