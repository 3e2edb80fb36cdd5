# Issue 16, finding 2 (lockouts): a roll covers every enrolled module, an absent one stops the switch unless it is
# explicitly excluded (its old keys then stay archived on the host until it is brought up to date); enroll and roll
# keep out of each other's open journal; a restore never replaces a key some module needs. Over real SSH with the
# simulator. Every case ends with every module reachable after at most one rerun, and reads the keys each module
# really holds (Assert-ModulesHoldHostKeys: the module's own key list) against the host's current keys.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $script:Services = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher'
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    function Registration($h, $esn) {
        $m = Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $esn
        $ports = @{}; foreach ($p in $m.Ports.GetEnumerator()) { $ports[$p.Key] = $p.Value }
        @{ Esn = $esn; Address = $m.Address; User = $m.User; Port = $ports }
    }
    function ArchivedKeyFiles($h) { @(Get-ChildItem (Join-Path $h 'client-keys/archive') -Filter *.key -ErrorAction SilentlyContinue) }
}
AfterAll { Remove-TestHosts }

Describe 'Lockout 2a: a roll covers every enrolled module, registered or not' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
    }
    AfterEach { Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null }

    It 'an enrolled module that is not registered stops the switch (EnrolledModuleAbsent); the host keeps its old keys; the rerun completes once it is back' {
        $before = Get-HostKeys $h
        $reg = Registration $h $b
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'Incomplete'
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'EnrolledModuleAbsent*' }).TargetObject | Should -Be $b
        ($errs.FullyQualifiedErrorId -join ' ') | Should -Match 'RollIncomplete'
        (Get-HostKeys $h).sshadmin | Should -Be $before.sshadmin
        (Get-ModuleKeys $sim $sim.Modules[1].Esn).sshadmin | Should -Contain $before.sshadmin
        Register-HsmModule -HostPath $h @reg | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeTrue -Because 'every module still accepts the keys the host holds'
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Get-HostKeys $h).sshadmin | Should -Not -Be $before.sshadmin
        Assert-ModulesHoldHostKeys $sim
    }
    It 'an unreachable module stops the switch unless -ExcludeEsn names it; excluded, it keeps the old keys, archived owner-only on the host, until Invoke-HsmEnroll brings it up to date' {
        $before = Get-HostKeys $h
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue).Status | Should -Be 'Incomplete'
        (Get-HostKeys $h).sshadmin | Should -Be $before.sshadmin
        $r = Update-HsmSshKey -HostPath $h -ExcludeEsn $b -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        $r.ModulesExcluded | Should -Be $b
        ($warn -join ' ') | Should -Match ([regex]::Escape($b))
        $now = Get-HostKeys $h
        $now.sshadmin | Should -Not -Be $before.sshadmin
        # The excluded module still holds exactly the old keys; the host keeps them, archived and owner-only.
        $held = Get-ModuleKeys $sim $sim.Modules[1].Esn
        foreach ($svc in $script:Services) { $held[$svc] | Should -Be @($before[$svc]) }
        (stat -c '%a' (Join-Path $h 'client-keys/archive')) | Should -Be '700'
        $archived = ArchivedKeyFiles $h
        $archived.Count | Should -Be 6
        foreach ($f in $archived) { (stat -c '%a' $f.FullName) | Should -Be '600' }
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $h -Esn $b).Action | Should -Be 'Repaired'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
        (ArchivedKeyFiles $h).Count | Should -Be 0 -Because 'no module needs the old keys any more'
    }
    It 'the next Update-HsmSshKey brings a module excluded earlier up to date' {
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -ExcludeEsn $b -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        (ArchivedKeyFiles $h).Count | Should -Be 6
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false
        $r.Status | Should -Be 'Completed'
        $r.ModulesUpdated | Should -Contain $b
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
        (ArchivedKeyFiles $h).Count | Should -Be 0
    }
    It 'a roll with no enrolled module is refused with NoModulesToRoll and changes nothing' {
        $one = Start-TestSimulator -ModuleCount 1
        $h1 = $one.HostPath
        Invoke-HsmEnroll -HostPath $h1 | Out-Null
        $reg = Registration $h1 $one.Modules[0].Esn
        Unregister-HsmModule -HostPath $h1 -Esn $one.Modules[0].Esn -Confirm:$false | Out-Null
        # Forgotten explicitly (a routine enroll keeps it: it still holds the host's keys): no enrolled module left.
        Invoke-HsmEnroll -HostPath $h1 -Esn $one.Modules[0].Esn -Forget -Force -Confirm:$false | Out-Null
        $snapshot = Get-StoreSnapshot $h1
        { Update-HsmSshKey -HostPath $h1 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'NoModulesToRoll*'
        Get-StoreSnapshot $h1 | Should -Be $snapshot
        Register-HsmModule -HostPath $h1 @reg | Out-Null
        Invoke-HsmEnroll -HostPath $h1 | Out-Null
        Test-HsmConnection -HostPath $h1 | Should -BeTrue
        Assert-ModulesHoldHostKeys $one
    }
}

Describe 'Lockout 2b: enroll and roll keep out of each other''s open journal' {
    It 'Invoke-HsmEnroll refuses while a roll is open (RollInProgress); the module enrolled after the roll gets the new keys' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h -Esn $a | Out-Null
        Set-HsmSimulatedModule -Esn $a -FailAt 'keys.add' -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue).Status | Should -Be 'Incomplete'
        { Invoke-HsmEnroll -HostPath $h -Esn $b -ErrorAction Stop } | Should -Throw -ErrorId 'RollInProgress*'
        try { Invoke-HsmEnroll -HostPath $h -Esn $b -ErrorAction Stop } catch { $_.Exception.Message | Should -Match 'roll-journal.json' }
        (Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $b).Enrolled | Should -BeFalse
        Set-HsmSimulatedModule -Esn $a -ClearFaults -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        (Invoke-HsmEnroll -HostPath $h -Esn $b).Action | Should -Be 'Enrolled'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
    }
    It 'a roll refuses while an interrupted enroll left a module half enrolled (EnrollInProgress); one rerun of enroll finishes it' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h -Esn $a | Out-Null
        Set-HsmSimulatedModule -Esn $b -DropAfter 'enroll' -SimulatorPath $sim.Path | Out-Null
        Invoke-HsmEnroll -HostPath $h -Esn $b -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null
        Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null
        $snapshot = Get-StoreSnapshot $h
        { Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'EnrollInProgress*'
        Get-StoreSnapshot $h | Should -Be $snapshot
        (Invoke-HsmEnroll -HostPath $h -Esn $b).Action | Should -BeIn 'Enrolled', 'NoAction'
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
    }
}

Describe 'Lockout 2c: a restore keeps the current key unless every module that accepts it accepts the backup' {
    It 'refuses (RestoreWouldLockOut, naming the module) when a module accepts the current key but not the backup; nothing changes' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.bak'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $old = Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin
        Update-HsmSshKey -HostPath $h -Service sshadmin -Confirm:$false | Out-Null
        # Module a also accepts the backed-up key again (as a module that was never cleaned would); b accepts only the current one.
        $file = Join-Path $sim.Modules[0].ModuleDir 'services/sshadmin/authorized_keys'
        $original = Get-Content $file -Raw
        $line = @(Get-Content $file)[0]
        Add-Content $file ($line -replace '(ssh-ed25519|ecdsa-sha2-\S+|ssh-rsa) .*$', $old.PublicKey)
        try {
            $snapshot = Get-StoreSnapshot $h
            { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RestoreWouldLockOut*'
            try { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction Stop } catch { $_.TargetObject | Should -Be $b }
            Get-StoreSnapshot $h | Should -Be $snapshot
            Test-HsmConnection -HostPath $h | Should -BeTrue -Because 'the host kept the key both modules accept'
        }
        finally { Set-Content $file $original -NoNewline }
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
    }
    # Issue 23, item 13: "every enrolled module could be checked" has a test of its own, for both ways a module cannot be
    # checked. Module a accepts the backup and the current key (so only the unchecked module b can stop the restore).
    It 'refuses (RestoreWouldLockOut, naming the module) when an enrolled module is <Case>; nothing changes' -ForEach @(
        @{ Case = 'unregistered' }, @{ Case = 'unreachable' }
    ) {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.bak'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $old = Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin
        Update-HsmSshKey -HostPath $h -Service sshadmin -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        $file = Join-Path $sim.Modules[0].ModuleDir 'services/sshadmin/authorized_keys'
        $line = @(Get-Content $file)[0]
        Add-Content $file ($line -replace '(ssh-ed25519|ecdsa-sha2-\S+|ssh-rsa) .*$', $old.PublicKey)
        $reg = Registration $h $b
        if ($Case -eq 'unregistered') { Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null }
        else { Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null }
        try {
            $snapshot = Get-StoreSnapshot $h
            # An unreachable module is also reported on its own (a non-terminating error); the refusal ends the command.
            $e = $null
            try { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction SilentlyContinue | Out-Null }
            catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -BeLike 'RestoreWouldLockOut*'
            "$($e.TargetObject)" | Should -Be $b
            $e.Exception.Message | Should -Match 'could not be checked'
            Get-StoreSnapshot $h | Should -Be $snapshot
        }
        finally {
            if ($Case -eq 'unregistered') { Register-HsmModule -HostPath $h @reg | Out-Null }
            else { Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null }
        }
        Test-HsmConnection -HostPath $h | Should -BeTrue -Because 'the host kept the current key, which both modules accept'
        (Get-ModuleKeys $sim $b).sshadmin | Should -Be (Get-HostKeys $h).sshadmin
    }
    It 'restores when every module that accepts the current key also accepts the backup' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.bak'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $sshadmin = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
        (Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        (Get-HostKeys $h).sshadmin | Should -Be $sshadmin
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
    }
}

Describe 'Lockout: enroll never silently forgets a module that still holds this host''s keys' {
    BeforeAll {
        # A runspace without a host (no UI): what a scheduled task, a DSC run or a service sees.
        $script:Bare = [runspacefactory]::CreateRunspace()
        $Bare.Open()
        $ps = [powershell]::Create(); $ps.Runspace = $Bare
        $null = $ps.AddScript("Import-Module '$(Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1')'").Invoke()
        $ps.Dispose()
        function Invoke-Bare([string] $script, [hashtable] $vars) {
            foreach ($k in $vars.Keys) { $Bare.SessionStateProxy.SetVariable($k, $vars[$k]) }
            $ps = [powershell]::Create(); $ps.Runspace = $Bare
            $null = $ps.AddScript($script)
            try { [pscustomobject]@{ Output = @($ps.Invoke()); Errors = @($ps.Streams.Error) } } finally { $ps.Dispose() }
        }
    }
    AfterAll { if ($Bare) { $Bare.Dispose() } }

    It 'a routine Invoke-HsmEnroll keeps an unregistered enrolled module on the list; the next roll stops on it (EnrolledModuleAbsent) and completes once it is back' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $before = Get-HostKeys $h
        $reg = Registration $h $b
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null
        $r = Invoke-HsmEnroll -HostPath $h -WarningVariable warn -WarningAction SilentlyContinue
        @($r | Where-Object Esn -eq $b) | Should -BeNullOrEmpty -Because 'nothing is dropped: the module still holds this host''s keys'
        (Get-HsmModule -HostPath $h -Offline).Esn | Should -Contain $b
        ($warn -join ' ') | Should -Match "Invoke-HsmEnroll -Esn $b -Forget"
        # The roll must not switch without it (before the fix the list no longer named it and it was locked out).
        $roll = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        $roll.Status | Should -Be 'Incomplete'
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'EnrolledModuleAbsent*' }).TargetObject | Should -Be $b
        (Get-HostKeys $h).sshadmin | Should -Be $before.sshadmin
        Register-HsmModule -HostPath $h @reg | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Get-HostKeys $h).sshadmin | Should -Not -Be $before.sshadmin
        Assert-ModulesHoldHostKeys $sim
    }
    It 'Invoke-HsmEnroll -Esn on an excluded, unregistered module keeps its archived keys; -Forget says what is lost and needs a yes (ConfirmationRequired without a host, nothing with -WhatIf)' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -ExcludeEsn $b -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        $reg = Registration $h $b
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null
        $archived = @(ArchivedKeyFiles $h).Name
        $archived | Should -Not -BeNullOrEmpty
        # Before the fix this deleted the archived keys, without asking: the module could only be factory reset.
        Invoke-HsmEnroll -HostPath $h -Esn $b -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Where-Object Esn -eq $b | Should -BeNullOrEmpty
        @(ArchivedKeyFiles $h).Name | Should -Be $archived
        $snapshot = Get-StoreSnapshot $h
        Invoke-HsmEnroll -HostPath $h -Esn $b -Forget -WhatIf | Should -BeNullOrEmpty
        $bare = Invoke-Bare 'Invoke-HsmEnroll -HostPath $h -Esn $b -Forget -Confirm:$false' @{ h = $h; b = $b }
        @($bare.Errors | Where-Object { $_.FullyQualifiedErrorId -like 'ConfirmationRequired*' }).TargetObject | Should -Be $b
        ($bare.Errors.Exception.Message -join ' ') | Should -Match 'archived'
        Get-StoreSnapshot $h | Should -Be $snapshot
        # Back: the next enroll brings it up to date with the archived keys.
        Register-HsmModule -HostPath $h @reg | Out-Null
        (Invoke-HsmEnroll -HostPath $h -Esn $b).Action | Should -Be 'Repaired'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
        ArchivedKeyFiles $h | Should -BeNullOrEmpty
    }
    It 'Invoke-HsmEnroll -Esn -Forget -Force forgets an unregistered module explicitly (pins, list entry, archived keys); a registered one is refused' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        { Invoke-HsmEnroll -HostPath $h -Esn $a -Forget -Force -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'ModuleAlreadyRegistered*'
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null
        $r = Invoke-HsmEnroll -HostPath $h -Esn $b -Forget -Force -Confirm:$false
        $r.Action | Should -Be 'Dropped'
        (Get-HsmModule -HostPath $h -Offline).Esn | Should -Not -Contain $b
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $b | Should -BeNullOrEmpty
        Test-HsmConnection -HostPath $h | Should -BeTrue
        $hostKeys = Get-HostKeys $h
        $held = Get-ModuleKeys $sim $sim.Modules[0].Esn
        foreach ($svc in $script:Services) { $held[$svc] | Should -Be @($hostKeys[$svc]) }
    }
    It 'Move-HsmModule and Reset-HsmModule refuse while a roll is open (RollInProgress); the roll then completes' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $destination = Start-TestSimulator -ModuleCount 1
        Invoke-HsmEnroll -HostPath $destination.HostPath | Out-Null
        $key = Join-Path (New-TestHostPath 'usb') 'dest.key'
        Backup-HsmSshKey -HostPath $destination.HostPath -Path $key -Passphrase (Secure 'backup-pass-2417') | Out-Null
        Set-HsmSimulatedModule -Esn $b -FailAt 'keys.add' -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction SilentlyContinue).Status | Should -Be 'Incomplete'
        $snapshot = Get-StoreSnapshot $h
        { Move-HsmModule -HostPath $h -Esn $a -PrivateKeyFile $key -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RollInProgress*'
        { Reset-HsmModule -HostPath $h -Esn $a -Timeout 10 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RollInProgress*'
        Get-StoreSnapshot $h | Should -Be $snapshot
        Set-HsmSimulatedModule -Esn $b -ClearFaults -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim
    }
}
