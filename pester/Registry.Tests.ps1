<#
    Where modules are, and what the simulator may touch: the registry cmdlets (pipeline input, -WhatIf, typed errors
    that write nothing, audit), the host configuration cmdlets, and the simulator's rules for host stores (explicit or
    temporary host, refusal of foreign stores, its vendor root in and out through the store API, owner-only secrets).
#>
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Registry([string] $h) { $f = Join-Path $h 'module-registry.json'; if (Test-Path $f) { Get-Content $f -Raw } else { '' } }
    function Mode([string] $path) { (& stat -c '%a' $path).Trim() }
}
AfterAll { Remove-TestHosts }

Describe 'Register-HsmModule and Unregister-HsmModule' {
    It 'registers modules from the pipeline (e.g. a CSV inventory) and Get-HsmModule shows where each is' {
        $h = New-TestHostPath
        @(
            [pscustomobject]@{ Esn = '8a2c-91f3-0d4e'; Address = '10.1.0.5'; User = 'hsmops' }
            [pscustomobject]@{ Esn = '3F07-11AA-9C20'; Address = 'hsm2.example.net'; Ports = @{ ncoreapi = 9004 } }
        ) | Register-HsmModule -HostPath $h
        $modules = @(Get-HsmModule -HostPath $h -Offline | Sort-Object Esn)
        $modules.Count | Should -Be 2
        $modules[0].Esn | Should -Be '3F07-11AA-9C20'
        $modules[0].Address | Should -Be 'hsm2.example.net'
        $modules[0].User | Should -Be 'nshield'
        $modules[0].Endpoints['ncoreapi'] | Should -Be 'hsm2.example.net:9004'
        $modules[0].Endpoints['sshadmin'] | Should -Be 'hsm2.example.net:2201'
        $modules[1].Esn | Should -Be '8A2C-91F3-0D4E'
        $modules[1].User | Should -Be 'hsmops'
        $modules[1].Transport | Should -Be 'ssh'
        @(Get-AuditLines $h | Where-Object { $_ -match '"registry.add"' }).Count | Should -Be 2
        '3F07-11AA-9C20' | Unregister-HsmModule -HostPath $h -Confirm:$false
        @(Get-HsmModule -HostPath $h -Offline).Esn | Should -Be '8A2C-91F3-0D4E'
        @(Get-AuditLines $h | Where-Object { $_ -match '"registry.remove"' }).Count | Should -Be 1
    }
    It '-WhatIf writes nothing' {
        $h = New-TestHostPath
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.5 -WhatIf
        Registry $h | Should -BeNullOrEmpty
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.5
        $before = Get-StoreSnapshot $h
        Unregister-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -WhatIf
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'bad input (<Case>) gets <Id> and nothing is written' -ForEach @(
        @{ Case = 'malformed ESN'; Id = 'InvalidEsn'; Params = @{ Esn = '8A2C-91F3'; Address = '10.1.0.5' } }
        @{ Case = 'address that does not parse'; Id = 'InvalidAddress'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5;reboot' } }
        @{ Case = 'port 0'; Id = 'InvalidPort'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; Port = @{ sshadmin = 0 } } }
        @{ Case = 'port 70000'; Id = 'InvalidPort'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; Port = @{ monitor = 70000 } } }
        @{ Case = 'port not a number'; Id = 'InvalidPort'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; Port = @{ monitor = 'http' } } }
        @{ Case = 'unknown service'; Id = 'UnknownService'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; Port = @{ telnet = 23 } } }
        @{ Case = 'user name'; Id = 'InvalidUserName'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; User = '-oProxyCommand=sh' } }
        @{ Case = 'unknown transport'; Id = 'UnknownTransport'; Params = @{ Esn = '8A2C-91F3-0D4E'; Address = '10.1.0.5'; Transport = 'telnet' } }
    ) {
        $h = New-TestHostPath
        Register-HsmModule -HostPath $h -Esn 0000-0000-0001 -Address 10.1.0.1
        $before = Get-StoreSnapshot $h
        $auditBefore = @(Get-AuditLines $h).Count
        # A malformed ESN stops the command when it is bound (HsmCmdlet.ValidateBoundEsns); the others are reported.
        $failed = @()
        try { Register-HsmModule -HostPath $h @Params -ErrorAction Stop } catch { $failed = @($_) }
        @($failed).Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        Get-StoreSnapshot $h | Should -Be $before
        @(Get-AuditLines $h).Count | Should -Be $auditBefore
    }
    It 'a registered ESN at other endpoints needs -Force; an unknown ESN cannot be unregistered' {
        $h = New-TestHostPath
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.5
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.6 -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ModuleAlreadyRegistered,*'
        (Get-HsmModule -HostPath $h -Offline).Address | Should -Be '10.1.0.5'
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.6 -Force -PassThru | ForEach-Object Address | Should -Be '10.1.0.6'
        Unregister-HsmModule -HostPath $h -Esn 0000-0000-0009 -Confirm:$false -ErrorVariable gone -ErrorAction SilentlyContinue
        $gone[0].FullyQualifiedErrorId | Should -BeLike 'UnknownModule,*'
    }
}

Describe 'Register-HsmModule input forms' {
    It 'keeps addresses in their standard form and refuses the odd ones (<Address>)' -ForEach @(
        @{ Address = '[::1]'; Stored = '::1' }
        @{ Address = 'HSM1.Example.NET'; Stored = 'hsm1.example.net' }
        @{ Address = '127.1'; Id = 'InvalidAddress' }
        @{ Address = '0x7f000001'; Id = 'InvalidAddress' }
        @{ Address = '224.0.0.1'; Id = 'InvalidAddress' }
        @{ Address = 'ff02::1'; Id = 'InvalidAddress' }
        @{ Address = '-oProxyCommand=sh'; Id = 'InvalidAddress' }
    ) {
        $h = New-TestHostPath
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address $Address -ErrorVariable failed -ErrorAction SilentlyContinue
        if ($Id) {
            $failed[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
            Registry $h | Should -BeNullOrEmpty
        }
        else {
            @($failed).Count | Should -Be 0
            (Get-HsmModule -HostPath $h -Offline).Address | Should -Be $Stored
        }
    }
    It 'takes only whole-number ports (<Value>)' -ForEach @(@{ Value = 2201.6 }, @{ Value = $true }, @{ Value = '22a' }) {
        $h = New-TestHostPath
        Register-HsmModule -HostPath $h -Esn 8A2C-91F3-0D4E -Address 10.1.0.5 -Port @{ sshadmin = $Value } -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'InvalidPort,*'
        Registry $h | Should -BeNullOrEmpty
    }
    It 'Get-HsmModule output registers the same modules, ports included, on another host' {
        $a = New-TestHostPath; $b = New-TestHostPath
        Register-HsmModule -HostPath $a -Esn 8A2C-91F3-0D4E -Address 10.1.0.5 -User ops -Port @{ ncoreapi = 9004; monitor = 9005 }
        Get-HsmModule -HostPath $a -Offline | Register-HsmModule -HostPath $b
        $m = Get-HsmModule -HostPath $b -Offline
        $m.User | Should -Be 'ops'
        $m.Ports['ncoreapi'] | Should -Be 9004
        $m.Ports['monitor'] | Should -Be 9005
        $m.Ports['sshadmin'] | Should -Be 2201
    }
}

Describe 'Host configuration' {
    It 'Set-HsmHostConfiguration records the factory credential and the hardserver, Get shows them; a missing file is PathNotFound and changes nothing' {
        $h = New-TestHostPath
        (Get-HsmHostConfiguration -HostPath $h).HardserverRestart | Should -Be '/opt/nfast/sbin/init.d-ncipher restart'
        (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialFound | Should -BeFalse
        $key = Join-Path $h 'factory.key'
        & ssh-keygen -q -t ed25519 -N '' -f $key
        $script = Join-Path $h 'restart.sh'
        Set-Content $script "#!/bin/sh`nexit 0"
        Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath $key -HardserverRestartCommand $script -HardserverProcessName hs
        $c = Get-HsmHostConfiguration -HostPath $h
        $c.FactoryCredentialPath | Should -Be $key
        $c.FactoryCredentialFound | Should -BeTrue
        $c.HardserverRestart | Should -Be "$script restart"
        $c.HardserverProcessName | Should -Be 'hs'
        $before = Get-StoreSnapshot $h
        { Set-HsmHostConfiguration -HostPath $h -HardserverRestartCommand (Join-Path $h 'nope') -ErrorAction Stop } |
            Should -Throw -ErrorId 'PathNotFound,NShield.HsmAdmin.Commands.SetHsmHostConfigurationCommand'
        Get-StoreSnapshot $h | Should -Be $before
        Set-HsmHostConfiguration -HostPath $h -HardserverProcessName ''
        (Get-HsmHostConfiguration -HostPath $h).HardserverProcessName | Should -Be 'hardserver'
    }
    It 'enrolling a factory-state module without the factory credential is FactoryCredentialNotConfigured' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        # The simulator's setting cleared: the default location (<store>/factory-credential) holds no file.
        Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath ''
        Invoke-HsmEnroll -HostPath $h -ErrorVariable failed -ErrorAction SilentlyContinue | Out-Null
        ($failed.FullyQualifiedErrorId -join ' ') | Should -Match 'FactoryCredentialNotConfigured'
        Test-Path (Join-Path $h 'client-keys/sshadmin.key') | Should -BeFalse
    }
}

Describe 'The simulator and host stores' {
    It 'without -HostPath it makes a temporary host inside its own folder' {
        $sim = Start-HsmSimulator -ModuleCount 1 -SimulatorPath (Join-Path (New-TestHostPath 'simroot') 'sim')
        try {
            $sim.HostPath | Should -Be (Join-Path $sim.Path 'host')
            @(Get-HsmModule -HostPath $sim.HostPath -Offline).Esn | Should -Be $sim.Modules[0].Esn
        }
        finally { Stop-HsmSimulator -Path $sim.Path }
    }
    It 'refuses a store that registers modules it did not, and one holding client keys it did not make; nothing is written' {
        $real = New-TestHostPath
        Register-HsmModule -HostPath $real -Esn 8A2C-91F3-0D4E -Address 10.1.0.5
        $before = Get-StoreSnapshot $real
        { Start-HsmSimulator -ModuleCount 1 -HostPath $real -SimulatorPath (Join-Path (New-TestHostPath 'simroot') 'sim') -ErrorAction Stop } |
            Should -Throw -ErrorId 'SimulatorStoreRefused,NShield.HsmAdmin.Simulation.Commands.StartHsmSimulatorCommand'
        Get-StoreSnapshot $real | Should -Be $before
        @(Get-HsmTrustedRoot -HostPath $real).Count | Should -Be 0

        $keysOnly = New-TestHostPath
        $sim = Start-TestSimulator -ModuleCount 1 -HostPath $keysOnly
        Invoke-HsmEnroll -HostPath $keysOnly | Out-Null
        Remove-Item (Join-Path $keysOnly '.nshield-simulated-host') -Force
        { Add-HsmSimulatedModule -SimulatorPath $sim.Path -HostPath $keysOnly -ErrorAction Stop } |
            Should -Throw -ErrorId 'SimulatorStoreRefused,NShield.HsmAdmin.Simulation.Commands.AddHsmSimulatedModuleCommand'
    }
    It 'puts its vendor root in through the store (audited) and takes it and its settings out again when stopped' {
        $h = New-TestHostPath
        $sim = Start-HsmSimulator -ModuleCount 1 -HostPath $h -SimulatorPath (Join-Path (New-TestHostPath 'simroot') 'sim')
        @(Get-HsmTrustedRoot -HostPath $h).Count | Should -Be 1
        (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath | Should -Be $sim.FactoryCredentialPath
        @(Get-AuditLines $h | Where-Object { $_ -match '"registry.add"' }).Count | Should -Be 1
        @(Get-AuditLines $h | Where-Object { $_ -match '"config.set"' }).Count | Should -BeGreaterOrEqual 1
        Stop-HsmSimulator -Path $sim.Path
        @(Get-HsmTrustedRoot -HostPath $h).Count | Should -Be 0
        @(Get-HsmModule -HostPath $h -Offline).Count | Should -Be 0
        (Get-HsmHostConfiguration -HostPath $h).Configured.FactoryCredentialPath | Should -BeNullOrEmpty
        (Get-HsmHostConfiguration -HostPath $h).Configured.Hardserver.RestartCommand | Should -BeNullOrEmpty
        @(Get-AuditLines $h | Where-Object { $_ -match '"registry.remove"' }).Count | Should -Be 1
    }
    It 'stops its stand-in hardserver, and starts again on the same host' {
        $h = New-TestHostPath
        $simPath = Join-Path (New-TestHostPath 'simroot') 'sim'
        $sim = Start-HsmSimulator -ModuleCount 1 -HostPath $h -SimulatorPath $simPath -Transport InProcess
        $hardserver = Get-HsmHardserver -HostPath $h
        $hardserver.Running | Should -BeTrue
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Stop-HsmSimulator -Path $sim.Path
        $stat = "/proc/$($hardserver.ProcessId)/stat"
        # Gone, or a zombie nobody reaped yet (state Z): either way no longer running.
        $state = if (Test-Path $stat) { ((Get-Content $stat -Raw) -replace '^.*\) ', '').Substring(0, 1) } else { 'gone' }
        $state | Should -BeIn 'gone', 'Z', 'X' -Because 'Stop-HsmSimulator stops the stand-in hardserver'
        $again = Start-HsmSimulator -ModuleCount 1 -HostPath $h -SimulatorPath (Join-Path (New-TestHostPath 'simroot') 'sim') -Transport InProcess
        try {
            (Invoke-HsmEnroll -HostPath $h | Where-Object Esn -eq $again.Modules[0].Esn).Action | Should -Be 'Enrolled'
            (Get-HsmHardserver -HostPath $h).Running | Should -BeTrue
        }
        finally { Stop-HsmSimulator -Path $again.Path }
    }
    It 'will not move a module into a store it did not make; the module stays where it was' {
        $sim = Start-TestSimulator -ModuleCount 1
        $foreign = New-TestHostPath
        Register-HsmModule -HostPath $foreign -Esn 8A2C-91F3-0D4E -Address 10.1.0.5
        $before = Get-StoreSnapshot $foreign
        { Move-HsmSimulatedModule -Esn $sim.Modules[0].Esn -DestinationHostPath $foreign -SimulatorPath $sim.Path -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'SimulatorStoreRefused,NShield.HsmAdmin.Simulation.Commands.MoveHsmSimulatedModuleCommand'
        Get-StoreSnapshot $foreign | Should -Be $before
        @(Get-HsmModule -HostPath $sim.HostPath -Offline).Esn | Should -Be $sim.Modules[0].Esn
    }
    It 'works under umask 002 (the stores it makes are not group-writable)' {
        $work = New-TestHostPath 'umask'
        $file = Join-Path $work 'run.ps1'
        Set-Content $file @"
Import-Module '$(Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')'
`$s = Start-HsmSimulator -ModuleCount 1 -Transport InProcess -HostPath '$work/host' -SimulatorPath '$work/sim'
try { (Invoke-HsmEnroll -HostPath '$work/host').Action } finally { Stop-HsmSimulator -Path '$work/sim' }
"@
        $out = & bash -c "umask 002 && exec dotnet '$(Join-Path $PSHOME 'pwsh.dll')' -NoProfile -NonInteractive -File '$file'" 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        ($out | Select-Object -Last 1) | Should -Be 'Enrolled'
    }
    It 'creates its secret files owner-only' {
        $sim = Start-TestSimulator -ModuleCount 1
        $dir = $sim.Modules[0].ModuleDir
        $secrets = @((Join-Path $sim.Path 'vendor-root.key'), $sim.FactoryCredentialPath, (Join-Path $dir 'identity.key')) +
            @(Get-ChildItem (Join-Path $dir 'services') -Recurse -Filter host_key | ForEach-Object FullName)
        $secrets.Count | Should -Be 9
        foreach ($f in $secrets) { Mode $f | Should -Be '600' -Because $f }
    }
}
