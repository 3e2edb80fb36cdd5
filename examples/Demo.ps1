<#
.SYNOPSIS
    The main job: a tour of NShield.HsmAdmin against simulated nShield 5s modules over real SSH.
.DESCRIPTION
    Starts three simulated modules (factory state, as shipped) attached to a temporary host, enrolls
    them, shows the keys and the module status, proves every channel, rolls the keys, and stops the
    simulator. Nothing outside a temporary folder is touched.
#>
param([int] $ModuleCount = 3)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = "PlainText"
Import-Module (Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1')

# Wide enough for whole fingerprints even when the output is redirected (the default is 80 columns).
function Show { $input | Out-String -Width 160 | Write-Host }

function Step([string] $title, [string] $explain) {
    Write-Host ""
    Write-Host "== $title" -ForegroundColor Cyan
    if ($explain) { Write-Host $explain }
}

$hostPath = Join-Path ([IO.Path]::GetTempPath()) ("nshield-demo-host-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$clock = [Diagnostics.Stopwatch]::StartNew()
try {
    Step "1. Start $ModuleCount simulated modules" (
        "Each module runs six services (sshadmin, ncoreapi, setup, updater, monitor, launcher), each a real OpenSSH sshd " +
        "on a loopback port with its own server key. Fresh modules are in factory state. The simulated host lives in $hostPath.")
    $sim = Start-HsmSimulator -ModuleCount $ModuleCount -HostPath $hostPath
    $sim.Modules | Format-Table Esn, Mode, @{ n = 'sshadmin port'; e = { $_.Endpoint('sshadmin').Port } }, @{ n = 'sshadmin server key'; e = { $_.Endpoint('sshadmin').ServerKeyFingerprint } } | Show

    Step "2. Status before enrollment" "Get-HsmModule asks each module over sshadmin (factory state: with the well-known default credential)."
    Get-HsmModule -HostPath $hostPath | Show

    Step "3. Enroll" ("Invoke-HsmEnroll verifies each module's server keys against the vendor root (warrant + certificate per key), " +
        "pins them, creates this host's six client keys, installs the same keys on every module and replaces the default credential.")
    Invoke-HsmEnroll -HostPath $hostPath -Confirm:$false | Show

    Step "4. Enroll again" "A module whose keys are already valid gets no action."
    Invoke-HsmEnroll -HostPath $hostPath | Show

    Step "5. The keys (public only)" "The host's client keys with their protection (KFG) and install time, and every pinned server key."
    Get-HsmSshKey -HostPath $hostPath | Show

    Step "6. Prove every channel" "Test-HsmConnection opens each service of each module: pinned server key, host client key, firmware answers."
    "All channels working: " + (Test-HsmConnection -HostPath $hostPath) | Show
    Test-HsmConnection -HostPath $hostPath -Detailed | Group-Object Esn | ForEach-Object {
        [pscustomobject]@{ Esn = $_.Name; Channels = $_.Count; Working = @($_.Group | Where-Object Success).Count }
    } | Format-Table | Show

    Step "7. Roll the ncoreapi client key" "New key installed on every module before the host switches; old one removed after. The hardserver is restarted to load it."
    Update-HsmSshKey -Service ncoreapi -HostPath $hostPath -RestartHardserver -Confirm:$false | Format-List Operation, Status, Services, ModulesUpdated, NewFingerprints | Show
    Get-HsmModule -HostPath $hostPath | Show

    Step "8. Done" ("Elapsed {0:n1} s. Try it yourself: Import-Module ./NShield.HsmAdmin.psd1; Get-Help about_NShield.HsmAdmin" -f $clock.Elapsed.TotalSeconds)
}
finally {
    Get-HsmSimulator | Stop-HsmSimulator -Remove
    Remove-Item $hostPath -Recurse -Force -ErrorAction SilentlyContinue
}
