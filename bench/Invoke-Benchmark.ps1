#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Benchmarks NShield.HsmAdmin against the simulator over real SSH, side by side with an OpenSSH-tools script.
.DESCRIPTION
    Run by `dotnet pwsh ./build.ps1 bench` (which builds first). One simulator; every measurement pass adds
    fresh factory-state modules (Add-HsmSimulatedModule, untimed) to fresh hosts: one host per fleet size for our
    cmdlets and one per fleet size for the baseline (bench/openssh-baseline.sh: ssh + ssh-keygen, sequential,
    default OpenSSH client settings, StrictHostKeyChecking=yes against its own known_hosts). In each pass:
      enroll 1/4/16   Invoke-HsmEnroll -ThrottleLimit 16           vs  identity + enroll + 6 pings per module
      roll 1/4/16     Update-HsmSshKey -Confirm:$false (6 svcs)     vs  keys.add + ping(new) + keys.remove per service per module
      get-keys 16     Get-HsmSshKey                                 vs  ssh-keygen -l on the 6 public keys and known_hosts
      test 16         Test-HsmConnection                            vs  ping per service per module
      backup          Backup-HsmSshKey -Passphrase                  vs  cp + ssh-keygen -p
      restore 16      Restore-HsmSshKey (prove sshadmin, new keys for 5 services)  vs  decrypt + identity + (keys.set + ping) x5 per module
    Ours and the baseline alternate inside each pass, so load drift hits both. A pass is repeated up to -Repetitions
    times while the projected run time stays within -BudgetSeconds (at least -MinRepetitions passes).
    Beside wall time, every workload records CPU: of this (the measuring) process, i.e. our cmdlets (TotalProcessorTime
    delta), per SSH channel (channels counted from the modules' sshd logs: "Accepted publickey") and per module; and of
    the simulator separately (its sshd listeners' /proc/<pid>/stat: own plus reaped children's time, i.e. every session
    and firmware run). The OpenSSH baseline's client side (bash, ssh) is this process's reaped children's time.
    A PowerShell baseline (bench/pwsh-threadjob-baseline.ps1: ssh from pwsh, one Start-ThreadJob per module) runs the
    same steps in parallel, as a PowerShell admin without this module would.
    Latency: with the simulator's delay fault (-LatencyMs, 300 ms before every command on every module), enroll 1 and
    enroll 16 over SSH and in-process: with latency dominating, parallel scaling shows even on 2 cores.
    Then: Import-Module cost in child processes, and a per-SSH-command cost breakdown. The report ends with the target
    table (measured value, met or not).
    Writes out/bench/results.json and out/bench/results.md and prints the table.
#>
[CmdletBinding()]
param(
    [int] $Repetitions = 3,
    [int] $MinRepetitions = 2,
    # Wall-clock budget for the measurement passes (the whole build+bench must stay under 10 minutes).
    [int] $BudgetSeconds = 420,
    [int[]] $Sizes = @(1, 4, 16),
    [int] $ImportRepetitions = 5,
    [int] $LatencyMs = 300,
    [int] $LatencyRepetitions = 2,
    # A Posh-SSH module manifest to time its import beside ours (none is built here: see bench/README.md).
    [string] $PoshSshManifest,
    [string] $OutputPath
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$PSStyle.OutputRendering = 'PlainText'
$repo = Split-Path $PSScriptRoot
if (-not $OutputPath) { $OutputPath = Join-Path $repo 'out/bench' }
$baselineScript = Join-Path $PSScriptRoot 'openssh-baseline.sh'
$pwshBaselineScript = Join-Path $PSScriptRoot 'pwsh-threadjob-baseline.ps1'
$commit = try { (& git -C $repo rev-parse --short HEAD 2>$null) + $(if (& git -C $repo status --porcelain --untracked-files=no 2>$null) { ' (with uncommitted changes)' } else { '' }) } catch { 'n/a' }
$manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
$runClock = [Diagnostics.Stopwatch]::StartNew()

function Get-LoadAverage { try { ((Get-Content /proc/loadavg -Raw) -split ' ')[0..2] -join ' ' } catch { 'n/a' } }
$loadAtStart = Get-LoadAverage

foreach ($tool in 'bash', 'ssh', 'ssh-keygen', 'jq') {
    if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { throw "The OpenSSH baseline needs '$tool' on PATH." }
}
Import-Module $manifest
Import-Module (Join-Path (Split-Path $manifest) 'NShield.HsmAdmin.Simulator.psd1')
$work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-bench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$simPath = Join-Path $work 'sim'
New-Item -ItemType Directory -Force $work, $OutputPath | Out-Null

# ---------------------------------------------------------------- samples
$samples = [ordered]@{}
function Add-Sample([string] $name, [double] $ms) {
    if (-not $samples.Contains($name)) { $samples[$name] = [Collections.Generic.List[double]]::new() }
    $samples[$name].Add([math]::Round($ms, 1))
}
function Get-Stats([string] $name) {
    if (-not $samples.Contains($name)) { return $null }
    $v = @($samples[$name] | Sort-Object)
    $n = $v.Count
    $median = if ($n % 2) { $v[($n - 1) / 2] } else { ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    [ordered]@{ n = $n; median = [math]::Round($median, 1); min = $v[0]; max = $v[-1]
        spreadPct = if ($median) { [math]::Round(100 * ($v[-1] - $v[0]) / $median, 0) } else { 0 }; samples = @($samples[$name]) }
}
function Measure-Ms([scriptblock] $block) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $null = & $block
    $sw.Stop()
    $sw.Elapsed.TotalMilliseconds
}
# ---------------------------------------------------------------- CPU accounting
$clockTicks = try { [int](& getconf CLK_TCK) } catch { 100 }
# utime, stime, cutime, cstime of a process in ms (cutime/cstime: children it has reaped, with theirs). $null if gone.
function Get-ProcCpu([int] $procId) {
    try { $stat = [IO.File]::ReadAllText("/proc/$procId/stat") } catch { return $null }
    $f = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')   # f[0] is field 3 (state)
    [pscustomobject]@{ Own = ([double]$f[11] + [double]$f[12]) * 1000 / $clockTicks; Children = ([double]$f[13] + [double]$f[14]) * 1000 / $clockTicks }
}
function Get-HostCpuMs { $p = [Diagnostics.Process]::GetCurrentProcess(); $p.Refresh(); $p.TotalProcessorTime.TotalMilliseconds }
# This process's reaped children: the OpenSSH baseline's bash, ssh and ssh-keygen.
function Get-ChildCpuMs { (Get-ProcCpu $PID).Children }
# The simulator's side for one fleet: its sshd listeners, each with every session and firmware run it reaped.
function Get-SimCpuMs($fleet) {
    $sum = 0.0
    foreach ($procId in $fleet.SshdPids) { $c = Get-ProcCpu $procId; if ($c) { $sum += $c.Own + $c.Children } }
    $sum
}
# Authenticated SSH connections the fleet's modules accepted so far (sshd logs at LogLevel INFO).
function Get-ChannelCount($fleet) {
    $n = 0
    foreach ($log in $fleet.SshdLogs) {
        try { $n += ([regex]::Matches([IO.File]::ReadAllText($log), 'Accepted publickey')).Count } catch { }
    }
    $n
}
# Wall time plus CPU of this process, its reaped children, the fleet's simulator side, and the channels opened.
function Measure-Cost([string] $name, $fleet, [scriptblock] $block) {
    $ch0 = Get-ChannelCount $fleet; $sim0 = Get-SimCpuMs $fleet; $kid0 = Get-ChildCpuMs; $cpu0 = Get-HostCpuMs
    $ms = Measure-Ms $block
    $cpu1 = Get-HostCpuMs
    Start-Sleep -Milliseconds 200   # let the listeners reap their last sessions
    $kid1 = Get-ChildCpuMs; $sim1 = Get-SimCpuMs $fleet; $ch1 = Get-ChannelCount $fleet
    Add-Sample $name $ms
    Add-Sample "cpu host: $name" ($cpu1 - $cpu0)
    Add-Sample "cpu children: $name" ($kid1 - $kid0)
    Add-Sample "cpu simulator: $name" ($sim1 - $sim0)
    Add-Sample "channels: $name" ($ch1 - $ch0)
    Write-Host ("  {0,-28} {1,9:n0} ms   cpu: host {2,6:n0} ms, children {3,6:n0} ms, simulator {4,6:n0} ms; {5} channels" -f `
            $name, $ms, ($cpu1 - $cpu0), ($kid1 - $kid0), ($sim1 - $sim0), ($ch1 - $ch0))
}
# Runs one of our cmdlets; any error fails the benchmark (a fast failure is no result): $ErrorActionPreference
# is Stop, so a non-terminating error from a module throws as well.
function Measure-Ours([string] $name, [scriptblock] $block, $fleet) {
    if ($fleet) { Measure-Cost $name $fleet $block; return }
    $ms = Measure-Ms $block
    Add-Sample $name $ms
    Write-Host ("  {0,-28} {1,9:n0} ms" -f $name, $ms)
}
function Measure-Baseline([string] $name, [string] $workload, $fleet) {
    Measure-Cost $name $fleet {
        & bash $baselineScript $workload $fleet.State (Join-Path $fleet.Host 'module-registry.json') | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "baseline $workload failed (exit $LASTEXITCODE)" }
    }
}
function Measure-PwshBaseline([string] $name, [string] $workload, $fleet) {
    Measure-Cost $name $fleet {
        & $pwshBaselineScript -Workload $workload -State $fleet.State -Registry (Join-Path $fleet.Host 'module-registry.json') | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "PowerShell baseline $workload failed (exit $LASTEXITCODE)" }
    }
}

# ---------------------------------------------------------------- fleets
# The engine loads in its own load context, so its types are reached through the cmdlets' assembly.
$cmdlets = (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly
$engine = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).LoadFromAssemblyName(
    ($cmdlets.GetReferencedAssemblies() | Where-Object Name -eq 'NShield.HsmAdmin.Engine'))
# The simulated vendor's well-known factory credential (the simulator writes it when it starts).
function Get-DefaultKey { [IO.File]::ReadAllText((Get-HsmSimulator -Path $simPath).FactoryCredentialPath) }
function New-Fleet([int] $count, [string] $tag, [string] $simulator = $simPath, [int] $delayMs = 0) {
    $hostPath = Join-Path $work "hosts/$tag"
    $ms = Measure-Ms { $script:mods = Add-HsmSimulatedModule -Count $count -SimulatorPath $simulator -HostPath $hostPath -Confirm:$false }
    Add-Sample "setup: add $count modules" $ms
    if ($delayMs) { foreach ($m in $script:mods) { $null = Set-HsmSimulatedModule -SimulatorPath $simulator -Esn $m.Esn -DelayMs $delayMs -Confirm:$false } }
    $pids = [Collections.Generic.List[int]]::new(); $logs = [Collections.Generic.List[string]]::new()
    foreach ($m in $script:mods) {
        foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            $pidFile = Join-Path $m.ModuleDir "services/$svc/sshd.pid"
            if (Test-Path $pidFile) { $pids.Add([int](Get-Content $pidFile -Raw).Trim()) }
            $logs.Add((Join-Path $m.ModuleDir "services/$svc/sshd.log"))
        }
    }
    $state = Join-Path $work "baseline/$tag"
    New-Item -ItemType Directory -Force (Join-Path $state 'keys') | Out-Null
    $keyFile = Join-Path $state 'keys/default'
    [IO.File]::WriteAllText($keyFile, (Get-DefaultKey))
    if (-not $IsWindows) { [IO.File]::SetUnixFileMode($keyFile, [IO.UnixFileMode]'UserRead, UserWrite') }
    [pscustomobject]@{ Host = $hostPath; State = $state; Count = $count; SshdPids = $pids; SshdLogs = $logs; Simulator = $simulator }
}
function Remove-Fleet($fleet) {
    $registry = Get-Content (Join-Path $fleet.Host 'module-registry.json') -Raw | ConvertFrom-Json
    foreach ($m in $registry) {
        Remove-HsmSimulatedModule -Esn $m.esn -SimulatorPath $fleet.Simulator -HostPath $fleet.Host -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    }
}

$passphrase = ConvertTo-SecureString 'bench-backup-passphrase' -AsPlainText -Force
$env:BASELINE_PASSPHRASE = 'bench-backup-passphrase'

$passes = 0
$big = [int]($Sizes | Measure-Object -Maximum).Maximum
$small = [int]($Sizes | Measure-Object -Minimum).Minimum
$lastFleets = $null
$passDurations = @()
$setupLog = [ordered]@{}
try {
    Write-Host "NShield.HsmAdmin benchmark: $([Environment]::ProcessorCount) cores, load average $loadAtStart, work folder $work"
    $ms = Measure-Ms { Start-HsmSimulator -ModuleCount 1 -SimulatorPath $simPath -HostPath (Join-Path $work 'hosts/warmup') -Confirm:$false }
    $setupLog['start simulator with 1 module (ms)'] = [math]::Round($ms)
    # Warm-up (JIT of our code paths, first SSH.NET use): recorded separately, not in the medians.
    $ms = Measure-Ms { Invoke-HsmEnroll -HostPath (Join-Path $work 'hosts/warmup') -ThrottleLimit 16 -Confirm:$false }
    $setupLog['first enroll in a fresh session, 1 module (cold, ms)'] = [math]::Round($ms)
    $ms = Measure-Ms { Test-HsmConnection -HostPath (Join-Path $work 'hosts/warmup') }
    $setupLog['first Test-HsmConnection in the session, 1 module (ms)'] = [math]::Round($ms)

    while ($passes -lt $Repetitions) {
        if ($passes -ge $MinRepetitions -and $passDurations.Count -gt 0 -and
            ($runClock.Elapsed.TotalSeconds + ($passDurations | Measure-Object -Maximum).Maximum) -gt $BudgetSeconds) {
            Write-Host "Stopping after $passes passes: another would exceed the $BudgetSeconds s budget."
            break
        }
        # The previous pass's modules go now; the last pass's stay for the breakdown probes below.
        if ($lastFleets) { foreach ($f in $lastFleets) { Remove-Fleet $f } }
        $passes++
        $passClock = [Diagnostics.Stopwatch]::StartNew()
        Write-Host "Pass $passes (load average $(Get-LoadAverage))"
        $ours = @{}; $base = @{}; $psb = @{}
        foreach ($n in $Sizes) {
            $ours[$n] = New-Fleet $n "p$passes-ours-$n"
            $base[$n] = New-Fleet $n "p$passes-base-$n"
            $psb[$n] = New-Fleet $n "p$passes-pwsh-$n"
            # Rotate which side goes first from pass to pass.
            $order = @('ours', 'base', 'pwsh', 'ours', 'base')[($passes % 3)..(($passes % 3) + 2)]
            foreach ($side in $order) {
                if ($side -eq 'ours') { Measure-Ours "enroll $n" { Invoke-HsmEnroll -HostPath $ours[$n].Host -ThrottleLimit 16 -Confirm:$false } $ours[$n] }
                elseif ($side -eq 'base') { Measure-Baseline "baseline enroll $n" enroll $base[$n] }
                else { Measure-PwshBaseline "pwsh baseline enroll $n" enroll $psb[$n] }
            }
        }
        foreach ($n in $Sizes) {
            $order = @('ours', 'base', 'pwsh', 'ours', 'base')[($passes % 3)..(($passes % 3) + 2)]
            foreach ($side in $order) {
                if ($side -eq 'ours') { Measure-Ours "roll $n" { Update-HsmSshKey -HostPath $ours[$n].Host -Confirm:$false } $ours[$n] }
                elseif ($side -eq 'base') { Measure-Baseline "baseline roll $n" roll $base[$n] }
                else { Measure-PwshBaseline "pwsh baseline roll $n" roll $psb[$n] }
            }
        }
        $big = [int]($Sizes | Measure-Object -Maximum).Maximum
        foreach ($i in 1..3) {
            Measure-Ours "get-keys $big" { Get-HsmSshKey -HostPath $ours[$big].Host }
            Measure-Baseline "baseline get-keys $big" getkeys $base[$big]
        }
        foreach ($i in 1..2) {
            Measure-Ours "test $big" { $r = Test-HsmConnection -HostPath $ours[$big].Host -ThrottleLimit 16; if ($r -ne $true) { throw "Test-HsmConnection returned $r" } } $ours[$big]
        }
        Measure-Baseline "baseline test $big" test $base[$big]
        Measure-PwshBaseline "pwsh baseline test $big" test $psb[$big]
        $bak = Join-Path $work "p$passes.bak"
        foreach ($i in 1..2) {
            Measure-Ours "backup" { Backup-HsmSshKey -HostPath $ours[$big].Host -Path $bak -Passphrase $passphrase -Force -Confirm:$false }
            Measure-Baseline "baseline backup" backup $base[$big]
        }
        # The PowerShell baseline's backup file (same format as the bash baseline's), untimed.
        & bash $baselineScript backup $psb[$big].State (Join-Path $psb[$big].Host 'module-registry.json') | Out-Null
        Measure-Ours "restore $big" { Restore-HsmSshKey -HostPath $ours[$big].Host -Path $bak -Passphrase $passphrase -ThrottleLimit 16 -Confirm:$false } $ours[$big]
        Measure-Baseline "baseline restore $big" restore $base[$big]
        Measure-PwshBaseline "pwsh baseline restore $big" restore $psb[$big]
        # A last check that the modules still work with the keys each side holds after restore.
        Measure-Ours "test $big (after restore)" { $r = Test-HsmConnection -HostPath $ours[$big].Host; if ($r -ne $true) { throw "Test-HsmConnection returned $r" } }
        Measure-PwshBaseline "pwsh baseline test $big (after restore)" test $psb[$big]

        $passClock.Stop()
        $passDurations += $passClock.Elapsed.TotalSeconds
        Write-Host ("Pass {0}: {1:n0} s" -f $passes, $passClock.Elapsed.TotalSeconds)
        # Every sample so far, in case a later step fails.
        $samples | ConvertTo-Json -Depth 4 | Set-Content (Join-Path $OutputPath 'samples-partial.json') -Encoding utf8
        $lastFleets = @($ours.Values) + @($base.Values) + @($psb.Values)
    }

    # ------------------------------------------------------------ latency: the delay fault on every module
    # Fresh factory-state modules that wait $LatencyMs before every command: the module, not the 2 cores, dominates, so
    # this shows how the fleet runner scales (ideal: enroll 16 as fast as enroll 1). Over SSH and in-process.
    if ($LatencyRepetitions -gt 0) {
        Write-Host "Latency: $LatencyMs ms before every module command (simulator delay fault); load average $(Get-LoadAverage)"
        $inprocPath = Join-Path $work 'sim-inprocess'
        $null = Start-HsmSimulator -ModuleCount 1 -Transport InProcess -SimulatorPath $inprocPath -HostPath (Join-Path $work 'hosts/warmup-inprocess') -Confirm:$false
        $null = Invoke-HsmEnroll -HostPath (Join-Path $work 'hosts/warmup-inprocess') -Confirm:$false   # JIT of the in-process path
        $latencySizes = @(@($small, $big) | Select-Object -Unique)
        foreach ($rep in 1..$LatencyRepetitions) {
            foreach ($t in 'ssh', 'inprocess') {
                foreach ($n in $latencySizes) {
                    $f = New-Fleet $n "lat$rep-$t-$n" $(if ($t -eq 'ssh') { $simPath } else { $inprocPath }) $LatencyMs
                    Measure-Ours "latency enroll $n ($t)" { Invoke-HsmEnroll -HostPath $f.Host -ThrottleLimit 16 -Confirm:$false } $f
                    Remove-Fleet $f
                }
            }
        }
    }

    # ------------------------------------------------------------ where the time goes (one SSH command)
    Write-Host "Per-command breakdown"
    try {
    $registry = Get-Content (Join-Path $base[$big].Host 'module-registry.json') -Raw | ConvertFrom-Json
    $m = $registry[0]
    $moduleDir = ((Get-HsmSimulator -Path $simPath).Modules | Where-Object Esn -eq $m.esn).ModuleDir
    $state = $base[$big].State
    $kh = Join-Path $state 'known_hosts'
    $user = [Environment]::UserName
    function Ssh-Args([string] $key, [string] $svc, [string[]] $extra) {
        @('-n', '-F', '/dev/null', '-i', (Join-Path $state "keys/$key"), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
            '-o', "UserKnownHostsFile=$kh", '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes',
            '-o', "HostKeyAlias=nshield-$($m.esn)-$svc") + $extra + @('-p', $m.ports.$svc, "$user@127.0.0.1", 'ping')
    }
    $reps = 5
    foreach ($i in 1..$reps) {
        Add-Sample 'probe: ssh ping (OpenSSH default kex sntrup761)' (Measure-Ms { & ssh @(Ssh-Args ncoreapi ncoreapi @()) 2>$null })
        Add-Sample 'probe: ssh ping (-o KexAlgorithms=curve25519-sha256)' (Measure-Ms { & ssh @(Ssh-Args ncoreapi ncoreapi @('-o', 'KexAlgorithms=curve25519-sha256')) 2>$null })
        # A key the endpoint does not accept: TCP + key exchange + host key check + failed auth, no session, no firmware.
        Add-Sample 'probe: ssh handshake+auth refused, curve25519 (no exec)' (Measure-Ms { & ssh @(Ssh-Args setup ncoreapi @('-o', 'KexAlgorithms=curve25519-sha256')) 2>$null })
    }
    # The forced command itself, as sshd runs it (from the authorized_keys line), without sshd.
    $ak = Get-Content (Join-Path $moduleDir 'services/ncoreapi/authorized_keys') | Select-Object -First 1
    $forced = [regex]::Match($ak, 'command="([^"]*)"').Groups[1].Value
    foreach ($i in 1..$reps) {
        Add-Sample 'probe: firmware alone (forced command, ping)' (Measure-Ms { & env SSH_ORIGINAL_COMMAND=ping sh -c $forced 2>$null })
        Add-Sample 'probe: bash -c as sshd runs it, SHLVL unset (sources ~/.bashrc)' (Measure-Ms { & env -i "HOME=$HOME" "PATH=$env:PATH" 'SSH_CLIENT=127.0.0.1 1 22' bash -c true })
        Add-Sample 'probe: bash -c as sshd runs it, SHLVL=1 (skips ~/.bashrc)' (Measure-Ms { & env -i "HOME=$HOME" "PATH=$env:PATH" 'SHLVL=1' 'SSH_CLIENT=127.0.0.1 1 22' bash -c true })
    }
    # Our side, in process: client key decryption, one connection + one command, and connection reuse.
    $oursHost = $ours[$big].Host
    $oRegistry = Get-Content (Join-Path $oursHost 'module-registry.json') -Raw | ConvertFrom-Json
    $oEsn = $oRegistry[0].esn
    $store = $engine.GetType('NShield.HsmAdmin.Store.HostStore')::Open($oursHost)
    foreach ($i in 1..$reps) { Add-Sample 'probe: ours, open (decrypt) one client key' (Measure-Ms { $store.OpenClientKey('ncoreapi', $null) }) }
    $hsm = $engine.GetType('NShield.HsmAdmin.Operations.HsmHost')::Open($oursHost, $null)
    try {
        $addr = $hsm.FindAttached($oEsn)
        $ct = [Threading.CancellationToken]::None
        $null = $hsm.ClientKey('ncoreapi')
        foreach ($i in 1..$reps) {
            Add-Sample 'probe: ours, SSH.NET connect (kex+auth, key cached)' (Measure-Ms {
                    $script:ch = $hsm.OpenPinnedAsync($addr, 'ncoreapi', $ct, $null).GetAwaiter().GetResult() })
            # The typed module seam (IModuleSession): PingAsync is the adapter's ping verb on the open session.
            Add-Sample 'probe: ours, ping on an open connection' (Measure-Ms { $script:ch.PingAsync($ct).GetAwaiter().GetResult() })
            Add-Sample 'probe: ours, 2nd ping on the same connection' (Measure-Ms { $script:ch.PingAsync($ct).GetAwaiter().GetResult() })
            $script:ch.Dispose()
        }
    }
    finally { $hsm.Dispose() }
    foreach ($i in 1..$reps) {
        Add-Sample 'probe: ours, Test-HsmConnection 1 channel (cmdlet)' (Measure-Ms { Test-HsmConnection -HostPath $oursHost -Esn $oEsn -Service ncoreapi })
    }
    foreach ($i in 1..3) {
        Add-Sample 'probe: ours, Test-HsmConnection 1 module (6 channels)' (Measure-Ms { Test-HsmConnection -HostPath $oursHost -Esn $oEsn })
    }
    }
    catch { Write-Host "The per-command breakdown failed: $_"; $probeError = "$_" }
}
finally {
    $loadAtEnd = Get-LoadAverage
    Get-HsmSimulator | Where-Object { $_.Path -eq $simPath -or $_.Path -eq (Join-Path $work 'sim-inprocess') } | Stop-HsmSimulator -Remove -Confirm:$false -ErrorAction SilentlyContinue
}

# ---------------------------------------------------------------- Import-Module (child processes)
Write-Host "Import-Module"
$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$launcher = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { @('dotnet', $pwshDll) } else { @((Join-Path $PSHOME 'pwsh')) }
$exe = $launcher[0]; $pre = @($launcher | Select-Object -Skip 1)
& $exe @pre -NoProfile -c exit  # warm the file cache once
$emptyModule = Join-Path $work 'empty/Empty.psd1'
New-Item -ItemType Directory -Force (Split-Path $emptyModule) | Out-Null
Set-Content (Join-Path $work 'empty/Empty.psm1') '$null = 1'
Set-Content $emptyModule "@{ RootModule = 'Empty.psm1'; ModuleVersion = '1.0'; GUID = '$([guid]::NewGuid())'; FunctionsToExport = @(); CmdletsToExport = @() }"
foreach ($i in 1..$ImportRepetitions) {
    Add-Sample 'pwsh start (bare)' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c exit })
    Add-Sample 'pwsh start + Import-Module' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c "Import-Module '$manifest'" })
    if ($LASTEXITCODE -ne 0) { throw "Import-Module in a child pwsh failed (exit $LASTEXITCODE)" }
    # The first formatted output of a session builds its type and format tables; an import with TypesToProcess and
    # FormatsToProcess pays that at import instead. Both sides with one formatted output show the module's own share.
    Add-Sample 'pwsh start + first output (bare)' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c '$null = Get-Item / | Out-String' })
    Add-Sample 'pwsh start + Import-Module + first output' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c "Import-Module '$manifest'; `$null = Get-Item / | Out-String" })
    # What importing any module costs in this pwsh (its module-import code is JIT-compiled on first use): the floor.
    Add-Sample 'pwsh start + Import-Module of an empty module' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c "Import-Module '$emptyModule'" })
    if ($PoshSshManifest) { Add-Sample 'pwsh start + Import-Module Posh-SSH' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c "Import-Module '$PoshSshManifest'" }) }
}
Remove-Item (Split-Path $emptyModule) -Recurse -Force -ErrorAction SilentlyContinue

# ---------------------------------------------------------------- report
function Med([string] $name) { $s = Get-Stats $name; if ($s) { $s.median } else { $null } }
function Ratio($a, $b) { if ($a -and $b) { [math]::Round($a / $b, 2) } else { $null } }
function Per($a, $b) { if ($null -ne $a -and $b) { [math]::Round($a / $b, 1) } else { $null } }
$rows = @()
$fleetWorkloads = @(@($Sizes | ForEach-Object { "enroll $_" }), @($Sizes | ForEach-Object { "roll $_" }), "get-keys $big", "test $big", 'backup', "restore $big") | ForEach-Object { $_ }
foreach ($w in $fleetWorkloads) {
    $o = Get-Stats $w; $b = Get-Stats "baseline $w"; $p = Get-Stats "pwsh baseline $w"
    $modules = if ($w -match ' (\d+)$') { [int]$Matches[1] } else { $null }
    $channels = Med "channels: $w"
    $rows += [ordered]@{
        workload = $w; modules = $modules; ours = $o; baseline = $b; pwshBaseline = $p
        ratio = Ratio $o.median $b.median; ratioPwsh = Ratio $o.median $p.median
        channels = $channels; baselineChannels = Med "channels: baseline $w"
        hostCpuMs = Med "cpu host: $w"; hostCpuPerChannelMs = Per (Med "cpu host: $w") $channels; hostCpuPerModuleMs = Per (Med "cpu host: $w") $modules
        simulatorCpuMs = Med "cpu simulator: $w"; simulatorCpuPerChannelMs = Per (Med "cpu simulator: $w") $channels
        baselineClientCpuMs = Med "cpu children: baseline $w"; baselineSimulatorCpuMs = Med "cpu simulator: baseline $w"
        pwshBaselineCpuMs = Med "cpu host: pwsh baseline $w"; pwshBaselineChildCpuMs = Med "cpu children: pwsh baseline $w"
    }
}
$latency = [ordered]@{}
foreach ($t in 'ssh', 'inprocess') {
    $one = Med "latency enroll $small ($t)"; $many = Med "latency enroll $big ($t)"
    $latency[$t] = [ordered]@{ delayMs = $LatencyMs; enroll1 = $one; enrollMany = $many; ratio = Ratio $many $one }
}
$importAdd = [math]::Round((Med 'pwsh start + Import-Module') - (Med 'pwsh start (bare)'), 0)
$importAddFormatted = [math]::Round((Med 'pwsh start + Import-Module + first output') - (Med 'pwsh start + first output (bare)'), 0)
$importFloor = [math]::Round((Med 'pwsh start + Import-Module of an empty module') - (Med 'pwsh start (bare)'), 0)
$testRow = $rows | Where-Object { $_.workload -eq "test $big" }
$targets = [ordered]@{}
$enrollRow = $rows | Where-Object { $_.workload -eq "enroll $big" }
# Host CPU per channel: whole-process CPU (every thread) of this process during the fleet command, divided by the
# authenticated SSH connections the modules accepted during it; a warm session (after the warm-up above).
# bench/Measure-ChannelCpu.ps1 measures the same from outside the process.
$targets["host CPU per channel, test $big at throttle 16 (ms) <= 3"] = [ordered]@{ value = $testRow.hostCpuPerChannelMs; limit = 3 }
$targets["host CPU per channel, enroll $big (ms) <= 3"] = [ordered]@{ value = $enrollRow.hostCpuPerChannelMs; limit = 3 }
$targets["simulator CPU per channel, test $big (ms) <= 10"] = [ordered]@{ value = $testRow.simulatorCpuPerChannelMs; limit = 10 }
$targets["simulator CPU per channel, enroll $big (ms) <= 10"] = [ordered]@{ value = $enrollRow.simulatorCpuPerChannelMs; limit = 10 }
foreach ($t in 'ssh', 'inprocess') {
    $targets["latency ${LatencyMs} ms: enroll $big / enroll $small ($t) <= 1.5"] = [ordered]@{ value = $latency[$t].ratio; limit = 1.5 }
}
foreach ($w in "enroll $big", "roll $big", "test $big", "restore $big") {
    $targets["$w / OpenSSH script <= 0.25"] = [ordered]@{ value = Ratio (Med $w) (Med "baseline $w"); limit = 0.25 }
}
$targets['Import-Module adds (ms) <= 150'] = [ordered]@{ value = $importAdd; limit = 150 }
$targets['Import-Module + first formatted output adds (ms) <= 80'] = [ordered]@{ value = $importAddFormatted; limit = 80 }
foreach ($t in $targets.Values) { $t.met = $null -ne $t.value -and $t.value -le $t.limit }

$result = [ordered]@{
    date = (Get-Date).ToUniversalTime().ToString('o')
    commit = $commit
    command = 'dotnet pwsh ./build.ps1 bench'
    machine = [ordered]@{ cores = [Environment]::ProcessorCount; os = [Runtime.InteropServices.RuntimeInformation]::OSDescription
        dotnet = [Environment]::Version.ToString(); pwsh = $PSVersionTable.PSVersion.ToString(); ssh = ((& ssh -V 2>&1) -join ' ')
        loadAverageStart = $loadAtStart; loadAverageEnd = $loadAtEnd }
    passes = $passes; passSeconds = @($passDurations | ForEach-Object { [math]::Round($_, 1) })
    totalSeconds = [math]::Round($runClock.Elapsed.TotalSeconds, 1)
    workloads = $rows; latency = $latency; targets = $targets
    importModuleAddsMs = $importAdd; importModuleAddsWithFirstOutputMs = $importAddFormatted; emptyModuleImportAddsMs = $importFloor
    setup = $setupLog
    all = [ordered]@{}
}
foreach ($k in $samples.Keys) { $result.all[$k] = Get-Stats $k }
$result | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $OutputPath 'results.json') -Encoding utf8

function F($s) { if (-not $s) { return '–' }; '{0:n0} ({1:n0}–{2:n0}, n={3})' -f $s.median, $s.min, $s.max, $s.n }
function N($v, [string] $fmt = '{0:n1}') { if ($null -eq $v) { '–' } else { $fmt -f $v } }
$md = [Collections.Generic.List[string]]::new()
$md.Add("# NShield.HsmAdmin benchmark")
$md.Add("")
$md.Add("Commit $commit, ``dotnet pwsh ./build.ps1 bench``. $([Environment]::ProcessorCount) cores, $($result.machine.os); load average $loadAtStart at start, $loadAtEnd at end; $passes passes, $($result.totalSeconds) s. Times in ms: median (min–max, n). OpenSSH script: bench/openssh-baseline.sh ($($result.machine.ssh), default client settings, sequential). PowerShell script: bench/pwsh-threadjob-baseline.ps1 (ssh from pwsh, Start-ThreadJob per module, throttle 16).")
$md.Add("")
$md.Add("| workload | ours | OpenSSH script | PowerShell script | ours / OpenSSH | ours / PowerShell |")
$md.Add("|---|---:|---:|---:|---:|---:|")
foreach ($r in $rows) { $md.Add("| $($r.workload) | $(F $r.ours) | $(F $r.baseline) | $(F $r.pwshBaseline) | $(N $r.ratio '{0:n2}') | $(N $r.ratioPwsh '{0:n2}') |") }
$md.Add("| pwsh start, bare | $(F (Get-Stats 'pwsh start (bare)')) | | | | |")
$md.Add("| pwsh start + Import-Module | $(F (Get-Stats 'pwsh start + Import-Module')) | | | adds $importAdd ms | |")
$md.Add("| pwsh start + first formatted output, bare | $(F (Get-Stats 'pwsh start + first output (bare)')) | | | | |")
$md.Add("| pwsh start + Import-Module + first formatted output | $(F (Get-Stats 'pwsh start + Import-Module + first output')) | | | adds $importAddFormatted ms | |")
$md.Add("| pwsh start + Import-Module of an empty manifest module (floor) | $(F (Get-Stats 'pwsh start + Import-Module of an empty module')) | | | adds $importFloor ms | |")
if ($PoshSshManifest) { $md.Add("| pwsh start + Import-Module Posh-SSH | $(F (Get-Stats 'pwsh start + Import-Module Posh-SSH')) | | | adds $([math]::Round((Med 'pwsh start + Import-Module Posh-SSH') - (Med 'pwsh start (bare)'), 0)) ms | |") }
$md.Add("")
$md.Add("CPU (medians, ms). Host: this process (our cmdlets), TotalProcessorTime delta. Simulator: the fleet's sshd listeners with the sessions and firmware runs they reaped (/proc/<pid>/stat). OpenSSH client: bash + ssh + ssh-keygen (reaped children of this process). Channels: authenticated SSH connections in the modules' sshd logs.")
$md.Add("")
$md.Add("| workload | channels | host CPU | host / channel | host / module | simulator CPU | simulator / channel | OpenSSH script: channels, client CPU, simulator CPU | PowerShell script: pwsh CPU, ssh CPU |")
$md.Add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
foreach ($r in $rows | Where-Object { $null -ne $_.hostCpuMs -or $null -ne $_.baselineSimulatorCpuMs }) {
    $md.Add("| $($r.workload) | $(N $r.channels '{0:n0}') | $(N $r.hostCpuMs '{0:n0}') | $(N $r.hostCpuPerChannelMs) | $(N $r.hostCpuPerModuleMs) | $(N $r.simulatorCpuMs '{0:n0}') | $(N $r.simulatorCpuPerChannelMs) | $(N $r.baselineChannels '{0:n0}'), $(N $r.baselineClientCpuMs '{0:n0}'), $(N $r.baselineSimulatorCpuMs '{0:n0}') | $(N $r.pwshBaselineCpuMs '{0:n0}'), $(N $r.pwshBaselineChildCpuMs '{0:n0}') |")
}
$md.Add("")
$md.Add("Latency: every module waits $LatencyMs ms before each command (Set-HsmSimulatedModule -DelayMs), fresh factory-state modules, Invoke-HsmEnroll -ThrottleLimit 16.")
$md.Add("")
$md.Add("| transport | enroll $small | enroll $big | ratio | host CPU enroll $big |")
$md.Add("|---|---:|---:|---:|---:|")
foreach ($t in 'ssh', 'inprocess') { $md.Add("| $t | $(F (Get-Stats "latency enroll $small ($t)")) | $(F (Get-Stats "latency enroll $big ($t)")) | $(N $latency[$t].ratio '{0:n2}') | $(N (Med "cpu host: latency enroll $big ($t)") '{0:n0}') |") }
$md.Add("")
$md.Add("| target | measured | met |")
$md.Add("|---|---:|:---:|")
foreach ($k in $targets.Keys) { $md.Add("| $k | $($targets[$k].value) | $(if ($targets[$k].met) { 'yes' } else { 'NO' }) |") }
$md.Add("")
$md.Add("| one SSH command, where the time goes | ms |")
$md.Add("|---|---:|")
foreach ($k in $samples.Keys | Where-Object { $_ -like 'probe: *' }) { $md.Add("| $($k.Substring(7)) | $(F (Get-Stats $k)) |") }
foreach ($k in $setupLog.Keys) { $md.Add("| $k | $($setupLog[$k]) |") }
foreach ($k in $samples.Keys | Where-Object { $_ -like 'setup: *' }) { $md.Add("| $($k.Substring(7)) (simulator, untimed setup) | $(F (Get-Stats $k)) |") }
$md | Set-Content (Join-Path $OutputPath 'results.md') -Encoding utf8
Write-Host ""
$md | Write-Host
Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
