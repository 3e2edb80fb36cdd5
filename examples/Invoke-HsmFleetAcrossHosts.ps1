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
    already reported are folded into its error (Operations lists every step that failed). That is the error stream;
    -ErrorVariable on this script also collects PowerShell's own transport errors of unreachable hosts (it records
    silenced errors of nested commands too), so read the stream (2>&1) or filter on the ids above.
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
    ./Invoke-HsmFleetAcrossHosts.ps1 -HostName $hosts -KeyFilePath ~/.ssh/hsmadmin_ed25519 -ThrottleLimit 8 -ErrorVariable failed
    $failed | ForEach-Object { $_.TargetObject }     # which host, which module, which steps
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
$ownSessions = @()
if ($PSCmdlet.ParameterSetName -eq 'Session') { $sessions = @($Session); $targets = @($Session.ComputerName) }
else {
    $connect = @{}
    foreach ($p in 'UserName', 'KeyFilePath', 'Port') { if ($PSBoundParameters.ContainsKey($p)) { $connect[$p] = $PSBoundParameters[$p] } }
    if ($SshOption) { $connect.Options = $SshOption }
    # Sessions name a host without user@ and :port.
    $targets = @($HostName | ForEach-Object { ($_ -replace '^[^@]*@', '') -replace ':\d+$', '' })
    for ($i = 0; $i -lt $HostName.Count; $i += $ThrottleLimit) {
        $batch = @($HostName[$i..([Math]::Min($i + $ThrottleLimit, $HostName.Count) - 1)])
        $connectErrors = $null
        $ownSessions += @(New-PSSession -HostName $batch @connect -ErrorAction SilentlyContinue -ErrorVariable connectErrors)
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
                $null = $finished.Add("$($_.PSComputerName)")
            }
            else { $_ }
        }
        foreach ($e in $workErrors) { $remoteErrors.Add($e) }
    }
}
finally { if ($ownSessions) { Remove-PSSession -Session $ownSessions -ErrorAction SilentlyContinue } }

# One error per failing module (per host) and per failing host.
$byModule = [ordered]@{}
$byHost = [ordered]@{}
foreach ($e in $remoteErrors) {
    $computer = if ($e.OriginInfo -and $e.OriginInfo.PSComputerName) { "$($e.OriginInfo.PSComputerName)" } else {
        # A connection that failed has no origin: find the host in the error's target or message.
        $named = @($targets | Where-Object { "$($e.TargetObject)" -eq $_ -or "$($e.TargetObject.ComputerName)" -eq $_ -or $e.Exception.Message -match "(^|\W)$([regex]::Escape($_))(\W|$)" })
        if ($named.Count -eq 1) { $named[0] } else { '' }
    }
    $operation, $esn = if ("$($e.TargetObject)" -match '^(status|enroll|roll|test)\|(.*)$') { $Matches[1], $Matches[2] } else { '', '' }
    if ($esn) {
        $key = "$computer|$esn"
        if ($byModule.Contains($key)) { if ($byModule[$key].Operations -notcontains $operation) { $byModule[$key].Operations += $operation } }
        else { $byModule[$key] = [pscustomobject]@{ ComputerName = $computer; Esn = $esn; Operations = @($operation); First = $e } }
    }
    elseif (-not $byHost.Contains($computer)) { $byHost[$computer] = [pscustomobject]@{ ComputerName = $computer; Operation = $operation; First = $e } }
}
# A host that neither finished nor reported an error it can be told by (rare: a transport error naming no host).
foreach ($t in $targets) {
    if (-not $finished.Contains($t) -and -not $byHost.Contains($t)) {
        $unclaimed = @($remoteErrors | Where-Object { -not ($_.OriginInfo -and $_.OriginInfo.PSComputerName) }) | Select-Object -First 1
        $byHost[$t] = [pscustomobject]@{ ComputerName = $t; Operation = ''; First = $unclaimed }
        $byHost.Remove('')
    }
}
foreach ($m in $byModule.Values) {
    $ops = $m.Operations -join ', '
    Write-Error -Message "Host '$($m.ComputerName)', module $($m.Esn): $($m.Operations[0]) failed: $($m.First.Exception.Message)$(if ($m.Operations.Count -gt 1) { " (failed steps: $ops)" })" `
        -ErrorId 'NShield.HsmAdmin.Fleet.ModuleFailed' -Category $m.First.CategoryInfo.Category `
        -TargetObject ([pscustomobject]@{ ComputerName = $m.ComputerName; Esn = $m.Esn; Operations = $m.Operations; ErrorId = "$($m.First.FullyQualifiedErrorId)" })
}
foreach ($h in $byHost.Values) {
    $why = if ($h.First) { $h.First.Exception.Message } else { 'no result came back' }
    $step = if ($h.Operation) { "$($h.Operation) failed: " } else { '' }
    Write-Error -Message "Host '$($h.ComputerName)': $step$why" -ErrorId 'NShield.HsmAdmin.Fleet.HostFailed' -Category ConnectionError `
        -TargetObject ([pscustomobject]@{ ComputerName = $h.ComputerName; Esn = $null; Operations = @($h.Operation | Where-Object { $_ }); ErrorId = "$(if ($h.First) { $h.First.FullyQualifiedErrorId })" })
}
