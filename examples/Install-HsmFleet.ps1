<#
.SYNOPSIS
    First install of a host's nShield 5s modules: enroll every registered module, verify every channel,
    restart the hardserver on the new ncoreapi key, and back up the sshadmin key with a passphrase.
.DESCRIPTION
    The runbook an admin keeps for a new host (or new modules in factory state):
      1. lists the registered modules (Get-HsmModule; register them first with Register-HsmModule);
      2. enrolls them (Invoke-HsmEnroll): server keys verified against the trusted vendor root, or against
         the fingerprints given with -AcceptFingerprint; the same client keys on every module;
      3. verifies every service channel of every module (Test-HsmConnection);
      4. restarts the hardserver so it loads the new ncoreapi key (Restart-HsmHardserver);
      5. writes a portable backup of the sshadmin key under -BackupPassphrase (Backup-HsmSshKey), as the
         vendor recommends after keys are installed.
    Any failure stops the runbook with a terminating error (exit code 1 under pwsh -File) naming the
    modules and channels that failed. -WhatIf shows what each step would change and changes nothing.
.PARAMETER HostPath
    The host store. Default: the module's default ($env:NSHIELD_HSMADMIN_HOME, else the system location).
.PARAMETER BackupPath
    The file for the sshadmin backup. Its folder must exist. An existing file is kept unless -Force.
.PARAMETER BackupPassphrase
    The passphrase that protects the backup (SecureString). Prompted for when omitted in an interactive session.
.PARAMETER AcceptFingerprint
    sshadmin server key fingerprints confirmed out of band, for hosts that do not trust a vendor root.
.PARAMETER Force
    Overwrite an existing backup file.
.EXAMPLE
    ./Install-HsmFleet.ps1 -BackupPath /media/usb/sshadmin.key -BackupPassphrase (Read-Host -AsSecureString 'Backup passphrase')
    Enrolls every module of this host, verifies, restarts the hardserver and writes the backup to the USB stick.
.EXAMPLE
    ./Install-HsmFleet.ps1 -HostPath /tmp/hsm-host -BackupPath /tmp/sshadmin.key -BackupPassphrase $pass -WhatIf
    Shows what the runbook would do on a simulated host, without changing anything.
.OUTPUTS
    A summary object: HostPath, Modules (ESNs), Enrollment (Invoke-HsmEnroll results), Backup (the file).
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [ValidateNotNullOrEmpty()]
    [string] $HostPath,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath (Split-Path -Parent ([IO.Path]::GetFullPath($_))) -PathType Container) { $true } else { throw "The folder of the backup file '$_' does not exist." } })]
    [string] $BackupPath,
    [Parameter(Mandatory)]
    [ValidateNotNull()]
    [securestring] $BackupPassphrase,
    [ValidatePattern('^SHA256:')]
    [string[]] $AcceptFingerprint,
    [switch] $Force
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    if (Test-Path $manifest) { Import-Module $manifest } else { Import-Module NShield.HsmAdmin }
}
$at = @{}
if ($HostPath) { $at.HostPath = $HostPath }
$BackupPath = [IO.Path]::GetFullPath($BackupPath)

Write-Host "1/5 Modules registered with the host"
$modules = @(Get-HsmModule @at -Offline | Where-Object Attached)
if (-not $modules) { throw 'No module is registered with this host: register each one first (Register-HsmModule -Esn <ESN> -Address <address>).' }
$modules | Format-Table Esn, Status, Enrolled | Out-Host

Write-Host "2/5 Enroll"
$enroll = @{} + $at
if ($AcceptFingerprint) { $enroll.AcceptFingerprint = $AcceptFingerprint }
if ($WhatIfPreference) {
    Invoke-HsmEnroll @enroll -WhatIf
    Write-Host '3/5 Verify: skipped under -WhatIf'
    Restart-HsmHardserver @at -WhatIf
    Backup-HsmSshKey @at -Path $BackupPath -Passphrase $BackupPassphrase -Force:$Force -WhatIf
    return
}
if (-not $PSCmdlet.ShouldProcess("$($modules.Count) module(s): $($modules.Esn -join ', ')", 'Enroll, restart the hardserver, back up the sshadmin key')) {
    throw 'Install-HsmFleet: stopped at the operator''s request; nothing was changed.'
}
# Refuse an existing backup before changing anything (Backup-HsmSshKey would refuse it only at step 5).
if ((Test-Path -LiteralPath $BackupPath) -and -not $Force) { throw "The backup file '$BackupPath' exists. Choose another -BackupPath, or use -Force to overwrite it." }
$enrollErrors = $null
$results = @(Invoke-HsmEnroll @enroll -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable enrollErrors)
$results | Format-Table Esn, Action, Mode, ServerKeyVerification | Out-Host
if ($enrollErrors) {
    $enrollErrors | ForEach-Object { Write-Warning "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }
    throw "Enrollment failed for $(@($enrollErrors).Count) module(s); nothing was backed up. Fix the errors above and run again (enrolled modules are left as they are)."
}

Write-Host "3/5 Verify every channel"
$failing = @(Test-HsmConnection @at -Detailed -ErrorAction SilentlyContinue | Where-Object { -not $_.Success })
if ($failing) {
    $failing | Format-Table Esn, Service, ErrorId, Message -Wrap | Out-Host
    throw "$($failing.Count) channel(s) failed after enrollment."
}

Write-Host "4/5 Restart the hardserver on the new ncoreapi key"
$restart = Restart-HsmHardserver @at -Confirm:$false
if (-not $restart.KeyCurrent) { throw 'The hardserver did not load the current ncoreapi key.' }

Write-Host "5/5 Back up the sshadmin key (portable, passphrase-protected)"
$backup = Backup-HsmSshKey @at -Path $BackupPath -Passphrase $BackupPassphrase -Force:$Force -Confirm:$false

Write-Host "Done: $($results.Count) module(s) enrolled and verified; backup at $($backup.FullName). Keep it away from unauthorized access."
[pscustomobject]@{
    HostPath   = if ($HostPath) { $HostPath } else { $env:NSHIELD_HSMADMIN_HOME }
    Modules    = [string[]]$results.Esn
    Enrollment = $results
    Backup     = $backup
}
