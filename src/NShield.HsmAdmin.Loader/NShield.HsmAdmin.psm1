# Root module of NShield.HsmAdmin. The cmdlets live in deps/NShield.HsmAdmin.dll; this loads that assembly,
# the engine and every dependency (SSH.NET, BouncyCastle, ...) in isolation, so versions another module put in
# the session first cannot break ours and ours cannot break theirs:
#   PowerShell 7:            a private AssemblyLoadContext over deps/ (loader/Core/NShield.HsmAdmin.Loader.dll)
#   Windows PowerShell 5.1:  Assembly.LoadFile plus an AssemblyResolve handler for deps/ (loader/Desktop/...)
# Only the small loader assembly lands in the shared context. Keep this file free of PowerShell 7-only syntax.
# Below the loader: the class-based DSC resource HsmEnrollment (DscResourcesToExport in the manifest). It lives in this
# root module because DSC v3's PowerShell adapter and Get-DscResource read class resources from the root module's file
# and resolve the class inside this module's scope, where the cmdlets are (docs/dsc.md).
$ErrorActionPreference = 'Stop'
# The PowerShell 7 loader targets net8.0: PowerShell 7.0-7.3 (.NET Core 3.1 to 7) cannot load it and would fail with an
# unclear assembly error. Windows PowerShell 5.1 (Desktop) uses the netstandard2.0 loader and stays supported.
$minimumCoreVersion = [version]'7.4'
if ($PSVersionTable.PSEdition -eq 'Core' -and $PSVersionTable.PSVersion -lt $minimumCoreVersion) {
    throw ("NShield.HsmAdmin needs PowerShell $minimumCoreVersion or later (or Windows PowerShell 5.1); this is PowerShell " +
        "$($PSVersionTable.PSVersion). Install PowerShell $minimumCoreVersion or later and import the module there.")
}
$edition = if ($PSVersionTable.PSEdition -eq 'Core') { 'Core' } else { 'Desktop' }
if (-not ('NShield.HsmAdmin.Loader.ModuleLoader' -as [type])) {
    # LoadFrom rather than Add-Type: same effect, a few hundred milliseconds less on import.
    $null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'loader', $edition, 'NShield.HsmAdmin.Loader.dll'))
}
$moduleAssembly = [NShield.HsmAdmin.Loader.ModuleLoader]::Load([System.IO.Path]::Combine($PSScriptRoot, 'deps'))

# Module-qualified, so a proxy or a user function named Import-Module cannot get in the way.
$innerModule = Microsoft.PowerShell.Core\Import-Module -Assembly $moduleAssembly -PassThru
if ($innerModule) {
    # On a re-import in the same session PowerShell hands back the cached binary module without adding its
    # cmdlets to this module's exports (PowerShell/PowerShell#20710); add them here so the manifest's
    # CmdletsToExport still finds them.
    $addExportedCmdlet = [System.Management.Automation.PSModuleInfo].GetMethod(
        'AddExportedCmdlet', [System.Reflection.BindingFlags]'Instance, NonPublic')
    if ($addExportedCmdlet) {
        foreach ($cmd in $innerModule.ExportedCommands.Values) {
            if ($cmd -is [System.Management.Automation.CmdletInfo]) {
                $addExportedCmdlet.Invoke($ExecutionContext.SessionState.Module, @(, $cmd))
            }
        }
    }
}

# ---------------------------------------------------------------------------------------------------------------------
# DSC resource HsmEnrollment
#
# Found by: DSC v3's PowerShell adapter (a PSModulePath folder <Name>/<Version>/<Name>.psd1 naming DscResourcesToExport;
# [DscResource()] classes read from the RootModule file, whose base name is the module name; the class resolved inside
# this module with 'HsmEnrollment' -as [type]), Get-DscResource / Invoke-DscResource (PSDesiredStateConfiguration 2.x),
# and the Azure Machine Configuration agent (the module packaged with the configuration; Reasons below).
#   $p = @{ HostPath = '/opt/nfast/hsmadmin'; MaxClientKeyAgeDays = 90; RestartHardserver = $true }
#   Invoke-DscResource -Name HsmEnrollment -ModuleName NShield.HsmAdmin -Method Test -Property $p
# Unattended enrollment needs the vendor root in the host store (Add-HsmTrustedRoot): the resource never confirms a
# server key fingerprint on anyone's behalf. pester/Dsc.Tests.ps1 and pester/Package.Tests.ps1 drive it.
# ---------------------------------------------------------------------------------------------------------------------

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
    # On the host's list but no longer attached. Invoke-HsmEnroll drops only those released by Move-HsmModule; an enrolled
    # module that is merely unregistered stays (it holds the host's keys) until the admin registers, excludes or forgets it.
    $detached = @($modules | Where-Object { -not $_.Attached })

    $clientKeys = @(Get-HsmSshKey -HostPath $HostPath -Role Client -ErrorAction SilentlyContinue)
    $ages = @{}
    # A key's age runs from when it was generated (Get-HsmSshKey's Age). A key whose creation time is unknown (restored
    # from a portable backup, or recorded before creation times were kept) cannot be shown to be young enough: under a
    # maximum age it is due, and the roll that replaces it records the new key's time.
    foreach ($k in $clientKeys) { if ($null -ne $k.Age) { $ages[$k.Service] = $k.Age.TotalDays } }
    $unknown = @($clientKeys | Where-Object { $null -eq $_.Age } | ForEach-Object Service | Sort-Object)
    $oldest = if ($ages.Count) { [Math]::Round(($ages.Values | Measure-Object -Maximum).Maximum, 2) } else { -1 }
    $tooOld = @(if ($MaxClientKeyAgeDays -gt 0) { $ages.Keys | Where-Object { $ages[$_] -gt $MaxClientKeyAgeDays } | Sort-Object })
    $due = @(if ($MaxClientKeyAgeDays -gt 0) { @($tooOld) + @($unknown) | Sort-Object -Unique })

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
        ClientKeysTooOld     = [string[]]$tooOld
        ClientKeysAgeUnknown = [string[]]$unknown
        ChannelsHealthy      = [bool]$healthy
        FailingChannels      = [string[]]$failing
        # False if any enrolled module reports the hardserver on an older ncoreapi key.
        HardserverKeyCurrent = [bool](-not @($enrolled | Where-Object { $_.HardserverKeyCurrent -eq $false }).Count)
    }
}

# One reason the host is not in the desired state, in the form Azure Machine Configuration reports: Code
# '<resource>:<resource>:<reason>' and a Phrase for people. Prefixed with the resource name, as Machine Configuration
# asks of embedded Reasons classes (two modules' 'Reason' classes would clash).
class HsmEnrollmentReason {
    [DscProperty()] [string] $Code
    [DscProperty()] [string] $Phrase
}

<#
.SYNOPSIS
    Every registered nShield 5s module enrolled with the host, every channel working, client keys no older
    than MaxClientKeyAgeDays (rolled when they are).
.DESCRIPTION
    Test() is true when: no attached module is left unenrolled (modules released by Move-HsmModule are
    on their way out and do not count), no detached module is still on the host's list, at least one module
    is enrolled and Test-HsmConnection passes for every service of every enrolled module, every client key
    is younger than MaxClientKeyAgeDays (when > 0), and, with RestartHardserver, the hardserver runs with the
    current ncoreapi key. Get() returns the state with Reasons: one entry per unmet condition, none when compliant.
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
    # Client keys whose creation time is unknown (restored from a portable backup, or recorded before issue 22): due under a maximum age.
    [DscProperty(NotConfigurable)] [string[]] $ClientKeysAgeUnknown
    [DscProperty(NotConfigurable)] [bool] $ChannelsHealthy
    [DscProperty(NotConfigurable)] [string[]] $FailingChannels
    [DscProperty(NotConfigurable)] [bool] $HardserverKeyCurrent
    # Why the host is not in the desired state (Azure Machine Configuration shows these); empty when it is.
    [DscProperty(NotConfigurable)] [HsmEnrollmentReason[]] $Reasons

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
            Write-Verbose ("HsmEnrollment: enrolling (not enrolled: $($this.NotEnrolledEsns -join ', '); " +
                "detached: $($this.DetachedEsns -join ', '); failing: $($this.FailingChannels -join ', '))")
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
            if ($result -and $result.Status -ne 'Completed') {
                $errors.Add("Update-HsmSshKey: roll $($result.Status); run Set again to complete it (the roll journal resumes it).")
            }
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
            $why = @($this.Reasons | ForEach-Object { $_.Phrase }) + $errors
            throw "HsmEnrollment: host '$($this.HostPath)' is not in the desired state after Set: $($why -join '; ')"
        }
    }

    hidden [bool] IsCompliant() {
        return $this.Reasons.Count -eq 0
    }

    hidden [void] AddReason([Collections.Generic.List[HsmEnrollmentReason]] $list, [string] $code, [string] $phrase) {
        $r = [HsmEnrollmentReason]::new()
        $r.Code = "HsmEnrollment:HsmEnrollment:$code"
        $r.Phrase = $phrase
        $list.Add($r)
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
        $this.ClientKeysAgeUnknown = $s.ClientKeysAgeUnknown
        $this.ChannelsHealthy = $s.ChannelsHealthy
        $this.FailingChannels = $s.FailingChannels
        $this.HardserverKeyCurrent = $s.HardserverKeyCurrent

        $list = [Collections.Generic.List[HsmEnrollmentReason]]::new()
        if ($this.NotEnrolledEsns.Count) { $this.AddReason($list, 'NotEnrolled', "not enrolled: $($this.NotEnrolledEsns -join ', ')") }
        if ($this.DetachedEsns.Count) {
            $this.AddReason($list, 'Detached', "detached but still listed: $($this.DetachedEsns -join ', ') " +
                "(enrolled modules still hold this host's keys and key rolls stop on them: register them again, " +
                "or forget one for good with Invoke-HsmEnroll -Esn <ESN> -Forget)")
        }
        if ($this.EnrolledModuleCount -eq 0) { $this.AddReason($list, 'NoModuleEnrolled', "no module enrolled with host '$($this.HostPath)'") }
        if ($this.FailingChannels.Count) { $this.AddReason($list, 'ChannelFailing', "failing channels: $($this.FailingChannels -join ', ')") }
        elseif ($this.EnrolledModuleCount -gt 0 -and -not $this.ChannelsHealthy) {
            $this.AddReason($list, 'ChannelFailing', 'the channels could not be tested')
        }
        if ($this.MaxClientKeyAgeDays -gt 0 -and $s.ClientKeysTooOld.Count) {
            $this.AddReason($list, 'ClientKeyTooOld', "client keys older than $($this.MaxClientKeyAgeDays) days: $($s.ClientKeysTooOld -join ', ')")
        }
        if ($this.MaxClientKeyAgeDays -gt 0 -and $s.ClientKeysAgeUnknown.Count) {
            $this.AddReason($list, 'ClientKeyAgeUnknown',
                "client keys of unknown age (creation time not recorded; Set rolls them): $($s.ClientKeysAgeUnknown -join ', ')")
        }
        if ($this.RestartHardserver -and -not $this.HardserverKeyCurrent) {
            $this.AddReason($list, 'HardserverKeyNotCurrent', 'hardserver not on the current ncoreapi key')
        }
        $this.Reasons = $list.ToArray()
    }
}
