# Issue 5: faults injected at every step of enroll, roll, restore and migrate never leave a module
# unreachable: each case ends with Test-HsmConnection green for every module after at most one rerun.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $manifest -Force
    Import-Module (Join-Path (Split-Path $manifest) 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    function Fingerprints($h) { (Get-HsmSshKey -HostPath $h -Role Client | Sort-Object Service).Fingerprint }
    function Fault($sim, $esn, [hashtable] $how) { Set-HsmSimulatedModule -Esn $esn -SimulatorPath $sim.Path @how | Out-Null }
    # Runs a command in a child pwsh that kills itself at the named crash point, as a crash or power loss would
    # (the test-only hook; the shipped module has none). Fails unless the child really died at that point.
    function Invoke-Killed([string] $point, [string] $command) {
        $env:NSHIELD_HSMADMIN_KILL_AT = $point
        try {
            $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module '$manifest'; $(Get-CrashHookScript) $command" 2>&1
            $r = [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out -join "`n") }
        }
        finally { Remove-Item Env:NSHIELD_HSMADMIN_KILL_AT }
        $r.Output | Should -Match ([regex]::Escape("[crash point] $point")) -Because 'the child must have died at the crash point, not for another reason'
        $r.ExitCode | Should -Not -Be 0
        $r
    }
}
AfterAll { Remove-TestHosts }

Describe 'Faults during a key roll' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
    }
    AfterEach { Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null }

    It 'module refusing keys.add (<_>): host keeps the old keys, every module accepts them, the rerun completes' -ForEach @('FailAt', 'DropBefore', 'DropAfter') {
        $before = Fingerprints $h
        Fault $sim $b @{ $_ = 'keys.add' }
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'Incomplete'
        ($errs.FullyQualifiedErrorId -join ' ') | Should -Match 'RollIncomplete'
        Fingerprints $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Fingerprints $h | Should -Not -Be $before
    }
    It 'connection dropped while removing old keys: the host already uses the new keys, the rerun cleans up' {
        $before = Fingerprints $h
        Fault $sim $b @{ DropBefore = 'keys.remove' }
        (Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue -ErrorAction SilentlyContinue).Status | Should -Be 'Incomplete'
        Fingerprints $h | Should -Not -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
    }
    It 'module offline during the roll: the others are not held back from the old keys; the rerun completes once it is back' {
        $before = Fingerprints $h
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue).Status | Should -Be 'Incomplete'
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeTrue
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Fingerprints $h | Should -Not -Be $before
    }
    It 'an interrupted roll can be reverted instead' {
        $before = Fingerprints $h
        Fault $sim $b @{ FailAt = 'keys.add' }
        Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        (Update-HsmSshKey -HostPath $h -Revert -Confirm:$false).Status | Should -Be 'Reverted'
        Fingerprints $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
    }
    It 'process killed at <_>: every module still reachable, one rerun completes' -ForEach @(
        'roll.staged', 'roll.module-installed', 'roll.switching', 'roll.promoted-one', 'roll.switched', 'roll.module-cleaned') {
        $before = Fingerprints $h
        $killed = Invoke-Killed $_ "Update-HsmSshKey -HostPath '$h' -Confirm:`$false"
        $killed.ExitCode | Should -Not -Be 0
        $killed.Output | Should -Match "crash point\] $([regex]::Escape($_))"
        Test-HsmConnection -HostPath $h | Should -BeTrue -Because 'modules accept the old or the new keys at every point'
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Fingerprints $h | Should -Not -Be $before
    }
}

Describe 'Faults during enrollment' {
    It 'reply to enroll lost (<_>): the rerun finds the module and completes' -ForEach @('DropAfter', 'DropBefore', 'FailAt') {
        $sim = Start-TestSimulator -ModuleCount 1
        Fault $sim $sim.Modules[0].Esn @{ $_ = 'enroll' }
        Invoke-HsmEnroll -HostPath $sim.HostPath -ErrorAction SilentlyContinue | Out-Null
        (Invoke-HsmEnroll -HostPath $sim.HostPath).Action | Should -BeIn 'Enrolled', 'NoAction'
        Test-HsmConnection -HostPath $sim.HostPath | Should -BeTrue
    }
}

Describe 'Faults during a restore' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $b = $sim.Modules[1].Esn
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.bak'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') | Out-Null
    }
    AfterEach { Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null }

    It 'module failing <_> keys.set during the restore: one rerun completes' -ForEach @('FailAt', 'DropAfter') {
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        Fault $sim $b @{ $_ = 'keys.set' }
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') -Confirm:$false -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'module refusing keys.add during the restore: one rerun completes' {
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        Fault $sim $b @{ FailAt = 'keys.add' }
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') -Confirm:$false -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'process killed at <_> during the restore: one rerun completes' -ForEach @('roll.staged', 'roll.module-installed', 'roll.switching', 'roll.switched') {
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        $killed = Invoke-Killed $_ "Restore-HsmSshKey -HostPath '$h' -Path '$backup' -Passphrase (ConvertTo-SecureString pw -AsPlainText -Force) -Confirm:`$false"
        $killed.ExitCode | Should -Not -Be 0
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'pw') -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}

Describe 'Faults during a move to another host' {
    BeforeAll {
        $destination = Start-TestSimulator -ModuleCount 1
        $d = $destination.HostPath
        Invoke-HsmEnroll -HostPath $d | Out-Null
        $key = Join-Path (New-TestHostPath 'usb') 'dest.key'
        Backup-HsmSshKey -HostPath $d -Path $key -Passphrase (Secure 'pw') | Out-Null
        function New-Source {
            $s = Start-TestSimulator -ModuleCount 2
            Invoke-HsmEnroll -HostPath $s.HostPath | Out-Null
            $s
        }
        function Complete-Move($s, $esn) {
            Move-HsmModule -HostPath $s.HostPath -Esn $esn -PrivateKeyFile $key -Passphrase (Secure 'pw') -Confirm:$false | Out-Null
            Test-HsmConnection -HostPath $s.HostPath -Esn $s.Modules[1].Esn | Should -BeTrue -Because 'the source keeps working'
            Move-HsmSimulatedModule -Esn $esn -DestinationHostPath $d -SimulatorPath $s.Path | Out-Null
            (Invoke-HsmEnroll -HostPath $s.HostPath | Where-Object Esn -eq $esn).Action | Should -Be 'Dropped'
            (Invoke-HsmEnroll -HostPath $d | Where-Object Esn -eq $esn).Action | Should -Be 'Enrolled'
            Test-HsmConnection -HostPath $d | Should -BeTrue
        }
    }
    It 'module failing <Verb> (<Kind>): the module still works from the source; one rerun completes the move' -ForEach @(
        @{ Kind = 'FailAt'; Verb = 'keys.add' }, @{ Kind = 'DropAfter'; Verb = 'keys.add' },
        @{ Kind = 'FailAt'; Verb = 'keys.set' }, @{ Kind = 'DropAfter'; Verb = 'keys.set' }) {
        $s = New-Source
        $esn = $s.Modules[0].Esn
        Fault $s $esn @{ $Kind = $Verb }
        Move-HsmModule -HostPath $s.HostPath -Esn $esn -PrivateKeyFile $key -Passphrase (Secure 'pw') -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        Complete-Move $s $esn
    }
    It 'process killed at <_>: one rerun completes the move' -ForEach @('move.added', 'move.proven', 'move.services-released', 'move.released') {
        $s = New-Source
        $esn = $s.Modules[0].Esn
        $killed = Invoke-Killed $_ "Move-HsmModule -HostPath '$($s.HostPath)' -Esn $esn -PrivateKeyFile '$key' -Passphrase (ConvertTo-SecureString pw -AsPlainText -Force) -Confirm:`$false"
        $killed.ExitCode | Should -Not -Be 0
        Complete-Move $s $esn
    }
}

Describe 'No test hooks in what users get' {
    It 'the shipped module ignores NSHIELD_HSMADMIN_KILL_AT: a roll with it set completes in a child pwsh' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $before = Fingerprints $h
        $env:NSHIELD_HSMADMIN_KILL_AT = 'roll.switching'
        try {
            $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module '$manifest'; (Update-HsmSshKey -HostPath '$h' -Confirm:`$false).Status" 2>&1
            $exit = $LASTEXITCODE
        }
        finally { Remove-Item Env:NSHIELD_HSMADMIN_KILL_AT }
        $exit | Should -Be 0
        ($out -join "`n") | Should -Not -Match 'crash point'
        ($out | Select-Object -Last 1) | Should -Be 'Completed'
        Fingerprints $h | Should -Not -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}
