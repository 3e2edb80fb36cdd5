<#
.SYNOPSIS
    Moves nShield 5s module(s) from a source host to a destination host without returning them to
    factory state: the five steps of the vendor procedure, verified.
.DESCRIPTION
      1. Destination: back up its sshadmin key with a passphrase to -TransferPath (Backup-HsmSshKey).
      2. Source: hand the module(s) over to the destination's sshadmin key (Move-HsmModule). The
         destination's private key is never stored on the source.
      3. Physical move: -PhysicalMove is called once per module with (Esn, SourceHostPath,
         DestinationHostPath). Without it, the runbook asks the operator to move the module now and waits,
         then moves its registration: Unregister-HsmModule on the source, Register-HsmModule on the
         destination with the address, user and ports it had (or -DestinationAddress/-DestinationUser/
         -DestinationPort when the module is reached differently there).
      4. Source: Invoke-HsmEnroll refreshes the module list; the module must be reported Dropped and the
         source's remaining modules must still work.
      5. Destination: Invoke-HsmEnroll completes the move; every channel of the moved module must work.
    Both host stores must be reachable from this session (a simulator, or a host whose store is
    mounted). On two separate machines, run steps 1 and 5 on the destination and 2 to 4 on the source
    with the cmdlets named above. Any failure is a terminating error naming the step.
    -WhatIf shows what each step would change and changes nothing.
.PARAMETER Esn
    The module(s) to move.
.PARAMETER SourceHostPath
    The host store the module(s) leave.
.PARAMETER DestinationHostPath
    The host store the module(s) join.
.PARAMETER TransferPath
    File for the destination's passphrase backup (a shared drive or USB stick). An existing file is refused.
.PARAMETER Passphrase
    Protects the transfer file (SecureString). Prompted for when omitted in an interactive session.
.PARAMETER PhysicalMove
    Scriptblock that moves the module, param($Esn, $SourceHostPath, $DestinationHostPath), registrations
    included. Tests pass Move-HsmSimulatedModule; on real hardware leave it out and move the module when asked.
.PARAMETER DestinationAddress
    Without -PhysicalMove: the address the moved module is reached at on the destination. Default: the
    address it was registered at on the source.
.PARAMETER DestinationUser
    Without -PhysicalMove: the SSH user on the destination. Default: the source registration's.
.PARAMETER DestinationPort
    Without -PhysicalMove: ports that differ on the destination, by service (@{ ncoreapi = 9004 }). Default:
    the source registration's ports.
.EXAMPLE
    ./Move-HsmModuleBetweenHosts.ps1 -Esn 8A2C-91F3-0D4E -SourceHostPath /mnt/hostA/hsmadmin -DestinationHostPath /opt/nfast/hsmadmin -TransferPath /media/usb/b-sshadmin.key
    Prompts for the passphrase, hands the module over, asks you to move it, then completes the move.
.EXAMPLE
    ./Move-HsmModuleBetweenHosts.ps1 -Esn $esn -SourceHostPath $a -DestinationHostPath $b -TransferPath $file -Passphrase $pass -PhysicalMove { param($Esn, $Source, $Destination) Move-HsmSimulatedModule -Esn $Esn -HostPath $Source -DestinationHostPath $Destination -Confirm:$false }
    The same against simulated hosts.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory)]
    [ValidatePattern('^[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$')]
    [string[]] $Esn,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath $_ -PathType Container) { $true } else { throw "Source host store '$_' not found." } })]
    [string] $SourceHostPath,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath $_ -PathType Container) { $true } else { throw "Destination host store '$_' not found." } })]
    [string] $DestinationHostPath,
    [Parameter(Mandatory)]
    [ValidateScript({ if (Test-Path -LiteralPath (Split-Path -Parent ([IO.Path]::GetFullPath($_))) -PathType Container) { $true } else { throw "The folder of '$_' does not exist." } })]
    [string] $TransferPath,
    [Parameter(Mandatory)]
    [ValidateNotNull()]
    [securestring] $Passphrase,
    [scriptblock] $PhysicalMove,
    [string] $DestinationAddress,
    [string] $DestinationUser,
    [hashtable] $DestinationPort
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module NShield.HsmAdmin)) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    if (Test-Path $manifest) { Import-Module $manifest } else { Import-Module NShield.HsmAdmin }
}
$TransferPath = [IO.Path]::GetFullPath($TransferPath)
$src = @{ HostPath = $SourceHostPath }
$dst = @{ HostPath = $DestinationHostPath }

# Before anything changes: the modules are enrolled and working on the source, the destination is healthy.
$listed = @(Get-HsmModule @src -Offline)
foreach ($e in $Esn) {
    $m = $listed | Where-Object Esn -eq $e
    if (-not $m -or -not $m.Enrolled) { throw "Module $e is not enrolled with the source host $SourceHostPath." }
}
if (-not (Test-HsmConnection @src -Esn $Esn -ErrorAction SilentlyContinue)) { throw "Module(s) $($Esn -join ', ') do not work on the source host: fix that first (Test-HsmConnection -Detailed)." }
if ((Test-Path -LiteralPath $TransferPath)) { throw "The transfer file '$TransferPath' exists: remove it or choose another path (an old backup may hold an outdated key)." }

if ($WhatIfPreference) {
    Backup-HsmSshKey @dst -Path $TransferPath -Passphrase $Passphrase -WhatIf
    Write-Host "What if: Move-HsmModule on $SourceHostPath would hand $($Esn -join ', ') to the destination's sshadmin key."
    Write-Host "What if: the module(s) would be moved, then Invoke-HsmEnroll run on both hosts."
    return
}
if (-not $PSCmdlet.ShouldProcess("$($Esn -join ', ') from $SourceHostPath to $DestinationHostPath", 'Move module(s)')) {
    throw 'Move-HsmModuleBetweenHosts: declined by the operator; nothing was changed.'
}

Write-Host "1/5 Destination: back up its sshadmin key to $TransferPath"
Backup-HsmSshKey @dst -Path $TransferPath -Passphrase $Passphrase -Confirm:$false | Out-Null

Write-Host "2/5 Source: hand $($Esn -join ', ') over to the destination's key"
$moveErrors = $null
$handover = @(Move-HsmModule @src -Esn $Esn -PrivateKeyFile $TransferPath -Passphrase $Passphrase -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable moveErrors)
$handover | Format-Table Esn, Status, DestinationKeyFingerprint | Out-Host
$notReleased = @($Esn | Where-Object { ($handover | Where-Object Esn -eq $_).Status -ne 'Released' })
if ($moveErrors -or $notReleased) {
    throw "Step 2 failed for $($notReleased -join ', '): $(@($moveErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) -join '; ') The module(s) still work on the source."
}

Write-Host '3/5 Physical move'
foreach ($e in $Esn) {
    if ($PhysicalMove) { & $PhysicalMove $e $SourceHostPath $DestinationHostPath | Out-Null }
    else {
        $was = $listed | Where-Object Esn -eq $e
        Read-Host "Move module $e from the source host to the destination host now, then press Enter" | Out-Null
        # The registration follows the card: gone from the source, on the destination where it is reached now.
        Unregister-HsmModule @src -Esn $e -Confirm:$false
        $ports = @{}; foreach ($p in $was.Ports.GetEnumerator()) { $ports[$p.Key] = $p.Value }
        if ($DestinationPort) { foreach ($k in $DestinationPort.Keys) { $ports[$k] = $DestinationPort[$k] } }
        $address = if ($DestinationAddress) { $DestinationAddress } else { $was.Address }
        $user = if ($DestinationUser) { $DestinationUser } else { $was.User }
        Register-HsmModule @dst -Esn $e -Address $address -User $user -Port $ports -Force -Confirm:$false
    }
}

Write-Host '4/5 Source: refresh the module list'
$sourceErrors = $null
$refresh = @(Invoke-HsmEnroll @src -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable sourceErrors)
$refresh | Format-Table Esn, Action | Out-Host
foreach ($e in $Esn) {
    if (($refresh | Where-Object Esn -eq $e).Action -ne 'Dropped') { throw "Step 4: module $e was not dropped from the source (is it still registered there?). Unregister it (Unregister-HsmModule), then run Invoke-HsmEnroll -HostPath $SourceHostPath." }
}
if ($sourceErrors) { throw "Step 4: the source's other modules report errors: $(@($sourceErrors | ForEach-Object FullyQualifiedErrorId) -join ', ')" }
if (@(Get-HsmModule @src -Offline | Where-Object Esn -in $Esn).Count) { throw "Step 4: the source still lists $($Esn -join ', ')." }

Write-Host '5/5 Destination: enroll the moved module(s)'
$destErrors = $null
$arrive = @(Invoke-HsmEnroll @dst -Esn $Esn -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable destErrors)
$arrive | Format-Table Esn, Action, Mode | Out-Host
if ($destErrors) { throw "Step 5 failed: $(@($destErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) -join '; ')" }
$failing = @(Test-HsmConnection @dst -Esn $Esn -Detailed -ErrorAction SilentlyContinue | Where-Object { -not $_.Success })
if ($failing) { throw "Step 5: channels fail on the destination: $(@($failing | ForEach-Object { "$($_.Esn)/$($_.Service) $($_.ErrorId)" }) -join ', ')" }

Remove-Item -LiteralPath $TransferPath -Force
Write-Host "Done: $($Esn -join ', ') moved to $DestinationHostPath and verified; the transfer file was deleted. Restart the destination's hardserver if it must use the module now."
[pscustomobject]@{ Esn = [string[]]$Esn; Source = $SourceHostPath; Destination = $DestinationHostPath; Handover = $handover; SourceRefresh = $refresh; DestinationEnroll = $arrive }
