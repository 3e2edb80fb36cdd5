# Issue 5: faults injected at every step of enroll, roll, restore, move and reset never leave a module
# unreachable. Issue 13: every case shows that its fault fired (the crash point was reached, or the module's fault
# counter went from 1 to 0), asserts the exact outcome of the faulted call and of the rerun, and ends by reading the
# keys each module holds from the module itself (Get-ModuleKeys: the module's keys.list), not from the host's view.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $manifest -Force
    Import-Module (Join-Path (Split-Path $manifest) 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    function Fingerprints($h) { (Get-HsmSshKey -HostPath $h -Role Client | Sort-Object Service).Fingerprint }
    # Injects one fault and shows it is armed: the module's counter of pending faults is 1.
    function Fault($sim, $esn, [hashtable] $how) {
        Set-HsmSimulatedModule -Esn $esn -SimulatorPath $sim.Path @how | Out-Null
        Get-PendingFaults $sim $esn | Should -Be 1 -Because 'the fault is armed'
    }
    # The fault fired: the module consumed it.
    function Assert-Fired($sim, $esn) { Get-PendingFaults $sim $esn | Should -Be 0 -Because 'the injected fault must have fired' }
    function ErrorIds($errs) { @($errs | ForEach-Object { $_.FullyQualifiedErrorId.Split(',')[0] } | Sort-Object -Unique) }
}
AfterAll { Remove-TestHosts }

Describe 'Faults during a key roll' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        $all = $a, $b
    }
    AfterEach { Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null }

    It 'module refusing keys.add (<Kind>): host keeps the old keys, every module accepts them, the rerun completes' -ForEach @(
        @{ Kind = 'FailAt'; Id = 'ModuleError' }, @{ Kind = 'DropBefore'; Id = 'ConnectionFailed' }, @{ Kind = 'DropAfter'; Id = 'ConnectionFailed' }) {
        $before = Fingerprints $h
        Fault $sim $b @{ $Kind = 'keys.add' }
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        Assert-Fired $sim $b
        $r.Status | Should -Be 'Incomplete'
        ErrorIds $errs | Should -Contain 'RollIncomplete'
        ErrorIds $errs | Should -Contain $Id
        Fingerprints $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Fingerprints $h | Should -Not -Be $before
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $before
    }
    It 'connection dropped while removing old keys: the host already uses the new keys, the rerun cleans up' {
        $before = Fingerprints $h
        Fault $sim $b @{ DropBefore = 'keys.remove' }
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        Assert-Fired $sim $b
        $r.Status | Should -Be 'Incomplete'
        Fingerprints $h | Should -Not -Be $before
        (Get-ModuleKeys $sim $b).sshadmin | Should -HaveCount 2 -Because 'b still holds its old sshadmin key beside the new one'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $before
    }
    It 'module offline during the roll: the others are not held back from the old keys; the rerun completes once it is back' {
        $before = Fingerprints $h
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        ErrorIds $errs | Should -Contain 'ServiceNotRunning' -Because 'the module was offline (nothing listening): the fault was in effect'
        $r.Status | Should -Be 'Incomplete'
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeExactly $true
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Fingerprints $h | Should -Not -Be $before
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $before
    }
    It 'an interrupted roll can be reverted instead: old keys only, on every module' {
        $before = Fingerprints $h
        Fault $sim $b @{ FailAt = 'keys.add' }
        (Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue -WarningAction SilentlyContinue).Status | Should -Be 'Incomplete'
        Assert-Fired $sim $b
        $new = @((Get-ModuleKeys $sim $a).Values | ForEach-Object { $_ } | Where-Object { $_ -notin $before })
        $new | Should -HaveCount 6 -Because 'module a got the six new keys beside the old ones before b refused'
        (Update-HsmSshKey -HostPath $h -Revert -Confirm:$false).Status | Should -Be 'Reverted'
        Fingerprints $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $new
    }
    It 'process killed at <_>: every module still reachable, one rerun completes' -ForEach @(
        'roll.staged', 'roll.module-installed', 'roll.switching', 'roll.promoted-one', 'roll.switched', 'roll.module-cleaned') {
        $before = Fingerprints $h
        Invoke-Killed $_ "Update-HsmSshKey -HostPath '$h' -Confirm:`$false" | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeExactly $true -Because 'modules accept the old or the new keys at every point'
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeTrue -Because 'the roll was interrupted'
        (Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Fingerprints $h | Should -Not -Be $before
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $before
    }
    It 'process killed at roll.module-installed, then -Revert: Reverted, the old keys only on every module' {
        $before = Fingerprints $h
        Invoke-Killed 'roll.module-installed' "Update-HsmSshKey -HostPath '$h' -Confirm:`$false" | Out-Null
        $installed = @($all | ForEach-Object { (Get-ModuleKeys $sim $_).Values | ForEach-Object { $_ } } | Where-Object { $_ -notin $before } | Sort-Object -Unique)
        $installed.Count | Should -BeGreaterThan 0 -Because 'the killed roll had installed new keys on a module'
        (Update-HsmSshKey -HostPath $h -Revert -Confirm:$false).Status | Should -Be 'Reverted'
        Fingerprints $h | Should -Be $before
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h $all -Gone $installed
    }
}

Describe 'Faults during enrollment' {
    # FailAt and DropBefore: the module changed nothing, so the rerun enrolls it. DropAfter: the module committed the
    # host's keys and only the reply was lost, so the rerun finds them installed and has nothing to do.
    It 'reply to enroll lost (<Kind>): the first call fails with <Id>, the rerun reports <Rerun>' -ForEach @(
        @{ Kind = 'DropAfter'; Id = 'ConnectionFailed'; Rerun = 'NoAction' }
        @{ Kind = 'DropBefore'; Id = 'ConnectionFailed'; Rerun = 'Enrolled' }
        @{ Kind = 'FailAt'; Id = 'ModuleError'; Rerun = 'Enrolled' }) {
        $sim = Start-TestSimulator -ModuleCount 1
        $esn = $sim.Modules[0].Esn
        Fault $sim $esn @{ $Kind = 'enroll' }
        $first = Invoke-HsmEnroll -HostPath $sim.HostPath -ErrorVariable errs -ErrorAction SilentlyContinue
        Assert-Fired $sim $esn
        $first | Should -BeNullOrEmpty
        ErrorIds $errs | Should -Be @($Id)
        $again = Invoke-HsmEnroll -HostPath $sim.HostPath
        $again | Should -HaveCount 1
        $again.Action | Should -Be $Rerun
        Test-HsmConnection -HostPath $sim.HostPath | Should -BeExactly $true
        (Get-ModuleKeys $sim $esn).sshadmin | Should -HaveCount 1 -Because 'the factory credential is gone'
        Assert-ModulesHoldHostKeys $sim $sim.HostPath $esn
    }
}

Describe 'Faults during a restore' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        $all = $a, $b
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.bak'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $backedUp = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
        function Restore { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -WarningAction SilentlyContinue -ErrorAction Stop }
        # The faulted call: its result and the ids of the errors it wrote.
        function Restore-Faulted {
            $r = Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -WarningAction SilentlyContinue -ErrorAction SilentlyContinue -ErrorVariable e
            [pscustomobject]@{ Result = $r; Ids = ErrorIds $e }
        }
        # The host lost its keys: the keys the modules hold for the five other services become the old ones.
        function Lose-HostKeys {
            $lost = @(Fingerprints $h | Where-Object { $_ -ne $backedUp })
            Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
            $lost
        }
        function Assert-Restored($lost) {
            Test-HsmConnection -HostPath $h | Should -BeExactly $true
            (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint | Should -Be $backedUp
            Assert-ModulesHoldHostKeys $sim $h $all -Gone $lost
        }
    }
    AfterEach { Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null }

    It 'module failing <Kind> keys.set during the restore: Incomplete with <Id>, one rerun completes' -ForEach @(
        @{ Kind = 'FailAt'; Id = 'ModuleError' }, @{ Kind = 'DropAfter'; Id = 'ConnectionFailed' }) {
        $lost = Lose-HostKeys
        Fault $sim $b @{ $Kind = 'keys.set' }
        $f = Restore-Faulted
        Assert-Fired $sim $b
        $f.Result.Status | Should -Be 'Incomplete'
        $f.Ids | Should -Contain $Id
        (Restore).Status | Should -Be 'Completed'
        Assert-Restored $lost
    }
    It 'module refusing keys.add during the restore: Incomplete with ModuleError, one rerun completes' {
        $lost = Lose-HostKeys
        Fault $sim $b @{ FailAt = 'keys.add' }
        $f = Restore-Faulted
        Assert-Fired $sim $b
        $f.Result.Status | Should -Be 'Incomplete'
        $f.Ids | Should -Contain 'ModuleError'
        (Restore).Status | Should -Be 'Completed'
        Assert-Restored $lost
    }
    It 'process killed at <_> during the restore: one rerun completes' -ForEach @('roll.staged', 'roll.module-installed', 'roll.switching', 'roll.switched') {
        $lost = Lose-HostKeys
        Invoke-Killed $_ "Restore-HsmSshKey -HostPath '$h' -Path '$backup' -Passphrase (ConvertTo-SecureString backup-pass-2417 -AsPlainText -Force) -Confirm:`$false" | Out-Null
        (Restore).Status | Should -Be 'Completed'
        Assert-Restored $lost
    }
}

Describe 'Faults during a move to another host' {
    BeforeAll {
        $destination = Start-TestSimulator -ModuleCount 1
        $d = $destination.HostPath
        Invoke-HsmEnroll -HostPath $d | Out-Null
        $key = Join-Path (New-TestHostPath 'usb') 'dest.key'
        Backup-HsmSshKey -HostPath $d -Path $key -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $destinationKey = (Get-HsmSshKey -HostPath $d -Role Client -Service sshadmin).Fingerprint
        $services = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher'
        function New-Source {
            $s = Start-TestSimulator -ModuleCount 2
            Invoke-HsmEnroll -HostPath $s.HostPath | Out-Null
            $s
        }
        function Invoke-Move([string] $sourceHost, [string] $esn) {
            Move-HsmModule -HostPath $sourceHost -Esn $esn -PrivateKeyFile $key -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction Stop
        }
        # Which services of the moving module the source still reaches must be exactly $reachable, and each must match
        # what the module holds: the source's key where the source still works, nothing of the source's where it does not.
        function Assert-SourceReach($s, [string] $esn, [string[]] $reachable, [bool] $destinationAdded) {
            $sourceKeys = Get-HostKeys $s.HostPath
            $held = Get-ModuleKeys $s $esn
            $detail = Test-HsmConnection -HostPath $s.HostPath -Esn $esn -Detailed -ErrorAction SilentlyContinue -ErrorVariable errs
            $detail | Should -HaveCount 6
            @($detail | Where-Object Success | ForEach-Object Service | Sort-Object) | Should -Be @($reachable | Sort-Object)
            foreach ($svc in $services) {
                $expected = @(if ($svc -in $reachable) { $sourceKeys[$svc] }) + @(if ($svc -eq 'sshadmin' -and $destinationAdded) { $destinationKey })
                $held[$svc] | Should -Be @($expected | Sort-Object) -Because "module $esn's $svc keys"
            }
            if ($reachable.Count -lt 6) { ErrorIds $errs | Should -Be @('AuthenticationFailed') -Because 'released services refuse the source''s keys' }
            Test-HsmConnection -HostPath $s.HostPath -Esn $s.Modules[1].Esn | Should -BeExactly $true -Because 'the other module of the source is untouched'
        }
        function Complete-Move($s, $esn) {
            $r = Invoke-Move $s.HostPath $esn
            $r.Status | Should -Be 'Released'
            Assert-SourceReach $s $esn @() $true
            Move-HsmSimulatedModule -Esn $esn -DestinationHostPath $d -SimulatorPath $s.Path | Out-Null
            (Invoke-HsmEnroll -HostPath $s.HostPath | Where-Object Esn -eq $esn).Action | Should -Be 'Dropped'
            (Invoke-HsmEnroll -HostPath $d | Where-Object Esn -eq $esn).Action | Should -Be 'Enrolled'
            Test-HsmConnection -HostPath $d | Should -BeExactly $true
            $sourceKeys = @((Get-HostKeys $s.HostPath).Values)
            Assert-ModulesHoldHostKeys $s $d $esn -Gone $sourceKeys
            Assert-ModulesHoldHostKeys $destination $d $destination.Modules[0].Esn
            Assert-ModulesHoldHostKeys $s $s.HostPath $s.Modules[1].Esn
        }
    }
    It 'module failing <Verb> (<Kind>): <Id>; the source still reaches what the module holds for it; one rerun completes the move' -ForEach @(
        @{ Kind = 'FailAt'; Verb = 'keys.add'; Id = 'ModuleError'; Added = $false; Reachable = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher' }
        @{ Kind = 'DropAfter'; Verb = 'keys.add'; Id = 'ConnectionFailed'; Added = $true; Reachable = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher' }
        @{ Kind = 'FailAt'; Verb = 'keys.set'; Id = 'ModuleError'; Added = $true; Reachable = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher' }
        @{ Kind = 'DropAfter'; Verb = 'keys.set'; Id = 'ConnectionFailed'; Added = $true; Reachable = 'sshadmin', 'setup', 'updater', 'monitor', 'launcher' }) {
        $s = New-Source
        $esn = $s.Modules[0].Esn
        Fault $s $esn @{ $Kind = $Verb }
        $r = Move-HsmModule -HostPath $s.HostPath -Esn $esn -PrivateKeyFile $key -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable errs
        Assert-Fired $s $esn
        $r | Should -BeNullOrEmpty
        ErrorIds $errs | Should -Be @($Id)
        Assert-SourceReach $s $esn $Reachable $Added
        Complete-Move $s $esn
    }
    It 'process killed at <Point>: the source reaches <Reach> of the module until it is released; one rerun completes the move' -ForEach @(
        @{ Point = 'move.added'; Reach = 'every service'; Reachable = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher' }
        @{ Point = 'move.proven'; Reach = 'every service'; Reachable = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher' }
        @{ Point = 'move.services-released'; Reach = 'sshadmin only'; Reachable = @('sshadmin') }
        @{ Point = 'move.released'; Reach = 'no service'; Reachable = @() }) {
        $s = New-Source
        $esn = $s.Modules[0].Esn
        Invoke-Killed $Point "Move-HsmModule -HostPath '$($s.HostPath)' -Esn $esn -PrivateKeyFile '$key' -Passphrase (ConvertTo-SecureString backup-pass-2417 -AsPlainText -Force) -Confirm:`$false" | Out-Null
        Assert-SourceReach $s $esn $Reachable $true
        Complete-Move $s $esn
    }
}

Describe 'Faults during a return to factory state' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        function Pins($esn) { @(Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -ErrorAction SilentlyContinue | ForEach-Object Fingerprint) }
        # The module is back in factory state (only the factory credential on sshadmin), the host forgot its pins;
        # enroll brings it back with new server keys and the host's keys, the other module untouched.
        function Assert-ResetThenEnroll($esn, $oldPins) {
            (Get-HsmSimulator -Path $sim.Path).Modules.Where({ $_.Esn -eq $esn }).Mode | Should -Be 'FactoryState'
            $held = Get-ModuleKeys $sim $esn
            $held.sshadmin | Should -HaveCount 1
            $held.sshadmin | Should -Not -BeIn @((Get-HostKeys $h).Values) -Because 'only the factory credential is left'
            foreach ($svc in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $held[$svc] | Should -HaveCount 0 }
            Pins $esn | Should -HaveCount 0
            (Invoke-HsmEnroll -HostPath $h -Esn $esn).Action | Should -Be 'Enrolled'
            @(Pins $esn).Count | Should -Be 6 -Because 'the re-enrolled module is pinned again'
            foreach ($p in Pins $esn) { $oldPins | Should -Not -Contain $p }
            Test-HsmConnection -HostPath $h | Should -BeExactly $true
            Assert-ModulesHoldHostKeys $sim $h $a, $b
        }
    }
    AfterEach { Set-HsmSimulatedModule -Esn $a -ClearFaults -SimulatorPath $sim.Path | Out-Null }

    It 'reply to factorystate lost after the reset (DropAfter): the call verifies the module is in factory state and completes' {
        $oldPins = Pins $a
        @($oldPins).Count | Should -Be 6
        Fault $sim $a @{ DropAfter = 'factorystate' }
        $r = Reset-HsmModule -HostPath $h -Esn $a -Timeout 10 -Confirm:$false -ErrorVariable errs
        Assert-Fired $sim $a
        $errs | Should -HaveCount 0
        $r.Mode | Should -Be 'FactoryState'
        Assert-ResetThenEnroll $a $oldPins
    }
    It 'connection dropped before the reset (DropBefore): ConnectionFailed, nothing changed, the rerun resets' {
        $oldPins = Pins $a
        @($oldPins).Count | Should -Be 6
        $keysBefore = Get-ModuleKeys $sim $a
        Fault $sim $a @{ DropBefore = 'factorystate' }
        $r = Reset-HsmModule -HostPath $h -Esn $a -Timeout 10 -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        Assert-Fired $sim $a
        $r | Should -BeNullOrEmpty
        ErrorIds $errs | Should -Be @('ConnectionFailed')
        Pins $a | Should -Be $oldPins
        (Get-ModuleKeys $sim $a).sshadmin | Should -Be $keysBefore.sshadmin
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        (Reset-HsmModule -HostPath $h -Esn $a -Timeout 10 -Confirm:$false).Mode | Should -Be 'FactoryState'
        Assert-ResetThenEnroll $a $oldPins
    }
    It 'process killed at reset.done (the module reset, the host not yet told): the rerun completes the reset' {
        $oldPins = Pins $a
        @($oldPins).Count | Should -Be 6
        Invoke-Killed 'reset.done' "Reset-HsmModule -HostPath '$h' -Esn $a -Timeout 10 -Confirm:`$false" | Out-Null
        Pins $a | Should -Be $oldPins -Because 'the host had not forgotten its pins yet'
        Test-HsmConnection -HostPath $h -Esn $a -ErrorAction SilentlyContinue -ErrorVariable errs | Should -BeExactly $false
        ErrorIds $errs | Should -Be @('ServerKeyChanged') -Because 'the module made new server keys'
        (Reset-HsmModule -HostPath $h -Esn $a -Timeout 10 -Confirm:$false).Mode | Should -Be 'FactoryState'
        Assert-ResetThenEnroll $a $oldPins
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
