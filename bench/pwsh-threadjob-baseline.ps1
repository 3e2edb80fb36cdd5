#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The PowerShell-scripted baseline for bench/Invoke-Benchmark.ps1: the same firmware steps as bench/openssh-baseline.sh,
    written the way a PowerShell admin without NShield.HsmAdmin would: `ssh`/`ssh-keygen` from pwsh, one thread job per
    module (Start-ThreadJob, in Microsoft.PowerShell.ThreadJob that ships with pwsh 7), the steps of a module in order.
.DESCRIPTION
    pwsh-threadjob-baseline.ps1 WORKLOAD STATE_DIR MODULE_REGISTRY_JSON [THROTTLE]
    WORKLOAD enroll | roll | test | restore. STATE_DIR: keys/<svc>(.pub), keys/default (the well-known default credential,
    written by the harness), known_hosts.d/<ESN> (one file per module, so parallel jobs never write the same file),
    backup.key (from the bash baseline's backup step, same format). BASELINE_PASSPHRASE (env) for restore.
    Every ssh call checks the server key (StrictHostKeyChecking=yes, HostKeyAlias nshield-<ESN>-<service>); only the
    first contact of enroll uses accept-new. Replies must contain "ok":true; any failure throws (exit 1).
#>
param(
    [Parameter(Mandatory)] [ValidateSet('enroll', 'roll', 'test', 'restore')] [string] $Workload,
    [Parameter(Mandatory)] [string] $State,
    [Parameter(Mandatory)] [string] $Registry,
    [int] $ThrottleLimit = 16
)
$ErrorActionPreference = 'Stop'
Import-Module Microsoft.PowerShell.ThreadJob
$keys = Join-Path $State 'keys'
$kh = Join-Path $State 'known_hosts.d'
New-Item -ItemType Directory -Force $keys, $kh | Out-Null
$svcs = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher'
$modules = @(Get-Content $Registry -Raw | ConvertFrom-Json)
if ($modules.Count -eq 0) { throw "baseline: no modules in $Registry" }

function New-Key([string] $path) {
    Remove-Item -Force $path, "$path.pub" -ErrorAction SilentlyContinue
    & ssh-keygen -q -t ed25519 -N '' -C "baseline-$(Split-Path -Leaf $path)" -f $path
    if ($LASTEXITCODE) { throw "ssh-keygen failed for $path" }
}

# What each job runs for its module: $m (registry entry), $keys, $kh, $svcs, $extra come in through $using:.
$perModule = {
    param($m, $keys, $kh, $svcs, $workload, $extra)
    $ErrorActionPreference = 'Stop'
    $user = [Environment]::UserName
    $known = Join-Path $kh $m.esn
    function Invoke-Ssh([string] $key, [string] $svc, [string] $verb, [string] $body, [string] $strict = 'yes') {
        $a = @('-F', '/dev/null', '-i', $key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
            '-o', "UserKnownHostsFile=$known", '-o', 'GlobalKnownHostsFile=/dev/null', '-o', "StrictHostKeyChecking=$strict",
            '-o', "HostKeyAlias=nshield-$($m.esn)-$svc", '-p', $m.ports.$svc, "$user@127.0.0.1", $verb)
        $r = if ($body) { $body | & ssh @a } else { & ssh -n @a }
        $r = $r -join "`n"
        if ($r -notlike '*"ok":true*') { throw "baseline: $verb on $svc of $($m.esn) failed: $r" }
        $r
    }
    switch ($workload) {
        'enroll' {
            $r = Invoke-Ssh (Join-Path $keys 'default') sshadmin identity $null 'accept-new' | ConvertFrom-Json
            # Pin the other services' server keys from the identity reply (no certificate check: nothing fancy).
            foreach ($s in $svcs | Select-Object -Skip 1) {
                $pk = ($r.result.serverKeys.$s.publicKey -split ' ')[0..1] -join ' '
                Add-Content -Path $known -Value "nshield-$($m.esn)-$s $pk"
            }
            $null = Invoke-Ssh (Join-Path $keys 'default') sshadmin enroll $extra
            foreach ($s in $svcs) { $null = Invoke-Ssh (Join-Path $keys $s) $s ping $null }
        }
        'test' { foreach ($s in $svcs) { $null = Invoke-Ssh (Join-Path $keys $s) $s ping $null } }
        'roll' {
            # sshadmin last: once its new key is in, the old one is removed through the new one.
            $admin = Join-Path $keys 'sshadmin'
            foreach ($s in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher', 'sshadmin') {
                $new = Join-Path $keys "$s.new"
                $null = Invoke-Ssh $admin sshadmin keys.add (@{ service = $s; publicKey = (Get-Content "$new.pub" -Raw).Trim() } | ConvertTo-Json -Compress)
                $null = Invoke-Ssh $new $s ping $null
                if ($s -eq 'sshadmin') { $admin = $new }
                $null = Invoke-Ssh $admin sshadmin keys.remove (@{ service = $s; fingerprint = $extra[$s] } | ConvertTo-Json -Compress)
            }
        }
        'restore' {
            $admin = Join-Path $keys 'sshadmin'
            $null = Invoke-Ssh $admin sshadmin identity $null
            foreach ($s in $svcs | Select-Object -Skip 1) {
                $k = Join-Path $keys $s
                $null = Invoke-Ssh $admin sshadmin keys.set (@{ service = $s; publicKeys = @((Get-Content "$k.pub" -Raw).Trim()) } | ConvertTo-Json -Compress)
                $null = Invoke-Ssh $k $s ping $null
            }
        }
    }
}

$extra = $null
switch ($Workload) {
    'enroll' {
        foreach ($s in $svcs) { New-Key (Join-Path $keys $s) }
        $ck = [ordered]@{}
        foreach ($s in $svcs) { $ck[$s] = (Get-Content (Join-Path $keys "$s.pub") -Raw).Trim() }
        $extra = @{ clientKeys = $ck } | ConvertTo-Json -Compress
    }
    'roll' {
        $extra = @{}
        foreach ($s in $svcs) {
            New-Key (Join-Path $keys "$s.new")
            $extra[$s] = ((& ssh-keygen -lf (Join-Path $keys "$s.pub")) -split ' ')[1]
        }
    }
    'restore' {
        # The host lost its keys: decrypt the sshadmin backup, prove it on every module, new keys for the five others.
        $admin = Join-Path $keys 'sshadmin'
        Copy-Item -Force (Join-Path $State 'backup.key') $admin
        if (-not $IsWindows) { [IO.File]::SetUnixFileMode($admin, [IO.UnixFileMode]'UserRead, UserWrite') }
        & ssh-keygen -q -p -P $env:BASELINE_PASSPHRASE -N '' -f $admin | Out-Null
        if ($LASTEXITCODE) { throw 'ssh-keygen could not decrypt the backup' }
        (& ssh-keygen -y -f $admin) | Set-Content "$admin.pub"
        foreach ($s in $svcs | Select-Object -Skip 1) { New-Key (Join-Path $keys $s) }
    }
}
$jobs = foreach ($m in $modules) {
    Start-ThreadJob -ThrottleLimit $ThrottleLimit -ScriptBlock $perModule -ArgumentList $m, $keys, $kh, $svcs, $Workload, $extra
}
$null = $jobs | Wait-Job
$failed = @($jobs | Where-Object State -ne 'Completed')
foreach ($j in $failed) { Write-Error ("baseline job failed: " + ($j.ChildJobs[0].JobStateInfo.Reason.Message)) -ErrorAction Continue }
$jobs | Remove-Job -Force
if ($failed.Count) { exit 1 }
if ($Workload -eq 'roll') {
    foreach ($s in $svcs) {
        Move-Item -Force (Join-Path $keys "$s.new") (Join-Path $keys $s)
        Move-Item -Force (Join-Path $keys "$s.new.pub") (Join-Path $keys "$s.pub")
    }
}
exit 0
