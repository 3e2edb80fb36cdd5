# Shared set-up of the Pester suite: every test host and simulator lives under one temporary root,
# and every simulator a test starts is stopped by Remove-TestHosts.
$script:Root = Join-Path ([IO.Path]::GetTempPath()) ("nshield-pester-" + $PID)
$script:Simulators = [Collections.Generic.List[string]]::new()

function New-TestHostPath([string] $Name = 'host') {
    $path = Join-Path $script:Root ("$Name-" + [guid]::NewGuid().ToString('N').Substring(0, 6))
    New-Item -ItemType Directory -Force $path | Out-Null
    $path
}

function Start-TestSimulator([int] $ModuleCount = 1, [string] $HostPath = (New-TestHostPath), [string] $Transport) {
    $simPath = Join-Path $script:Root ("sim-" + [guid]::NewGuid().ToString('N').Substring(0, 6))
    $params = @{ ModuleCount = $ModuleCount; HostPath = $HostPath; SimulatorPath = $simPath }
    if ($Transport) { $params.Transport = $Transport }
    $sim = Start-HsmSimulator @params
    $script:Simulators.Add($sim.Path)
    $sim | Add-Member -NotePropertyName HostPath -NotePropertyValue $HostPath -PassThru
}

function Remove-TestHosts {
    foreach ($path in $script:Simulators) { Stop-HsmSimulator -Path $path -ErrorAction Continue }
    $script:Simulators.Clear()
    Remove-Item $script:Root -Recurse -Force -ErrorAction SilentlyContinue
}

# Hash of every file of a host store except the append-only audit log: "nothing changed" checks.
function Get-StoreSnapshot([string] $HostPath) {
    Get-ChildItem $HostPath -Recurse -File | Where-Object { $_.Name -ne 'audit.log' -and $_.Name -notlike 'store.lock*' } | Sort-Object FullName | ForEach-Object {
        '{0} {1}' -f $_.FullName.Substring($HostPath.Length), (Get-FileHash $_.FullName -Algorithm SHA256).Hash
    }
}

function Get-AuditLines([string] $HostPath) {
    $log = Join-Path $HostPath 'audit.log'
    if (Test-Path $log) { @(Get-Content $log) } else { @() }
}

Export-ModuleMember -Function New-TestHostPath, Start-TestSimulator, Remove-TestHosts, Get-StoreSnapshot, Get-AuditLines
