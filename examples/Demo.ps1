<#
.SYNOPSIS
    The main job: a tour of NShield.HsmAdmin against simulated nShield 5s modules over real SSH.
.DESCRIPTION
    Starts three simulated modules (factory state, as shipped) registered in a temporary host, enrolls
    them, shows the keys and the module status, proves every channel, rolls the keys, and stops the
    simulator. Nothing outside a temporary folder is touched.
#>
param([int] $ModuleCount = 3)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = "PlainText"
$repo = Split-Path $PSScriptRoot
Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1')
# The simulated modules are a module of their own; the product never loads it.
Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')
$sshd = (Test-Path /usr/sbin/sshd) -or (Get-Command sshd -ErrorAction SilentlyContinue)
$transport = if ($sshd -and -not $IsWindows) { 'Ssh' } else { 'InProcess' }

# Wide enough for whole fingerprints even when the output is redirected (the default is 80 columns).
function Show { $input | Out-String -Width 160 | Write-Host }

function Step([string] $title, [string] $explain) {
    Write-Host ""
    Write-Host "== $title" -ForegroundColor Cyan
    if ($explain) { Write-Host $explain }
}

# The simulated host lives inside the simulator's temporary folder: if this demo is killed, the simulator's watcher
# stops its modules and deletes that folder, host keys included (Start-HsmSimulator: "dies with its owner").
$hostPath = $null
$clock = [Diagnostics.Stopwatch]::StartNew()
try {
    $how = if ($transport -eq 'Ssh') {
        "Transport: Ssh. Each module runs six services (sshadmin, ncoreapi, setup, updater, monitor, launcher), each a real OpenSSH sshd " +
        "on a loopback port with its own server key; the product reaches them over SSH exactly as it reaches real modules."
    }
    else {
        "Transport: InProcess. OpenSSH sshd was not found (apt-get install openssh-server), so NO SSH is used in this run: " +
        "the product calls the simulated firmware directly through the simulator's in-process transport."
    }
    Step "1. Start $ModuleCount simulated modules" ("$how Fresh modules are in factory state.")
    $sim = Start-HsmSimulator -ModuleCount $ModuleCount -Transport $transport
    $hostPath = $sim.HostPath
    Write-Host "The simulated host lives in $hostPath (inside the simulator's folder; removed at the end)."
    $sim.Modules | Format-Table Esn, Mode, Transport, @{ n = 'sshadmin port'; e = { $_.Endpoint('sshadmin').Port } }, @{ n = 'sshadmin server key'; e = { $_.Endpoint('sshadmin').ServerKeyFingerprint } } | Show

    Step "2. Where the modules are, and their status" ("The simulator registered each module in the host's registry through the same store API " +
        "Register-HsmModule uses for real modules (address, SSH user, a port per service). Get-HsmModule asks each module over sshadmin " +
        "(factory state: with the vendor's well-known factory credential, whose location Get-HsmHostConfiguration shows).")
    Get-HsmModule -HostPath $hostPath | Format-Table Esn, Mode, Status, Transport, Address, User, @{ n = 'sshadmin'; e = { $_.Endpoints['sshadmin'] } } | Show

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

    Step "7. Roll the ncoreapi client key" ("New key installed on every module before the host switches; old one removed after. The hardserver " +
        "(here the simulator's stand-in: a real process, restarted by the configured command) is restarted to load it; whether it holds " +
        "the current key is read from the process's start time.")
    Update-HsmSshKey -Service ncoreapi -HostPath $hostPath -RestartHardserver -Confirm:$false | Format-List Operation, Status, Services, ModulesUpdated, NewFingerprints | Show
    Get-HsmHardserver -HostPath $hostPath | Format-List Description, Running, ProcessId, StartedAt, NcoreapiKeyActivatedAt, KeyCurrent | Show
    Get-HsmModule -HostPath $hostPath | Show

    Step "8. Done" ("Elapsed {0:n1} s over the {1} transport. Try it yourself: Import-Module ./NShield.HsmAdmin.psd1; Get-Help about_NShield.HsmAdmin" -f $clock.Elapsed.TotalSeconds, $transport)
}
finally {
    Get-HsmSimulator | Stop-HsmSimulator -Remove
}
