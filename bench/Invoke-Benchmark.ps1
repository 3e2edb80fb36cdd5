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
    Then: Import-Module cost in child processes, and a per-SSH-command cost breakdown.
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
    [string] $OutputPath
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$PSStyle.OutputRendering = 'PlainText'
$repo = Split-Path $PSScriptRoot
if (-not $OutputPath) { $OutputPath = Join-Path $repo 'out/bench' }
$baselineScript = Join-Path $PSScriptRoot 'openssh-baseline.sh'
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
# Runs one of our cmdlets; any error fails the benchmark (a fast failure is no result): $ErrorActionPreference
# is Stop, so a non-terminating error from a module throws as well.
function Measure-Ours([string] $name, [scriptblock] $block) {
    $ms = Measure-Ms $block
    Add-Sample $name $ms
    Write-Host ("  {0,-22} {1,9:n0} ms" -f $name, $ms)
}
function Measure-Baseline([string] $name, [string] $workload, [string] $state, [string] $hostPath) {
    $ms = Measure-Ms { & bash $baselineScript $workload $state (Join-Path $hostPath 'module-registry.json') | Out-Null }
    if ($LASTEXITCODE -ne 0) { throw "baseline $workload failed (exit $LASTEXITCODE)" }
    Add-Sample $name $ms
    Write-Host ("  {0,-22} {1,9:n0} ms" -f $name, $ms)
}

# ---------------------------------------------------------------- fleets
# The engine loads in its own load context, so its types are reached through the cmdlets' assembly.
$cmdlets = (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly
$engine = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).LoadFromAssemblyName(
    ($cmdlets.GetReferencedAssemblies() | Where-Object Name -eq 'NShield.HsmAdmin.Engine'))
# The simulated vendor's well-known factory credential (the simulator writes it when it starts).
function Get-DefaultKey { [IO.File]::ReadAllText((Get-HsmSimulator -Path $simPath).FactoryCredentialPath) }
function New-Fleet([int] $count, [string] $tag) {
    $hostPath = Join-Path $work "hosts/$tag"
    $ms = Measure-Ms { Add-HsmSimulatedModule -Count $count -SimulatorPath $simPath -HostPath $hostPath -Confirm:$false }
    Add-Sample "setup: add $count modules" $ms
    $state = Join-Path $work "baseline/$tag"
    New-Item -ItemType Directory -Force (Join-Path $state 'keys') | Out-Null
    $keyFile = Join-Path $state 'keys/default'
    [IO.File]::WriteAllText($keyFile, (Get-DefaultKey))
    if (-not $IsWindows) { [IO.File]::SetUnixFileMode($keyFile, [IO.UnixFileMode]'UserRead, UserWrite') }
    [pscustomobject]@{ Host = $hostPath; State = $state; Count = $count }
}
function Remove-Fleet($fleet) {
    $registry = Get-Content (Join-Path $fleet.Host 'module-registry.json') -Raw | ConvertFrom-Json
    foreach ($m in $registry) {
        Remove-HsmSimulatedModule -Esn $m.esn -SimulatorPath $simPath -HostPath $fleet.Host -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    }
}

$passphrase = ConvertTo-SecureString 'bench-backup-passphrase' -AsPlainText -Force
$env:BASELINE_PASSPHRASE = 'bench-backup-passphrase'

$passes = 0
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
        $ours = @{}; $base = @{}
        foreach ($n in $Sizes) {
            $ours[$n] = New-Fleet $n "p$passes-ours-$n"
            $base[$n] = New-Fleet $n "p$passes-base-$n"
            # Alternate which side goes first from pass to pass.
            $order = if ($passes % 2) { 'ours', 'base' } else { 'base', 'ours' }
            foreach ($side in $order) {
                if ($side -eq 'ours') { Measure-Ours "enroll $n" { Invoke-HsmEnroll -HostPath $ours[$n].Host -ThrottleLimit 16 -Confirm:$false } }
                else { Measure-Baseline "baseline enroll $n" enroll $base[$n].State $base[$n].Host }
            }
        }
        foreach ($n in $Sizes) {
            $order = if ($passes % 2) { 'ours', 'base' } else { 'base', 'ours' }
            foreach ($side in $order) {
                if ($side -eq 'ours') { Measure-Ours "roll $n" { Update-HsmSshKey -HostPath $ours[$n].Host -Confirm:$false } }
                else { Measure-Baseline "baseline roll $n" roll $base[$n].State $base[$n].Host }
            }
        }
        $big = [int]($Sizes | Measure-Object -Maximum).Maximum
        foreach ($i in 1..3) {
            Measure-Ours "get-keys $big" { Get-HsmSshKey -HostPath $ours[$big].Host }
            Measure-Baseline "baseline get-keys $big" getkeys $base[$big].State $base[$big].Host
        }
        foreach ($i in 1..2) {
            Measure-Ours "test $big" { $r = Test-HsmConnection -HostPath $ours[$big].Host; if ($r -ne $true) { throw "Test-HsmConnection returned $r" } }
        }
        Measure-Baseline "baseline test $big" test $base[$big].State $base[$big].Host
        $bak = Join-Path $work "p$passes.bak"
        foreach ($i in 1..2) {
            Measure-Ours "backup" { Backup-HsmSshKey -HostPath $ours[$big].Host -Path $bak -Passphrase $passphrase -Force -Confirm:$false }
            Measure-Baseline "baseline backup" backup $base[$big].State $base[$big].Host
        }
        Measure-Ours "restore $big" { Restore-HsmSshKey -HostPath $ours[$big].Host -Path $bak -Passphrase $passphrase -ThrottleLimit 16 -Confirm:$false }
        Measure-Baseline "baseline restore $big" restore $base[$big].State $base[$big].Host
        # A last check that the modules still work with the keys each side holds after restore.
        Measure-Ours "test $big (after restore)" { $r = Test-HsmConnection -HostPath $ours[$big].Host; if ($r -ne $true) { throw "Test-HsmConnection returned $r" } }

        $passClock.Stop()
        $passDurations += $passClock.Elapsed.TotalSeconds
        Write-Host ("Pass {0}: {1:n0} s" -f $passes, $passClock.Elapsed.TotalSeconds)
        # Every sample so far, in case a later step fails.
        $samples | ConvertTo-Json -Depth 4 | Set-Content (Join-Path $OutputPath 'samples-partial.json') -Encoding utf8
        $lastFleets = @($ours.Values) + @($base.Values)
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
    $store = [NShield.HsmAdmin.Store.HostStore]::Open($oursHost)
    foreach ($i in 1..$reps) { Add-Sample 'probe: ours, open (decrypt) one client key' (Measure-Ms { $store.OpenClientKey('ncoreapi', $null) }) }
    $hsm = [NShield.HsmAdmin.Operations.HsmHost]::Open($oursHost)
    try {
        $addr = $hsm.FindAttached($oEsn)
        $ct = [Threading.CancellationToken]::None
        $null = $hsm.ClientKey('ncoreapi')
        foreach ($i in 1..$reps) {
            Add-Sample 'probe: ours, SSH.NET connect (kex+auth, key cached)' (Measure-Ms {
                    $script:ch = $hsm.OpenPinnedAsync($addr, 'ncoreapi', $ct, $null).GetAwaiter().GetResult() })
            Add-Sample 'probe: ours, ping on an open connection' (Measure-Ms { $script:ch.InvokeAsync('ping', $null, $ct).GetAwaiter().GetResult() })
            Add-Sample 'probe: ours, 2nd ping on the same connection' (Measure-Ms { $script:ch.InvokeAsync('ping', $null, $ct).GetAwaiter().GetResult() })
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
    catch { Write-Warning "The per-command breakdown failed: $_" ; $probeError = "$_" }
}
finally {
    $loadAtEnd = Get-LoadAverage
    Get-HsmSimulator | Where-Object { $_.Path -eq $simPath } | Stop-HsmSimulator -Remove -Confirm:$false -ErrorAction SilentlyContinue
}

# ---------------------------------------------------------------- Import-Module (child processes)
Write-Host "Import-Module"
$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$launcher = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { @('dotnet', $pwshDll) } else { @((Join-Path $PSHOME 'pwsh')) }
$exe = $launcher[0]; $pre = @($launcher | Select-Object -Skip 1)
& $exe @pre -NoProfile -c exit  # warm the file cache once
foreach ($i in 1..$ImportRepetitions) {
    Add-Sample 'pwsh start (bare)' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c exit })
    Add-Sample 'pwsh start + Import-Module' (Measure-Ms { & $exe @pre -NoProfile -NonInteractive -c "Import-Module '$manifest'" })
    if ($LASTEXITCODE -ne 0) { throw "Import-Module in a child pwsh failed (exit $LASTEXITCODE)" }
}

# ---------------------------------------------------------------- report
function Med([string] $name) { $s = Get-Stats $name; if ($s) { $s.median } else { $null } }
function Ratio($a, $b) { if ($a -and $b) { [math]::Round($a / $b, 2) } else { $null } }
$big = [int]($Sizes | Measure-Object -Maximum).Maximum
$small = [int]($Sizes | Measure-Object -Minimum).Minimum
$rows = @()
foreach ($w in @(
        @($Sizes | ForEach-Object { "enroll $_" }), @($Sizes | ForEach-Object { "roll $_" }),
        "get-keys $big", "test $big", 'backup', "restore $big") | ForEach-Object { $_ }) {
    $o = Get-Stats $w; $b = Get-Stats "baseline $w"
    $rows += [ordered]@{ workload = $w; ours = $o; baseline = $b; ratio = Ratio $o.median $b.median }
}
$importAdd = [math]::Round((Med 'pwsh start + Import-Module') - (Med 'pwsh start (bare)'), 0)
$targets = [ordered]@{
    "enroll $big / enroll $small <= 2.5" = [ordered]@{ value = Ratio (Med "enroll $big") (Med "enroll $small"); limit = 2.5 }
}
foreach ($w in "enroll $big", "roll $big", "get-keys $big", "test $big", "restore $big") {
    $targets["$w / baseline <= 0.5"] = [ordered]@{ value = Ratio (Med $w) (Med "baseline $w"); limit = 0.5 }
}
$targets['Import-Module adds <= 300 ms'] = [ordered]@{ value = $importAdd; limit = 300 }
foreach ($t in $targets.Values) { $t.met = $null -ne $t.value -and $t.value -le $t.limit }

$result = [ordered]@{
    date = (Get-Date).ToUniversalTime().ToString('o')
    machine = [ordered]@{ cores = [Environment]::ProcessorCount; os = [Runtime.InteropServices.RuntimeInformation]::OSDescription
        dotnet = [Environment]::Version.ToString(); pwsh = $PSVersionTable.PSVersion.ToString(); ssh = ((& ssh -V 2>&1) -join ' ')
        loadAverageStart = $loadAtStart; loadAverageEnd = $loadAtEnd }
    passes = $passes; passSeconds = @($passDurations | ForEach-Object { [math]::Round($_, 1) })
    totalSeconds = [math]::Round($runClock.Elapsed.TotalSeconds, 1)
    workloads = $rows; targets = $targets; importModuleAddsMs = $importAdd
    setup = $setupLog
    all = [ordered]@{}
}
foreach ($k in $samples.Keys) { $result.all[$k] = Get-Stats $k }
$result | ConvertTo-Json -Depth 8 | Set-Content (Join-Path $OutputPath 'results.json') -Encoding utf8

function F($s) { if (-not $s) { return '–' }; '{0:n0} ({1:n0}–{2:n0}, n={3})' -f $s.median, $s.min, $s.max, $s.n }
$md = [Collections.Generic.List[string]]::new()
$md.Add("# NShield.HsmAdmin benchmark")
$md.Add("")
$md.Add("$([Environment]::ProcessorCount) cores, $($result.machine.os); load average $loadAtStart at start, $loadAtEnd at end; $passes passes, $($result.totalSeconds) s. Times in ms: median (min–max, n). Baseline: bench/openssh-baseline.sh ($($result.machine.ssh), default client settings, sequential).")
$md.Add("")
$md.Add("| workload | ours | OpenSSH script | ours / baseline |")
$md.Add("|---|---:|---:|---:|")
foreach ($r in $rows) { $md.Add("| $($r.workload) | $(F $r.ours) | $(F $r.baseline) | $(if ($null -ne $r.ratio) { '{0:n2}' -f $r.ratio } else { '–' }) |") }
$md.Add("| pwsh start, bare | $(F (Get-Stats 'pwsh start (bare)')) | | |")
$md.Add("| pwsh start + Import-Module | $(F (Get-Stats 'pwsh start + Import-Module')) | | adds $importAdd ms |")
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
