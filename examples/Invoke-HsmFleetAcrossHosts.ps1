<#
.SYNOPSIS
    Runs status, enroll, key roll with hardserver restart and a connection test on many HSM hosts at once, over
    PowerShell remoting (SSH by default; any PSSession, so WinRM too).
.DESCRIPTION
    Each host runs NShield.HsmAdmin itself (installed there: Install-PSResource NShield.HsmAdmin) against its own host
    store and its own modules; this script only fans the work out with Invoke-Command -Session -ThrottleLimit, so hosts run in
    parallel and a failure on one host never stops the others. On each host, in order:
        status   Get-HsmModule                               (HsmModuleInfo per module)
        enroll   Invoke-HsmEnroll                            (HsmEnrollResult per module; NoAction when already enrolled)
        roll     Update-HsmSshKey -RestartHardserver         (HsmKeyRollResult; skipped with -SkipRoll)
        test     Test-HsmConnection -Detailed                (HsmConnectionTestResult per module and service)
    Output: those objects as they come back from each host (Deserialized.NShield.HsmAdmin.*: import NShield.HsmAdmin
    locally for its table views), each with PSComputerName (the host) and Operation (status, enroll, roll, test).
    Errors: exactly one per failing host (unreachable, login refused, module not installed, ...) and one per failing
    module on a host, each naming the host and, for a module, its ESN; error id NShield.HsmAdmin.Fleet.HostFailed or
    NShield.HsmAdmin.Fleet.ModuleFailed, TargetObject @{ ComputerName; Esn; Operations }. Later failures of a module
    already reported are folded into its error (Operations lists every step that failed). Hosts are told apart by
    name and port (TargetObject.Port): the same host on two ports is two targets. A host that could not be connected
    over SSH gets ssh's own reason (connection refused, host key verification failed, permission denied: PowerShell's
    error only says the ssh process ended), from one more ssh run with the same options. That is the error stream;
    -ErrorVariable on this script also collects PowerShell's own transport errors (it records the silenced errors of
    the commands inside the script too), so read the stream (2>&1) or keep only the ids above (second example).
    Enrollment here is unattended: each host must trust the vendor root (Add-HsmTrustedRoot) or the modules' server
    keys must already be pinned; the script never confirms a fingerprint for anyone.
.PARAMETER HostName
    Hosts to reach over SSH, as New-PSSession -HostName takes them: name, user@name or name:port.
.PARAMETER Session
    Open PSSessions instead (New-PSSession -HostName ... for SSH, New-PSSession -ComputerName ... for WinRM).
.PARAMETER UserName
    SSH login (default: the ssh client's, i.e. the current user).
.PARAMETER KeyFilePath
    SSH private key (key-based login; PowerShell remoting over SSH cannot prompt for passwords in parallel).
.PARAMETER Port
    SSH port of every host (default 22); name:port in -HostName overrides it per host.
.PARAMETER SshOption
    ssh -o options passed through Invoke-Command -Options, for example
    @{ UserKnownHostsFile = '~/.ssh/known_hosts_hsm'; StrictHostKeyChecking = 'yes' }.
.PARAMETER ThrottleLimit
    How many hosts are connected and run at once (default 16). Invoke-Command -HostName has no -ThrottleLimit, so
    the script connects with New-PSSession -HostName in batches of this size and runs Invoke-Command -Session
    -ThrottleLimit; the sessions it opened are closed at the end.
.PARAMETER HostPath
    The host store on every host (default: each host's own, $env:NSHIELD_HSMADMIN_HOME or the system location).
.PARAMETER SkipRoll
    Status, enroll and connection test only.
.EXAMPLE
    $hosts = 'hsmhost01', 'hsmhost02', 'admin@hsmhost03:2222'
    ./Invoke-HsmFleetAcrossHosts.ps1 -HostName $hosts -KeyFilePath ~/.ssh/hsmadmin_ed25519 -ThrottleLimit 8 2>&1 |
        Tee-Object -Variable all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }
    $all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object TargetObject   # which host, module, steps
.EXAMPLE
    ./Invoke-HsmFleetAcrossHosts.ps1 -HostName $hosts -KeyFilePath ~/.ssh/hsmadmin_ed25519 -ErrorVariable failed
    # -ErrorVariable also holds PowerShell's transport errors: keep the script's own, one per failing host or module.
    $failed = @($failed | Where-Object FullyQualifiedErrorId -like 'NShield.HsmAdmin.Fleet.*')
    $failed.TargetObject | Format-Table ComputerName, Port, Esn, Operations, ErrorId
.EXAMPLE
    $s = New-PSSession -ComputerName win-hsm01, win-hsm02          # WinRM on Windows hosts
    ./Invoke-HsmFleetAcrossHosts.ps1 -Session $s -SkipRoll | Group-Object PSComputerName
#>
[CmdletBinding(DefaultParameterSetName = 'Ssh')]
param(
    [Parameter(Mandatory, ParameterSetName = 'Ssh', Position = 0)] [string[]] $HostName,
    [Parameter(Mandatory, ParameterSetName = 'Session')] [System.Management.Automation.Runspaces.PSSession[]] $Session,
    [Parameter(ParameterSetName = 'Ssh')] [string] $UserName,
    [Parameter(ParameterSetName = 'Ssh')] [string] $KeyFilePath,
    [Parameter(ParameterSetName = 'Ssh')] [ValidateRange(1, 65535)] [int] $Port,
    [Parameter(ParameterSetName = 'Ssh')] [hashtable] $SshOption,
    [ValidateRange(1, 1024)] [int] $ThrottleLimit = 16,
    [string] $HostPath,
    [switch] $SkipRoll
)

# What runs on each host. Errors of the product's cmdlets are re-written with the step that failed and the module's
# ESN as TargetObject, so the caller can tell host, module and step apart; the host's own failures stay as they are.
$onHost = {
    param([string] $HostPath, [bool] $SkipRoll)
    $ErrorActionPreference = 'Stop'
    Import-Module NShield.HsmAdmin
    $store = @{}
    if ($HostPath) { $store.HostPath = $HostPath }
    $esnPattern = '^[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$'
    function Step([string] $Operation, [scriptblock] $Run) {
        $ErrorActionPreference = 'Continue'   # this step's errors are collected, not fatal to the host
        try { $items = @(& $Run 2>&1) } catch { $items = @($_) }
        foreach ($i in $items) {
            if ($i -is [System.Management.Automation.ErrorRecord]) {
                $esn = if ("$($i.TargetObject)" -match $esnPattern) { "$($i.TargetObject)" }
                elseif ($i.Exception.Message -match '\b([0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4})\b') { $Matches[1] } else { '' }
                Write-Error -Message $i.Exception.Message -ErrorId (($i.FullyQualifiedErrorId -split ',')[0]) -Category $i.CategoryInfo.Category -TargetObject "$Operation|$esn"
            }
            else {
                $i | Add-Member -NotePropertyName Operation -NotePropertyValue $Operation -Force -PassThru
                if ($Operation -eq 'test' -and -not $i.Success) {
                    Write-Error -Message "connection test of $($i.Service) failed: $($i.ErrorId)" -ErrorId "$($i.ErrorId)" -Category ConnectionError -TargetObject "$Operation|$($i.Esn)"
                }
            }
        }
    }
    Step status { Get-HsmModule @store }
    Step enroll { Invoke-HsmEnroll @store -Confirm:$false }
    if (-not $SkipRoll) { Step roll { Update-HsmSshKey @store -RestartHardserver -Confirm:$false -WarningAction SilentlyContinue } }
    Step test { Test-HsmConnection @store -Detailed }
    # Marks the host as finished (dropped by the caller): a host without it failed as a whole.
    [pscustomobject]@{ PSTypeName = 'NShield.HsmAdmin.Fleet.HostDone' }
}

# Invoke-Command's SSH parameter set (-HostName) has no -ThrottleLimit (PowerShell 7.6): the hosts are connected with
# New-PSSession -HostName, -ThrottleLimit at a time, and the work runs with Invoke-Command -Session -ThrottleLimit.
$remoteErrors = [System.Collections.Generic.List[System.Management.Automation.ErrorRecord]]::new()
# Targets are host and port ("name:port"): the same host on two ports is two targets. Sessions map to targets by their
# runspace id, which remoting stamps on every result (RunspaceId) and error (OriginInfo.RunspaceID).
$targets = [System.Collections.Generic.List[object]]::new()
$targetOf = @{}
function Get-SessionPort($s) { $p = 0; try { $p = [int]$s.Runspace.ConnectionInfo.Port } catch { }; if ($p -gt 0) { $p } elseif ($s.Transport -eq 'SSH') { 22 } else { 0 } }
function Add-SessionTarget($s) {
    $key = "$($s.ComputerName):$(Get-SessionPort $s)".ToLowerInvariant()
    $t = $targets | Where-Object Key -eq $key | Select-Object -First 1
    if (-not $t) { $t = [pscustomobject]@{ Key = $key; Name = "$($s.ComputerName)"; Port = (Get-SessionPort $s) }; $targets.Add($t) }
    $targetOf["$($s.InstanceId)"] = $t; $targetOf["$($s.Runspace.InstanceId)"] = $t
}
$ownSessions = @()
if ($PSCmdlet.ParameterSetName -eq 'Session') { $sessions = @($Session); foreach ($s in $sessions) { Add-SessionTarget $s } }
else {
    $connect = @{}
    foreach ($p in 'UserName', 'KeyFilePath', 'Port') { if ($PSBoundParameters.ContainsKey($p)) { $connect[$p] = $PSBoundParameters[$p] } }
    if ($SshOption) { $connect.Options = $SshOption }
    foreach ($h in $HostName) {
        # Sessions name a host without user@ and :port.
        $name = ($h -replace '^[^@]*@', '') -replace ':\d+$', ''
        $p = if ($h -match ':(\d+)$') { [int]$Matches[1] } elseif ($Port) { $Port } else { 22 }
        $key = "${name}:$p".ToLowerInvariant()
        $user = if ($h -match '^([^@]+)@') { $Matches[1] } elseif ($UserName) { $UserName } else { '' }
        if (-not ($targets | Where-Object Key -eq $key)) { $targets.Add([pscustomobject]@{ Key = $key; Name = $name; Port = $p; User = $user }) }
    }
    for ($i = 0; $i -lt $HostName.Count; $i += $ThrottleLimit) {
        $batch = @($HostName[$i..([Math]::Min($i + $ThrottleLimit, $HostName.Count) - 1)])
        $connectErrors = $null
        $opened = @(New-PSSession -HostName $batch @connect -ErrorAction SilentlyContinue -ErrorVariable connectErrors)
        foreach ($s in $opened) { Add-SessionTarget $s }
        $ownSessions += $opened
        foreach ($e in $connectErrors) { $remoteErrors.Add($e) }
    }
    $sessions = $ownSessions
}

$finished = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase)
try {
    if ($sessions) {
        $workErrors = $null
        Invoke-Command -Session $sessions -ThrottleLimit $ThrottleLimit -ScriptBlock $onHost -ArgumentList $HostPath, ([bool]$SkipRoll) `
            -ErrorAction SilentlyContinue -ErrorVariable workErrors | ForEach-Object {
            if ($_.PSObject.TypeNames -contains 'Deserialized.NShield.HsmAdmin.Fleet.HostDone' -or $_.PSObject.TypeNames -contains 'NShield.HsmAdmin.Fleet.HostDone') {
                $t = $targetOf["$($_.RunspaceId)"]
                if ($t) { $null = $finished.Add($t.Key) }
            }
            else { $_ }
        }
        foreach ($e in $workErrors) { $remoteErrors.Add($e) }
    }
}
finally { if ($ownSessions) { Remove-PSSession -Session $ownSessions -ErrorAction SilentlyContinue } }

# One error per failing module (per host) and per failing host. An error's target: its session (origin runspace), else
# the host named in its target or message (a connection that failed has no session), preferring unfinished targets.
$byModule = [ordered]@{}
$byHost = [ordered]@{}
$connected = @($targetOf.Values | ForEach-Object Key)
foreach ($e in $remoteErrors) {
    $t = if ($e.OriginInfo -and $e.OriginInfo.RunspaceID -and $targetOf.ContainsKey("$($e.OriginInfo.RunspaceID)")) { $targetOf["$($e.OriginInfo.RunspaceID)"] }
    elseif ($e.TargetObject -and $e.TargetObject.PSObject.Properties['InstanceId'] -and $targetOf.ContainsKey("$($e.TargetObject.InstanceId)")) { $targetOf["$($e.TargetObject.InstanceId)"] }
    else {
        $named = @($targets | Where-Object { $n = $_.Name; "$($e.TargetObject)" -eq $n -or "$($e.TargetObject.ComputerName)" -eq $n -or $e.Exception.Message -match "(^|\W)$([regex]::Escape($n))(\W|$)" })
        if ($named.Count -gt 1) { $open = @($named | Where-Object { -not $finished.Contains($_.Key) -and -not $byHost.Contains($_.Key) }); if ($open) { $named = $open } }
        if ($named.Count -gt 1) { $onPort = @($named | Where-Object { $e.Exception.Message -match "\bport $($_.Port)\b" -or ($_.Key -notin $connected) }); if ($onPort) { $named = $onPort } }
        $named | Select-Object -First 1
    }
    if (-not $t) { continue }   # names no target: a target left without result is reported below
    $operation, $esn = if ("$($e.TargetObject)" -match '^(status|enroll|roll|test)\|(.*)$') { $Matches[1], $Matches[2] } else { '', '' }
    if ($esn) {
        $key = "$($t.Key)|$esn"
        if ($byModule.Contains($key)) { if ($byModule[$key].Operations -notcontains $operation) { $byModule[$key].Operations += $operation } }
        else { $byModule[$key] = [pscustomobject]@{ Target = $t; Esn = $esn; Operations = @($operation); First = $e } }
    }
    elseif (-not $byHost.Contains($t.Key)) { $byHost[$t.Key] = [pscustomobject]@{ Target = $t; Operation = $operation; First = $e } }
}
# A target that neither finished nor got an error naming it (a transport error naming no host, or none at all).
$unclaimed = @($remoteErrors | Where-Object { -not ($_.OriginInfo -and $_.OriginInfo.RunspaceID) }) | Select-Object -First 1
foreach ($t in $targets) {
    if (-not $finished.Contains($t.Key) -and -not $byHost.Contains($t.Key)) { $byHost[$t.Key] = [pscustomobject]@{ Target = $t; Operation = ''; First = $unclaimed } }
}
# Why a host could not be connected: PowerShell's error only says the ssh process ended (ssh's own reason goes to the
# console), so ask ssh once more, with the same options, for its reason (refused, host key, login, ...).
if ($PSCmdlet.ParameterSetName -eq 'Ssh' -and (Get-Command ssh -CommandType Application -ErrorAction SilentlyContinue)) {
    $notConnected = @($targets | Where-Object { $_.Key -notin $connected })
    $probeOptions = @('-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15')
    if ($KeyFilePath) { $probeOptions += '-i', $KeyFilePath }
    if ($SshOption) { foreach ($k in $SshOption.Keys) { $probeOptions += '-o', "$k=$($SshOption[$k])" } }
    $reasons = $notConnected | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
        $t = $_
        $a = @($using:probeOptions) + @('-p', "$($t.Port)") + $(if ($t.User) { @('-l', $t.User) }) + @($t.Name, 'exit')
        $text = @(& ssh -n @a 2>&1 | ForEach-Object { "$_".Trim() } | Where-Object { $_ })
        [pscustomobject]@{ Key = $t.Key; Reason = $(if ($LASTEXITCODE -eq 255 -and $text) { $text -join ' ' }) }
    }
    foreach ($r in $reasons) { if ($r.Reason -and $byHost.Contains($r.Key) -and -not $byHost[$r.Key].Operation) { $byHost[$r.Key] | Add-Member -NotePropertyName Reason -NotePropertyValue $r.Reason } }
}
# How a target is named: by host, with the port only where two targets share the host.
function Get-TargetLabel($t) { if (@($targets | Where-Object Name -eq $t.Name).Count -gt 1) { "$($t.Name):$($t.Port)" } else { $t.Name } }
foreach ($m in $byModule.Values) {
    $ops = $m.Operations -join ', '
    Write-Error -Message "Host '$(Get-TargetLabel $m.Target)', module $($m.Esn): $($m.Operations[0]) failed: $($m.First.Exception.Message)$(if ($m.Operations.Count -gt 1) { " (failed steps: $ops)" })" `
        -ErrorId 'NShield.HsmAdmin.Fleet.ModuleFailed' -Category $m.First.CategoryInfo.Category `
        -TargetObject ([pscustomobject]@{ ComputerName = $m.Target.Name; Port = $m.Target.Port; Esn = $m.Esn; Operations = $m.Operations; ErrorId = "$($m.First.FullyQualifiedErrorId)" })
}
foreach ($h in $byHost.Values) {
    $why = if ($h.First) { $h.First.Exception.Message } else { 'no result came back' }
    if ($h.PSObject.Properties['Reason']) { $why = "$($h.Reason) ($why)" }
    $step = if ($h.Operation) { "$($h.Operation) failed: " } else { '' }
    Write-Error -Message "Host '$(Get-TargetLabel $h.Target)': $step$why" -ErrorId 'NShield.HsmAdmin.Fleet.HostFailed' -Category ConnectionError `
        -TargetObject ([pscustomobject]@{ ComputerName = $h.Target.Name; Port = $h.Target.Port; Esn = $null; Operations = @($h.Operation | Where-Object { $_ }); ErrorId = "$(if ($h.First) { $h.First.FullyQualifiedErrorId })" })
}
