<#
.SYNOPSIS
    Disaster recovery: re-establish the host's trust with its modules from an sshadmin backup, verify,
    and restart the hardserver.
.DESCRIPTION
    When the host lost its client keys (disk restore, reinstall, deleted store):
      1. checks the backup exists and whether the host still works (a working host is not touched unless -Force);
      2. restores the sshadmin key and makes new keys for the other services on every module that accepts
         it (Restore-HsmSshKey);
      3. restarts the hardserver on the new ncoreapi key (Restart-HsmHardserver);
      4. verifies every channel of every enrolled module (Test-HsmConnection).
    Modules returned to factory state do not accept any backup: the runbook names them and fails; enroll
    them with Invoke-HsmEnroll. Any failure is a terminating error (exit code 1 under pwsh -File).
    -WhatIf shows what would change and changes nothing.
.PARAMETER HostPath
    The host store. Default: the module's default ($env:NSHIELD_HSMADMIN_HOME, else the system location).
.PARAMETER BackupPath
    The backup made by Backup-HsmSshKey (or Install-HsmFleet / Invoke-ScheduledKeyRoll).
.PARAMETER Passphrase
    The backup's passphrase (SecureString), for portable backups. Leave out for a verbatim backup made on this machine.
.PARAMETER Force
    Restore even though every channel still works (rolls the five other client keys).
.EXAMPLE
    ./Restore-HsmHostFromBackup.ps1 -BackupPath /media/usb/sshadmin.key -Passphrase (Read-Host -AsSecureString 'Backup passphrase')
    Restores a portable backup after an OS reinstall, restarts the hardserver and verifies.
.EXAMPLE
    ./Restore-HsmHostFromBackup.ps1 -HostPath /tmp/hsm-host -BackupPath /tmp/sshadmin.bak -WhatIf
    Shows what would be restored on a simulated host.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
param(
    [ValidateNotNullOrEmpty()]
    [string] $HostPath,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath $_ -PathType Leaf) { $true } else { throw "Backup file '$_' not found." } })]
    [string] $BackupPath,
    [securestring] $Passphrase,
    [switch] $Force
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    if (Test-Path $manifest) { Import-Module $manifest } else { Import-Module NShield.HsmAdmin }
}
$at = @{}
if ($HostPath) { $at.HostPath = $HostPath }
$restore = @{ Path = (Resolve-Path -LiteralPath $BackupPath).ProviderPath } + $at
if ($Passphrase) { $restore.Passphrase = $Passphrase }

Write-Host '1/4 Current state'
$enrolled = @(Get-HsmModule @at -Offline | Where-Object { $_.Enrolled -and $_.Attached })
if (-not $enrolled) { throw 'No enrolled module is attached to this host: there is nothing to restore trust with. Enroll the modules with Invoke-HsmEnroll.' }
if ((Test-HsmConnection @at -ErrorAction SilentlyContinue) -and -not $Force) {
    Write-Host 'Every channel works: nothing to restore (use -Force to restore anyway).'
    return
}

Write-Host '2/4 Restore the sshadmin key, new keys for the other services'
if ($WhatIfPreference) {
    Restore-HsmSshKey @restore -WhatIf
    Restart-HsmHardserver @at -WhatIf
    Write-Host '4/4 Verify: skipped under -WhatIf'
    return
}
if (-not $PSCmdlet.ShouldProcess("$($enrolled.Count) module(s): $($enrolled.Esn -join ', ')", "Restore the sshadmin key from $($restore.Path)")) {
    throw 'Restore-HsmHostFromBackup: declined by the operator; nothing was changed.'
}
$restoreErrors = $null
$result = Restore-HsmSshKey @restore -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable restoreErrors
if (-not $result -or $result.Status -ne 'Completed') {
    throw "Restore failed: $(@($restoreErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) -join '; ') Run again to complete an interrupted restore."
}
$result | Format-List Status, Services, ModulesUpdated, NewFingerprints | Out-Host
if ($restoreErrors) {
    $restoreErrors | ForEach-Object { Write-Warning "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }
}

Write-Host '3/4 Restart the hardserver on the new ncoreapi key'
$restart = Restart-HsmHardserver @at -Confirm:$false
if (-not $restart.KeyCurrent) { throw 'The hardserver did not load the current ncoreapi key.' }

Write-Host '4/4 Verify every channel'
$failing = @(Test-HsmConnection @at -Detailed -ErrorAction SilentlyContinue | Where-Object { -not $_.Success })
if ($failing -or $restoreErrors) {
    $failing | Format-Table Esn, Service, ErrorId, Message -Wrap | Out-Host
    throw "Restored, but $(@($failing).Count) channel(s) fail ($(@($failing.Esn | Sort-Object -Unique) -join ', ')): a module in factory state needs Invoke-HsmEnroll."
}
Write-Host "Done: trust restored with $(@($result.ModulesUpdated).Count) module(s), hardserver restarted, every channel verified. Make a new backup if the sshadmin key's protection changed."
$result
