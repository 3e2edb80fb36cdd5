<#
.SYNOPSIS
    Scheduled key-age policy: rolls the client keys older than -MaxClientKeyAgeDays (or of unknown age) through the DSC
    resource HsmEnrollment, backs up the sshadmin key before and after, and tells the scheduler by its exit code.
.DESCRIPTION
    For cron, systemd timers or Task Scheduler, run daily (pwsh -NoProfile -File Invoke-KeyAgePolicy.ps1 ...). The policy
    is the DSC resource's: the same Test() and Set() a DSC agent or Azure Machine Configuration would run, so a host is
    held to one rule however it is driven.
      1. Test(): compliant means every module enrolled, every channel working and every client key younger than
         -MaxClientKeyAgeDays (Get-HsmSshKey's Age). Nothing else happens on a compliant host: exit 0.
      2. Otherwise the Reasons are printed (ClientKeyTooOld, ClientKeyAgeUnknown, NotEnrolled, ChannelFailing, ...).
      3. When keys are due, the current sshadmin key is backed up first (the way back if the host loses its keys
         mid-roll): split into shares for custodians with -BackupShares/-BackupThreshold, else portable under
         -BackupPassphrase, else a host-tied verbatim copy.
      4. Set(): enrolls what is missing and rolls exactly the keys that are due (the roll journal completes a roll that
         was cut short on the next run; with -RestartHardserver the hardserver loads a new ncoreapi key).
      5. Test() again; when the sshadmin key was rolled, the new one is backed up the same way.
    Exit codes: 0 compliant (nothing to do, or made compliant); 1 nothing changed (backup failed); 2 Set() failed or
    the host is still not compliant (run again; the reasons are printed). -WhatIf prints the reasons and exits 0.
.PARAMETER HostPath
    The host store. Default: the module's default ($env:NSHIELD_HSMADMIN_HOME, else the system location).
.PARAMETER MaxClientKeyAgeDays
    The policy: client keys older than this many days are rolled (1 or more).
.PARAMETER BackupDirectory
    An existing folder for the before/after sshadmin backups (sshadmin-<yyyyMMddTHHmmssZ>-before/-after).
.PARAMETER BackupPassphrase
    Protects portable backups (with -BackupShares: also encrypts the backup inside the shares).
.PARAMETER BackupShares
    Split each backup into this many share files (Backup-HsmSshKey -Shares), for split custody.
.PARAMETER BackupThreshold
    How many shares restore a split backup (Backup-HsmSshKey -Threshold); default 2.
.PARAMETER RestartHardserver
    Restart the hardserver when the ncoreapi key was rolled (the DSC resource's RestartHardserver).
.EXAMPLE
    pwsh -NoProfile -File ./Invoke-KeyAgePolicy.ps1 -MaxClientKeyAgeDays 90 -BackupDirectory /var/backups/hsm -RestartHardserver
    Daily cron job: a 90-day rotation; host-tied backups; the exit code tells the scheduler whether the host complies.
.EXAMPLE
    ./Invoke-KeyAgePolicy.ps1 -MaxClientKeyAgeDays 30 -BackupDirectory /mnt/custody -BackupShares 3 -BackupThreshold 2 -WhatIf
    Shows which keys are due and why, changing nothing; when run for real, backups are split between three custodians.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
param(
    [ValidateNotNullOrEmpty()]
    [string] $HostPath,
    [Parameter(Mandatory)]
    [ValidateRange(1, 36500)]
    [int] $MaxClientKeyAgeDays,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath $_ -PathType Container) { $true } else { throw "The backup directory '$_' does not exist." } })]
    [string] $BackupDirectory,
    [securestring] $BackupPassphrase,
    [ValidateRange(2, 255)]
    [int] $BackupShares,
    [ValidateRange(2, 255)]
    [int] $BackupThreshold = 2,
    [switch] $RestartHardserver
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    if (Test-Path $manifest) { Import-Module $manifest } else { Import-Module NShield.HsmAdmin }
}
$module = Get-Module NShield.HsmAdmin
$target = if ($HostPath) { (Resolve-Path -LiteralPath $HostPath).ProviderPath } else { $env:NSHIELD_HSMADMIN_HOME }
$at = @{}
if ($target) { $at.HostPath = $target }
$stamp = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'")

# The resource as Invoke-DscResource drives it: a new instance, properties set, then Test()/Get()/Set().
function New-Policy {
    $resource = & $module { [HsmEnrollment]::new() }
    $resource.HostPath = if ($target) { $target } else { (Get-HsmHostConfiguration).HostPath } # the default store
    $resource.MaxClientKeyAgeDays = $MaxClientKeyAgeDays
    $resource.RestartHardserver = [bool]$RestartHardserver
    $resource
}
function Stop-Run([int] $code, [string] $message) {
    Write-Error -Message $message -ErrorAction Continue
    Write-Host "FAILED (exit $code): $message"
    exit $code
}
function Backup-SshAdmin([string] $when) {
    $path = Join-Path $BackupDirectory "sshadmin-$stamp-$when"
    $backup = @{ Path = $path; Confirm = $false }
    if ($BackupShares) {
        $backup.Shares = $BackupShares; $backup.Threshold = $BackupThreshold
        if ($BackupPassphrase) { $backup.Passphrase = $BackupPassphrase }
    }
    elseif ($BackupPassphrase) { $backup.Passphrase = $BackupPassphrase; $backup.Path = "$path.key" }
    else { $backup.HostTied = $true; $backup.Path = "$path.key" }
    @(Backup-HsmSshKey @at @backup 3>$null) | ForEach-Object { Write-Host "   $($_.FullName)" }
}

$policy = New-Policy
$state = $policy.Get()
Write-Host ("Key-age policy: client keys at most {0} days old; oldest now {1} days" -f $MaxClientKeyAgeDays, $state.OldestClientKeyAge)
if (-not @($state.Reasons).Count) { Write-Host 'OK: compliant, nothing to do'; exit 0 }
foreach ($r in $state.Reasons) { Write-Host "   $($r.Code): $($r.Phrase)" }
if ($WhatIfPreference) { Write-Host 'What if: Set() would enroll what is missing and roll the keys listed above.'; exit 0 }
if (-not $PSCmdlet.ShouldProcess($policy.HostPath, 'Bring the host to the key-age policy (enroll, roll due keys)')) {
    Stop-Run 1 'Declined by the operator.'
}

$due = @($state.ClientKeysDue)
if ($due.Count) {
    Write-Host "Backing up the current sshadmin key before rolling: $($due -join ', ')"
    try { Backup-SshAdmin 'before' } catch { Stop-Run 1 "Not rolling: the backup failed: $($_.Exception.Message)" }
}
$before = (Get-HsmSshKey @at -Role Client -Service sshadmin).Fingerprint
try { $policy.Set() } catch { Stop-Run 2 "Set() did not bring the host to the policy: $($_.Exception.Message)" }
$after = New-Policy
if (-not $after.Test()) { Stop-Run 2 ("Still not compliant: " + (($after.Get().Reasons | ForEach-Object Phrase) -join '; ')) }
if ((Get-HsmSshKey @at -Role Client -Service sshadmin).Fingerprint -ne $before) {
    Write-Host 'The sshadmin key was rolled: backing up the new one'
    try { Backup-SshAdmin 'after' }
    catch { Stop-Run 2 "Compliant, but the backup of the new sshadmin key failed: $($_.Exception.Message). Back it up now." }
}
Write-Host "OK: compliant; rolled $(if ($due.Count) { $due -join ', ' } else { 'nothing' })"
exit 0
