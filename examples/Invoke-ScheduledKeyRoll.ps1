<#
.SYNOPSIS
    Scheduled client key roll: back up, roll every client key on every module, restart the hardserver,
    verify, back up the new sshadmin key. Exit code for the scheduler.
.DESCRIPTION
    For cron, systemd timers or Task Scheduler (pwsh -NoProfile -File Invoke-ScheduledKeyRoll.ps1 ...):
      1. pre-flight: every channel works (a host already broken is not rolled: fix it first);
      2. backs up the current sshadmin key (the way back if the host loses its keys mid-roll);
      3. rolls every client key (Update-HsmSshKey -RestartHardserver). A roll cut short is completed by the
         next run (the roll journal), never leaving a module that accepts neither old nor new keys;
      4. verifies every channel and that the hardserver holds the new ncoreapi key;
      5. backs up the new sshadmin key (older backups no longer open the modules).
    Backups go to -BackupDirectory as sshadmin-<yyyyMMddTHHmmssZ>-before.key / -after.key, protected by
    -BackupPassphrase (SecureString, e.g. from Get-Secret), or host-tied verbatim copies without it.
    Exit codes: 0 rolled and verified; 1 nothing rolled (pre-flight or backup failed); 2 roll failed or
    incomplete (run again to complete it); 3 rolled but verification or the final backup failed.
    -WhatIf shows what would change and exits 0.
.PARAMETER HostPath
    The host store. Default: the module's default ($env:NSHIELD_HSMADMIN_HOME, else the system location).
.PARAMETER BackupDirectory
    An existing folder for the before/after sshadmin backups.
.PARAMETER BackupPassphrase
    Protects the backups (portable). Without it the backups are verbatim copies, restorable on this machine only.
.PARAMETER Protection
    Protection of the new keys (Update-HsmSshKey -Protection), e.g. KFG.
.EXAMPLE
    pwsh -NoProfile -File ./Invoke-ScheduledKeyRoll.ps1 -BackupDirectory /var/backups/hsm
    Monthly cron job: rolls with host-tied backups; the exit code tells the scheduler whether it worked.
.EXAMPLE
    ./Invoke-ScheduledKeyRoll.ps1 -BackupDirectory /mnt/vault -BackupPassphrase (Get-Secret HsmBackup) -Verbose
    Portable backups under a passphrase from SecretManagement.
#>
# ConfirmImpact Medium: meant to run unattended (a scheduler cannot answer a prompt); -Confirm asks before the roll.
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
param(
    [ValidateNotNullOrEmpty()]
    [string] $HostPath,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath $_ -PathType Container) { $true } else { throw "The backup directory '$_' does not exist." } })]
    [string] $BackupDirectory,
    [securestring] $BackupPassphrase,
    [ValidateNotNullOrEmpty()]
    [string] $Protection
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    if (Test-Path $manifest) { Import-Module $manifest } else { Import-Module NShield.HsmAdmin }
}
$at = @{}
if ($HostPath) { $at.HostPath = $HostPath }
$stamp = [DateTime]::UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'")
$backupArgs = @{}
if ($BackupPassphrase) { $backupArgs.Passphrase = $BackupPassphrase } else { $backupArgs.HostTied = $true }
function Stop-Run([int] $code, [string] $message) {
    Write-Error -Message $message -ErrorAction Continue
    Write-Host "FAILED (exit $code): $message"
    exit $code
}
function Get-FailingChannel { @(Test-HsmConnection @at -Detailed -ErrorAction SilentlyContinue | Where-Object { -not $_.Success }) }

Write-Host '1/5 Pre-flight: every channel'
$failing = Get-FailingChannel
if ($failing) { Stop-Run 1 ("Not rolling: channels already failing: " + (($failing | ForEach-Object { "$($_.Esn)/$($_.Service) $($_.ErrorId)" }) -join ', ')) }
Write-Host '   all channels work'

Write-Host '2/5 Back up the current sshadmin key'
$before = Join-Path $BackupDirectory "sshadmin-$stamp-before.key"
try { Backup-HsmSshKey @at @backupArgs -Path $before -Confirm:$false | Out-Null }
catch { Stop-Run 1 "Not rolling: backup to '$before' failed: $($_.Exception.Message)" }
if (-not $WhatIfPreference) { Write-Host "   $before" }

Write-Host '3/5 Roll every client key, restart the hardserver'
$roll = @{} + $at
if ($Protection) { $roll.Protection = $Protection }
if ($WhatIfPreference) {
    Update-HsmSshKey @roll -RestartHardserver -WhatIf
    Write-Host '4/5 and 5/5 skipped under -WhatIf'
    exit 0
}
if (-not $PSCmdlet.ShouldProcess($(if ($HostPath) { $HostPath } else { 'this host' }), 'Roll every client key on every module and restart the hardserver')) {
    Stop-Run 1 'Not rolling: declined by the operator.'
}
$rollErrors = $null
$result = Update-HsmSshKey @roll -RestartHardserver -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable rollErrors
if ($rollErrors -or -not $result -or $result.Status -ne 'Completed') {
    $why = @($rollErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) -join '; '
    Stop-Run 2 "Roll status '$($result.Status)', pending modules '$($result.ModulesPending -join ', ')'. $why Run again to complete it."
}
$result | Format-List Status, Services, ModulesUpdated, NewFingerprints | Out-Host

Write-Host '4/5 Verify every channel and the hardserver key'
$failing = Get-FailingChannel
if ($failing) { Stop-Run 3 ("Rolled, but channels fail: " + (($failing | ForEach-Object { "$($_.Esn)/$($_.Service) $($_.ErrorId)" }) -join ', ')) }
if (@(Get-HsmModule @at -Offline | Where-Object { $_.Enrolled -and $_.HardserverKeyCurrent -eq $false }).Count) { Stop-Run 3 'Rolled, but the hardserver is not on the new ncoreapi key: run Restart-HsmHardserver.' }

Write-Host '5/5 Back up the new sshadmin key'
$after = Join-Path $BackupDirectory "sshadmin-$stamp-after.key"
try { Backup-HsmSshKey @at @backupArgs -Path $after -Confirm:$false | Out-Null }
catch { Stop-Run 3 "Rolled and verified, but the backup of the new key to '$after' failed: $($_.Exception.Message). Back it up now: older backups no longer open the modules." }
Write-Host "OK: keys rolled on $(@($result.ModulesUpdated).Count) module(s), verified; new backup $after"
exit 0
