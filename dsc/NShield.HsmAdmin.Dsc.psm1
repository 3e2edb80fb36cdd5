<#
    Class-based DSC resource HsmEnrollment for NShield.HsmAdmin.

    How the resource finds the module: Invoke-DscResource, the LCM and the dsc tool's PowerShell adapter load
    this module in a runspace or process of their own, where nothing the caller imported exists. So the
    resource imports NShield.HsmAdmin itself, into this module's scope: the manifest one folder up when this
    module ships inside the NShield.HsmAdmin folder (the repository layout, dsc/ under the module root), else
    NShield.HsmAdmin by name from PSModulePath. A missing module is a terminating error at import time,
    not a resource that silently reports "not in desired state".

    Use (PSDesiredStateConfiguration 2.x on PowerShell 7, with this folder on PSModulePath or by path):
        $p = @{ HostPath = '/opt/nfast/hsmadmin'; MaxClientKeyAgeDays = 90; RestartHardserver = $true }
        Invoke-DscResource -Name HsmEnrollment -ModuleName NShield.HsmAdmin.Dsc -Method Test -Property $p
        Invoke-DscResource -Name HsmEnrollment -ModuleName NShield.HsmAdmin.Dsc -Method Set -Property $p
    Unattended enrollment needs the vendor root in the host store (Add-HsmTrustedRoot): the resource
    never confirms a server key fingerprint on anyone's behalf.
    pester/Dsc.Tests.ps1 drives Get/Test/Set the way Invoke-DscResource does, against the simulator.
#>
$script:HsmAdminManifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
if (Test-Path -LiteralPath $script:HsmAdminManifest) { Import-Module $script:HsmAdminManifest -ErrorAction Stop }
else { Import-Module NShield.HsmAdmin -ErrorAction Stop }

# The state the resource reports and decides on, read from the host store and the modules.
function Get-HsmEnrollmentState {
    param([string] $HostPath, [int] $MaxClientKeyAgeDays)
    # -Offline: the host's records say which modules are attached and enrolled. Online, a module that fails
    # (ServerKeyChanged, unreachable) is only an error and no object, so it would vanish from the state;
    # Test-HsmConnection below is what contacts the modules.
    $modules = @(Get-HsmModule -HostPath $HostPath -Offline -ErrorAction SilentlyContinue)
    $attached = @($modules | Where-Object Attached)
    # Released modules are on their way to another host (Move-HsmModule): neither drift nor ours to enroll.
    $enrolled = @($attached | Where-Object { $_.Enrolled -and $_.Status -ne 'Released' })
    $notEnrolled = @($attached | Where-Object { -not $_.Enrolled -and $_.Status -ne 'Released' })
    $released = @($attached | Where-Object Status -eq 'Released')
    # On the host's list but no longer attached: Invoke-HsmEnroll drops them ("refresh the list").
    $detached = @($modules | Where-Object { -not $_.Attached })

    $now = [DateTime]::UtcNow
    $clientKeys = @(Get-HsmSshKey -HostPath $HostPath -Role Client -ErrorAction SilentlyContinue)
    $ages = @{}
    foreach ($k in $clientKeys) { $ages[$k.Service] = ($now - $k.InstalledAt.ToUniversalTime()).TotalDays }
    $oldest = if ($ages.Count) { [Math]::Round(($ages.Values | Measure-Object -Maximum).Maximum, 2) } else { -1 }
    $due = @(if ($MaxClientKeyAgeDays -gt 0) { $ages.Keys | Where-Object { $ages[$_] -gt $MaxClientKeyAgeDays } | Sort-Object })

    $failing = @()
    $healthy = $false
    $checked = @($enrolled) + @($notEnrolled)
    if ($checked.Count) {
        $results = @(Test-HsmConnection -HostPath $HostPath -Esn $checked.Esn -Detailed -ErrorAction SilentlyContinue)
        $failing = @($results | Where-Object { -not $_.Success } | ForEach-Object { '{0}/{1}: {2}' -f $_.Esn, $_.Service, $_.ErrorId })
        $healthy = $results.Count -gt 0 -and $failing.Count -eq 0
    }
    [pscustomobject]@{
        EnrolledEsns         = [string[]]@($enrolled.Esn | Sort-Object)
        NotEnrolledEsns      = [string[]]@($notEnrolled.Esn | Sort-Object)
        ReleasedEsns         = [string[]]@($released.Esn | Sort-Object)
        DetachedEsns         = [string[]]@($detached.Esn | Sort-Object)
        OldestClientKeyAge   = [double]$oldest
        ClientKeysDue        = [string[]]$due
        ChannelsHealthy      = [bool]$healthy
        FailingChannels      = [string[]]$failing
        # False if any enrolled module reports the hardserver on an older ncoreapi key.
        HardserverKeyCurrent = [bool](-not @($enrolled | Where-Object { $_.HardserverKeyCurrent -eq $false }).Count)
    }
}

<#
.SYNOPSIS
    Every attached nShield 5s module enrolled with the host, every channel working, client keys no older
    than MaxClientKeyAgeDays (rolled when they are).
.DESCRIPTION
    Test() is true when: no attached module is left unenrolled (modules released by Move-HsmModule are
    on their way out and do not count), no detached module is still on the host's list, at least one module
    is enrolled and Test-HsmConnection passes for every service of every enrolled module, every client key
    is younger than MaxClientKeyAgeDays (when > 0), and, with RestartHardserver, the hardserver runs with the
    current ncoreapi key.
    Set() runs Invoke-HsmEnroll when modules are unenrolled, detached or failing; Update-HsmSshKey for the
    services whose keys are too old (with -RestartHardserver when RestartHardserver is set); with
    RestartHardserver, Restart-HsmHardserver when the hardserver holds an old key. Nothing is forced: server
    keys are verified as Invoke-HsmEnroll always does, so the host must trust the vendor root
    (Add-HsmTrustedRoot) for unattended enrollment. Set() throws when the host is still out of its desired
    state afterwards, with the failing modules and channels in the message.
#>
[DscResource()]
class HsmEnrollment {
    # The host store folder (the system location on a real host: /opt/nfast/hsmadmin or %ProgramData%\nCipher\hsmadmin).
    [DscProperty(Key)] [string] $HostPath

    # Roll client keys older than this many days; 0 = no rotation.
    [DscProperty()] [int] $MaxClientKeyAgeDays = 0

    # Keep the hardserver on the current ncoreapi key: restart it after a roll or an enrollment that changed it.
    [DscProperty()] [bool] $RestartHardserver = $false

    [DscProperty(NotConfigurable)] [int] $EnrolledModuleCount
    [DscProperty(NotConfigurable)] [string[]] $EnrolledEsns
    [DscProperty(NotConfigurable)] [string[]] $NotEnrolledEsns
    [DscProperty(NotConfigurable)] [string[]] $ReleasedEsns
    [DscProperty(NotConfigurable)] [string[]] $DetachedEsns
    # Age in days of the oldest client key; -1 when the host has no client keys.
    [DscProperty(NotConfigurable)] [double] $OldestClientKeyAge
    [DscProperty(NotConfigurable)] [string[]] $ClientKeysDue
    [DscProperty(NotConfigurable)] [bool] $ChannelsHealthy
    [DscProperty(NotConfigurable)] [string[]] $FailingChannels
    [DscProperty(NotConfigurable)] [bool] $HardserverKeyCurrent

    [HsmEnrollment] Get() {
        $this.Refresh()
        return $this
    }

    [bool] Test() {
        $this.Refresh()
        return $this.IsCompliant()
    }

    [void] Set() {
        $this.Refresh()
        $errors = [Collections.Generic.List[string]]::new()
        if ($this.NotEnrolledEsns.Count -or $this.DetachedEsns.Count -or -not $this.ChannelsHealthy) {
            Write-Verbose "HsmEnrollment: enrolling (not enrolled: $($this.NotEnrolledEsns -join ', '); detached: $($this.DetachedEsns -join ', '); failing: $($this.FailingChannels -join ', '))"
            $enrollErrors = $null
            Invoke-HsmEnroll -HostPath $this.HostPath -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable enrollErrors | Out-Null
            foreach ($e in $enrollErrors) { $errors.Add("Invoke-HsmEnroll: $($e.FullyQualifiedErrorId): $($e.Exception.Message)") }
            $this.Refresh()
        }
        if ($this.MaxClientKeyAgeDays -gt 0 -and $this.ClientKeysDue.Count) {
            Write-Verbose "HsmEnrollment: rolling client keys older than $($this.MaxClientKeyAgeDays) days: $($this.ClientKeysDue -join ', ')"
            $rollErrors = $null
            $roll = @{ HostPath = $this.HostPath; Service = $this.ClientKeysDue; Confirm = $false }
            if ($this.RestartHardserver) { $roll.RestartHardserver = $true }
            $result = Update-HsmSshKey @roll -ErrorAction SilentlyContinue -ErrorVariable rollErrors -WarningAction SilentlyContinue
            foreach ($e in $rollErrors) { $errors.Add("Update-HsmSshKey: $($e.FullyQualifiedErrorId): $($e.Exception.Message)") }
            if ($result -and $result.Status -ne 'Completed') { $errors.Add("Update-HsmSshKey: roll $($result.Status); run Set again to complete it (the roll journal resumes it).") }
            $this.Refresh()
        }
        if ($this.RestartHardserver -and -not $this.HardserverKeyCurrent) {
            Write-Verbose 'HsmEnrollment: restarting the hardserver to load the current ncoreapi key'
            $restartErrors = $null
            Restart-HsmHardserver -HostPath $this.HostPath -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable restartErrors | Out-Null
            foreach ($e in $restartErrors) { $errors.Add("Restart-HsmHardserver: $($e.FullyQualifiedErrorId): $($e.Exception.Message)") }
            $this.Refresh()
        }
        if (-not $this.IsCompliant()) {
            $why = @(
                if ($this.NotEnrolledEsns.Count) { "not enrolled: $($this.NotEnrolledEsns -join ', ')" }
                if ($this.DetachedEsns.Count) { "detached but still listed: $($this.DetachedEsns -join ', ')" }
                if ($this.EnrolledModuleCount -eq 0) { 'no module enrolled' }
                if ($this.FailingChannels.Count) { "failing channels: $($this.FailingChannels -join ', ')" }
                if ($this.MaxClientKeyAgeDays -gt 0 -and $this.ClientKeysDue.Count) { "client keys older than $($this.MaxClientKeyAgeDays) days: $($this.ClientKeysDue -join ', ')" }
                if ($this.RestartHardserver -and -not $this.HardserverKeyCurrent) { 'hardserver not on the current ncoreapi key' }
            ) + $errors
            throw "HsmEnrollment: host '$($this.HostPath)' is not in the desired state after Set: $($why -join '; ')"
        }
    }

    hidden [bool] IsCompliant() {
        if ($this.NotEnrolledEsns.Count -or $this.DetachedEsns.Count) { return $false }
        if ($this.EnrolledModuleCount -eq 0 -or -not $this.ChannelsHealthy) { return $false }
        if ($this.MaxClientKeyAgeDays -gt 0 -and $this.ClientKeysDue.Count) { return $false }
        if ($this.RestartHardserver -and -not $this.HardserverKeyCurrent) { return $false }
        return $true
    }

    hidden [void] Refresh() {
        if ([string]::IsNullOrWhiteSpace($this.HostPath)) { throw 'HsmEnrollment: HostPath is required.' }
        if ($this.MaxClientKeyAgeDays -lt 0) { throw 'HsmEnrollment: MaxClientKeyAgeDays must be 0 (no rotation) or more.' }
        $s = Get-HsmEnrollmentState -HostPath $this.HostPath -MaxClientKeyAgeDays $this.MaxClientKeyAgeDays
        $this.EnrolledEsns = $s.EnrolledEsns
        $this.EnrolledModuleCount = $s.EnrolledEsns.Count
        $this.NotEnrolledEsns = $s.NotEnrolledEsns
        $this.ReleasedEsns = $s.ReleasedEsns
        $this.DetachedEsns = $s.DetachedEsns
        $this.OldestClientKeyAge = $s.OldestClientKeyAge
        $this.ClientKeysDue = $s.ClientKeysDue
        $this.ChannelsHealthy = $s.ChannelsHealthy
        $this.FailingChannels = $s.FailingChannels
        $this.HardserverKeyCurrent = $s.HardserverKeyCurrent
    }
}
