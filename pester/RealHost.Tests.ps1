<#
    A real host, as an nShield administrator sets it up: the process under test imports only NShield.HsmAdmin (no
    simulator module), is told where two modules are (Register-HsmModule, by address), where the factory credential is
    and how the hardserver is restarted (a stand-in script at the configured path that starts a long-running process),
    then enrolls, shows, rolls with a hardserver restart, backs up, restores, resets one module and enrolls it again.
    The modules are simulator endpoints started by another process, reached over real SSH. The module side (the keys
    each module's sshd really accepts) is read from the modules' authorized_keys files with ssh-keygen.
#>
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-realhost-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force $work | Out-Null
    $simPath = Join-Path $work 'sim'
    function Invoke-Child([string] $script, [hashtable] $arguments) {
        $file = Join-Path $work ("child-" + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        Set-Content -Path $file -Value $script
        $argList = foreach ($k in $arguments.Keys) { "-$k"; $arguments[$k] }
        $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -File $file @argList 2>&1
        if ($LASTEXITCODE -ne 0) { throw "child pwsh failed ($LASTEXITCODE): $($out -join "`n")" }
        ($out | Select-Object -Last 1) | ConvertFrom-Json
    }
    if (-not (Test-Path /usr/sbin/sshd) -and -not (Get-Command sshd -ErrorAction SilentlyContinue)) {
        throw 'The real-host test runs over real SSH and needs sshd: apt-get install openssh-server.'
    }

    # Another process starts the module endpoints, registered with no host: the test registers them itself.
    $sim = Invoke-Child @'
param([string] $Repo, [string] $SimPath, [int] $Owner)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $Repo 'NShield.HsmAdmin.Simulator.psd1')
# It outlives this child and dies with the test process.
$s = Start-HsmSimulator -ModuleCount 2 -NoHost -Transport Ssh -SimulatorPath $SimPath -OwnerProcessId $Owner
[pscustomobject]@{
    VendorRoot = $s.VendorRootPublicKey; FactoryCredential = $s.FactoryCredentialPath
    Modules = @($s.Modules | ForEach-Object {
        $ports = [ordered]@{}
        foreach ($e in $_.Endpoints) { $ports[$e.Service] = $e.Port }
        [pscustomobject]@{ Esn = $_.Esn; Dir = $_.ModuleDir; Ports = $ports } })
} | ConvertTo-Json -Depth 5 -Compress
'@ @{ Repo = $repo; SimPath = $simPath; Owner = $PID }

    # The stand-in hardserver: a script at the configured path; 'restart' replaces a long-running process.
    $hardserverDir = Join-Path $work 'opt-nfast'
    New-Item -ItemType Directory -Force $hardserverDir | Out-Null
    $script:initScript = Join-Path $hardserverDir 'init.d-ncipher'
    $script:pidFile = Join-Path $hardserverDir 'hardserver.pid'
    Set-Content -Path $initScript -Value @"
#!/bin/sh
stop() { [ -f '$pidFile' ] && kill "`$(cat '$pidFile')" 2>/dev/null; rm -f '$pidFile'; }
case "`$1" in
  restart) stop; nohup sleep 3600 >/dev/null 2>&1 </dev/null & echo `$! > '$pidFile' ;;
  stop) stop ;;
esac
"@
    chmod 755 $initScript

    # The process under test: the product only.
    $script:run = Invoke-Child @'
param([string] $Manifest, [string] $Work, [string] $SimJson, [string] $InitScript, [string] $PidFile)
$ErrorActionPreference = 'Stop'
Import-Module $Manifest
$sim = $SimJson | ConvertFrom-Json
$h = Join-Path $Work 'host'
$r = [ordered]@{}
# What each module's sshd accepts, per service: the fingerprints in its authorized_keys (read with ssh-keygen).
function Module-Keys($module) {
    $keys = [ordered]@{}
    foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
        $file = Join-Path $module.Dir "services/$svc/authorized_keys"
        $keys[$svc] = @(if ("$(Get-Content $file -Raw)".Trim()) { ssh-keygen -lf $file | ForEach-Object { ($_ -split ' ')[1] } })
    }
    $keys
}
function Client-Keys { $k = [ordered]@{}; Get-HsmSshKey -HostPath $h -Role Client | ForEach-Object { $k[$_.Service] = @($_.Fingerprint) }; $k }
$user = [Environment]::UserName
foreach ($m in $sim.Modules) {
    $ports = @{}; foreach ($p in $m.Ports.PSObject.Properties) { $ports[$p.Name] = [int]$p.Value }
    Register-HsmModule -HostPath $h -Esn $m.Esn -Address 127.0.0.1 -User $user -Port $ports
}
$r.Registered = @(Get-HsmModule -HostPath $h -Offline | ForEach-Object { [pscustomobject]@{ Esn = $_.Esn; Address = $_.Address; User = $_.User; Transport = $_.Transport; Sshadmin = $_.Endpoints['sshadmin'] } })
$r.LoadedModules = @(Get-Module | ForEach-Object Name)
# Its own machine folder, as a second install on one machine would have: this machine's /etc/opt/nfast is never written.
Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath $sim.FactoryCredential -HardserverRestartCommand $InitScript -HardserverPidFile $PidFile `
    -MachineFolder (Join-Path $Work 'machine')
$r.HardserverBefore = Get-HsmHardserver -HostPath $h | Select-Object Running, KeyCurrent
Set-Content -Path (Join-Path $Work 'vendor-root.pub') -Value $sim.VendorRoot
Add-HsmTrustedRoot -HostPath $h -Name vendor -PublicKeyFile (Join-Path $Work 'vendor-root.pub') -Confirm:$false | Out-Null
$r.Enroll = @(Invoke-HsmEnroll -HostPath $h | ForEach-Object { [pscustomobject]@{ Esn = $_.Esn; Action = "$($_.Action)"; Trust = $_.ServerKeyVerification } })
$r.Keys = @(Get-HsmSshKey -HostPath $h | ForEach-Object { "$($_.Role)" })
$r.ConnectedAfterEnroll = Test-HsmConnection -HostPath $h
$r.EnrolledClient = Client-Keys
$r.EnrolledModule = @($sim.Modules | ForEach-Object { Module-Keys $_ })
$roll = Update-HsmSshKey -HostPath $h -RestartHardserver -Confirm:$false
$r.RollStatus = "$($roll.Status)"
$r.HardserverAfterRoll = Get-HsmHardserver -HostPath $h | Select-Object Running, ProcessId, KeyCurrent
$r.RolledClient = Client-Keys
$r.RolledModule = @($sim.Modules | ForEach-Object { Module-Keys $_ })
$r.ConnectedAfterRoll = Test-HsmConnection -HostPath $h
$backup = Join-Path $Work 'sshadmin.backup'
$pass = ConvertTo-SecureString 'correct horse battery staple' -AsPlainText -Force
Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase $pass | Out-Null
Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
$restore = Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase $pass -Confirm:$false -WarningAction SilentlyContinue
$r.RestoreStatus = "$($restore.Status)"
$r.HardserverAfterRestore = (Get-HsmHardserver -HostPath $h).KeyCurrent
$r.HardserverRestarted = (Restart-HsmHardserver -HostPath $h -Confirm:$false).KeyCurrent
$r.Online = @(Get-HsmModule -HostPath $h | ForEach-Object { [pscustomobject]@{ Esn = $_.Esn; Mode = $_.Mode; Status = $_.Status; KeyCurrent = $_.HardserverKeyCurrent } })
$r.RestoredClient = Client-Keys
$r.RestoredModule = @($sim.Modules | ForEach-Object { Module-Keys $_ })
$r.ConnectedAfterRestore = Test-HsmConnection -HostPath $h
$first = $sim.Modules[0].Esn
$r.Reset = "$((Reset-HsmModule -HostPath $h -Esn $first -Confirm:$false).Mode)"
$r.ResetModule = Module-Keys $sim.Modules[0]
$r.ConnectedAfterReset = Test-HsmConnection -HostPath $h -Esn $first -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
$r.ReEnroll = @(Invoke-HsmEnroll -HostPath $h | ForEach-Object { [pscustomobject]@{ Esn = $_.Esn; Action = "$($_.Action)" } })
$r.FinalClient = Client-Keys
$r.FinalModule = @($sim.Modules | ForEach-Object { Module-Keys $_ })
$r.ConnectedAtEnd = Test-HsmConnection -HostPath $h
$r.Assemblies = @([AppDomain]::CurrentDomain.GetAssemblies() | ForEach-Object { $_.GetName().Name } | Where-Object { $_ -like 'NShield*' -or $_ -like 'nshield*' })
$r.Audit = @(Get-Content (Join-Path $h 'audit.log') | ForEach-Object { ($_ | ConvertFrom-Json).Operation } | Sort-Object -Unique)
[pscustomobject]$r | ConvertTo-Json -Depth 6 -Compress
'@ @{ Manifest = $manifest; Work = $work; SimJson = ($sim | ConvertTo-Json -Depth 5 -Compress); InitScript = $initScript; PidFile = $pidFile }
    $script:esns = @($sim.Modules.Esn | Sort-Object)
    function Same-Keys($client, $module) {
        foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            @($module.$svc) | Should -Be @($client.$svc) -Because "the module must accept exactly the host's $svc key"
        }
    }
}

AfterAll {
    if ($initScript -and (Test-Path $initScript)) { & $initScript stop }
    & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module '$(Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')'; Stop-HsmSimulator -Path '$simPath'" | Out-Null
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'A real host with registered modules (no simulator in the process under test)' {
    It 'registers two modules by address, SSH user and ports, and Get-HsmModule shows where they are' {
        @($run.Registered).Count | Should -Be 2
        @($run.Registered.Esn | Sort-Object) | Should -Be $esns
        foreach ($m in $run.Registered) {
            $m.Address | Should -Be '127.0.0.1'
            $m.Transport | Should -Be 'ssh'
            $m.User | Should -Be ([Environment]::UserName)
            $m.Sshadmin | Should -Match '^127\.0\.0\.1:\d+$'
        }
    }
    It 'loads no simulator code in the process under test' {
        $run.LoadedModules | Should -Contain 'NShield.HsmAdmin'
        $run.LoadedModules | Should -Not -Contain 'NShield.HsmAdmin.Simulator'
        $run.Assemblies | Should -Contain 'NShield.HsmAdmin.Engine'
        @($run.Assemblies | Where-Object { $_ -like 'NShield.HsmAdmin.Simulator*' -or $_ -like 'nshield-sim*' }).Count | Should -Be 0
    }
    It 'enrolls both modules through the vendor root, and each module accepts exactly the host''s keys' {
        $run.HardserverBefore.Running | Should -BeFalse
        @($run.Enroll | Where-Object Action -eq 'Enrolled').Count | Should -Be 2
        @($run.Enroll | Where-Object Trust -eq 'Certificate').Count | Should -Be 2
        @($run.Keys | Where-Object { $_ -eq 'Client' }).Count | Should -Be 6
        @($run.Keys | Where-Object { $_ -eq 'Server' }).Count | Should -Be 12
        $run.ConnectedAfterEnroll | Should -BeExactly $true
        foreach ($m in $run.EnrolledModule) { Same-Keys $run.EnrolledClient $m }
    }
    It 'rolls every key with a hardserver restart: old keys gone from every module, the restarted hardserver holds the new key' {
        $run.RollStatus | Should -Be 'Completed'
        $run.HardserverAfterRoll.Running | Should -BeTrue
        $run.HardserverAfterRoll.KeyCurrent | Should -BeTrue
        foreach ($svc in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            $run.RolledClient.$svc | Should -Not -Be $run.EnrolledClient.$svc
        }
        foreach ($m in $run.RolledModule) { Same-Keys $run.RolledClient $m }
        $run.ConnectedAfterRoll | Should -BeExactly $true
    }
    It 'restores from a passphrase backup: sshadmin kept, the five others new on every module, nothing old left' {
        $run.RestoreStatus | Should -Be 'Completed'
        $run.HardserverAfterRestore | Should -BeExactly $false -Because 'the restore made a new ncoreapi key after the hardserver started'
        $run.HardserverRestarted | Should -BeExactly $true
        @($run.Online).Count | Should -Be 2
        foreach ($m in $run.Online) { $m.Mode | Should -Be 'Operational'; $m.Status | Should -Be 'Enrolled'; $m.KeyCurrent | Should -BeExactly $true }
        $run.RestoredClient.sshadmin | Should -Be $run.RolledClient.sshadmin
        foreach ($svc in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $run.RestoredClient.$svc | Should -Not -Be $run.RolledClient.$svc }
        foreach ($m in $run.RestoredModule) { Same-Keys $run.RestoredClient $m }
        $run.ConnectedAfterRestore | Should -BeExactly $true
    }
    It 'resets one module to factory state (only the factory credential left on it) and enrolls it again' {
        $run.Reset | Should -Be 'FactoryState'
        @($run.ResetModule.sshadmin).Count | Should -Be 1
        $run.ResetModule.sshadmin[0] | Should -Not -Be $run.RestoredClient.sshadmin[0]
        foreach ($svc in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { @($run.ResetModule.$svc).Count | Should -Be 0 }
        $run.ConnectedAfterReset | Should -BeExactly $false
        @($run.ReEnroll | Where-Object Action -eq 'Enrolled').Esn | Should -Be $sim.Modules[0].Esn
        @($run.ReEnroll | Where-Object Action -eq 'Enrolled').Count | Should -Be 1
        @($run.ReEnroll | Where-Object Action -eq 'NoAction').Count | Should -Be 1
        foreach ($m in $run.FinalModule) { Same-Keys $run.FinalClient $m }
        $run.ConnectedAtEnd | Should -BeExactly $true
    }
    It 'audits every change it made' {
        foreach ($op in 'registry.add', 'config.set', 'hardserver.restart', 'factorystate') { $run.Audit | Should -Contain $op }
    }
}
