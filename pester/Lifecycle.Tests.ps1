# Issue 5: each procedure of the vendor page, run as a runbook would, against the simulator over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function ClientKeys($h) { Get-HsmSshKey -HostPath $h -Role Client | Sort-Object Service }
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
}
AfterAll { Remove-TestHosts }

Describe 'Changing installed keys (keys roll) and the hardserver' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Restart-HsmHardserver -HostPath $h -Confirm:$false | Out-Null
    }
    It 'rolls every client key on every module and restarts the hardserver with -RestartHardserver' {
        $before = ClientKeys $h
        $r = Update-HsmSshKey -HostPath $h -RestartHardserver -Confirm:$false
        $r.Status | Should -Be 'Completed'
        $r.ModulesPending | Should -BeNullOrEmpty
        $after = ClientKeys $h
        for ($i = 0; $i -lt 6; $i++) {
            $after[$i].Fingerprint | Should -Not -Be $before[$i].Fingerprint
            $after[$i].InstalledAt | Should -BeGreaterThan $before[$i].InstalledAt
        }
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h).HardserverKeyCurrent) | Should -Be @($true, $true)
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn -Gone @($before.Fingerprint)
    }
    It 'warns that the hardserver must restart after an ncoreapi roll, and Restart-HsmHardserver fixes it' {
        Update-HsmSshKey -HostPath $h -Service ncoreapi -Confirm:$false -WarningVariable warn | Out-Null
        ($warn -join ' ') | Should -Match 'hardserver'
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($false, $false)
        (Restart-HsmHardserver -HostPath $h -Confirm:$false).KeyCurrent | Should -BeTrue
    }
    It 'rolls one service with another algorithm, leaving the others' {
        $before = ClientKeys $h
        Update-HsmSshKey -HostPath $h -Service setup -Algorithm EcdsaP384 -Confirm:$false | Out-Null
        $after = ClientKeys $h
        ($after | Where-Object Service -eq setup).Algorithm | Should -Be 'EcdsaP384'
        ($after | Where-Object Service -ne setup).Fingerprint | Should -Be ($before | Where-Object Service -ne setup).Fingerprint
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn -Gone @(($before | Where-Object Service -eq setup).Fingerprint)
    }
    It 'does nothing with -WhatIf, not even take the store lock' {
        $before = Get-StoreSnapshot $h
        $owner = Join-Path $h 'store.lock.owner'
        $ownerBefore = if (Test-Path $owner) { (Get-FileHash $owner).Hash }
        Update-HsmSshKey -HostPath $h -WhatIf | Out-Null
        Get-StoreSnapshot $h | Should -Be $before
        $(if (Test-Path $owner) { (Get-FileHash $owner).Hash }) | Should -Be $ownerBefore
    }
}

Describe 'Backup and restore of the sshadmin key' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $dir = New-TestHostPath 'backups'
        $verbatim = Join-Path $dir 'sshadmin.verbatim'
        $portable = Join-Path $dir 'sshadmin.portable'
        $sshadmin = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin)
        Backup-HsmSshKey -HostPath $h -Path $verbatim -HostTied 3>$null | Out-Null
        Backup-HsmSshKey -HostPath $h -Path $portable -Passphrase (Secure 'correct horse battery') | Out-Null
    }
    It 'writes owner-only files' {
        (stat -c '%a' $verbatim) | Should -Be '600'
        (stat -c '%a' $portable) | Should -Be '600'
    }
    It 'makes a portable backup that ssh-keygen reads with the passphrase, showing the sshadmin public key' {
        $derived = ssh-keygen -y -P 'correct horse battery' -f $portable
        $LASTEXITCODE | Should -Be 0
        ($derived -split ' ')[1] | Should -Be ($sshadmin.PublicKey -split ' ')[1]
    }
    It 'never overwrites without -Force' {
        $hash = (Get-FileHash $portable).Hash
        { Backup-HsmSshKey -HostPath $h -Path $portable -ErrorAction Stop } | Should -Throw -ErrorId 'FileExists*'
        (Get-FileHash $portable).Hash | Should -Be $hash
        Backup-HsmSshKey -HostPath $h -Path $portable -Passphrase (Secure 'correct horse battery') -Force | Out-Null
    }
    It 'restores from the verbatim backup after the host lost its keys, with new keys for the other services' {
        $before = ClientKeys $h
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        Test-HsmConnection -HostPath $h -ErrorAction SilentlyContinue | Should -BeFalse
        $r = Restore-HsmSshKey -HostPath $h -Path $verbatim -Confirm:$false
        $r.Status | Should -Be 'Completed'
        $after = ClientKeys $h
        ($after | Where-Object Service -eq sshadmin).Fingerprint | Should -Be $sshadmin.Fingerprint
        foreach ($s in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') {
            ($after | Where-Object Service -eq $s).Fingerprint | Should -Not -Be ($before | Where-Object Service -eq $s).Fingerprint
        }
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h).Mode) | Should -Be @('Operational', 'Operational')
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn -Gone @(($before | Where-Object Service -ne sshadmin).Fingerprint)
    }
    It 'restores from the portable backup with its passphrase' {
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        (Restore-HsmSshKey -HostPath $h -Path $portable -Passphrase (Secure 'correct horse battery') -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'refuses a verbatim backup on another machine and says to use a passphrase backup' {
        # Another machine: the host's machine folder (the simulated host's own) moved elsewhere; put back after.
        $thisMachine = (Get-HsmHostConfiguration -HostPath $h).MachineFolder
        Set-HsmHostConfiguration -HostPath $h -MachineFolder (New-OtherMachineFolder $h) -Confirm:$false
        try {
            $before = Get-StoreSnapshot $h
            { Restore-HsmSshKey -HostPath $h -Path $verbatim -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'BackupFromAnotherMachine*'
            try { Restore-HsmSshKey -HostPath $h -Path $verbatim -Confirm:$false -ErrorAction Stop } catch { $_.Exception.Message | Should -Match 'Passphrase' }
            Get-StoreSnapshot $h | Should -Be $before
        }
        finally { Set-HsmHostConfiguration -HostPath $h -MachineFolder $thisMachine -Confirm:$false }
    }
    It 'refuses a wrong passphrase and changes nothing' {
        $before = Get-StoreSnapshot $h
        { Restore-HsmSshKey -HostPath $h -Path $portable -Passphrase (Secure 'wrong') -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'KeyWrongPassphrase*'
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'refuses a key no module accepts and changes nothing' {
        $other = Start-TestSimulator -ModuleCount 1
        Invoke-HsmEnroll -HostPath $other.HostPath | Out-Null
        $foreign = Join-Path $dir 'foreign.portable'
        Backup-HsmSshKey -HostPath $other.HostPath -Path $foreign -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $before = Get-StoreSnapshot $h
        { Restore-HsmSshKey -HostPath $h -Path $foreign -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'RestoreKeyNotAccepted*'
        Get-StoreSnapshot $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}

Describe 'Factory state and recovery mode' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $esn = $sim.Modules[0].Esn
    }
    It 'returns a module to factory state; the host forgets its pins; enroll brings it back with new server keys' {
        $oldPins = (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server).Fingerprint
        $r = Reset-HsmModule -HostPath $h -Esn $esn -Timeout 10 -Confirm:$false
        $r.Mode | Should -Be 'FactoryState'
        Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-HsmModule -HostPath $h -Esn $esn).Mode | Should -Be 'FactoryState'
        (Invoke-HsmEnroll -HostPath $h -Esn $esn).Action | Should -Be 'Enrolled'
        $newPins = (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server).Fingerprint
        foreach ($p in $newPins) { $oldPins | Should -Not -Contain $p }
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'refuses a timeout outside 3..120 seconds' {
        { Reset-HsmModule -HostPath $h -Esn $esn -Timeout 2 -Confirm:$false } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }
    It 're-enrolls a module after the recovery button; ncoreapi returns after a normal boot' {
        $oldPins = (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server).Fingerprint
        Set-HsmSimulatedModule -Esn $esn -PressRecoveryButton -SimulatorPath $sim.Path | Out-Null
        Test-HsmConnection -HostPath $h -Esn $esn -ErrorAction SilentlyContinue | Should -BeFalse
        $r = Invoke-HsmEnroll -HostPath $h -Esn $esn -WarningVariable warn
        $r.Action | Should -Be 'Enrolled'
        $r.Mode | Should -Be 'Recovery'
        ($warn -join ' ') | Should -Match 'recovery'
        foreach ($p in (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server).Fingerprint) { $oldPins | Should -Not -Contain $p }
        Set-HsmSimulatedModule -Esn $esn -BootNormally -SimulatorPath $sim.Path | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Get-HsmModule -HostPath $h -Esn $esn).Mode | Should -Be 'Operational'
    }
}

Describe 'Moving a module to another host (the five steps)' {
    BeforeAll {
        $source = Start-TestSimulator -ModuleCount 2
        $destination = Start-TestSimulator -ModuleCount 1
        $a = $source.HostPath; $b = $destination.HostPath
        Invoke-HsmEnroll -HostPath $a | Out-Null
        Invoke-HsmEnroll -HostPath $b | Out-Null
        $moving = $source.Modules[0].Esn
        $staying = $source.Modules[1].Esn
        $share = New-TestHostPath 'usb-stick'
        $file = Join-Path $share 'destination-sshadmin.key'
        $pass = Secure 'move-it-passphrase'
    }
    It 'step 1: backs up the destination''s sshadmin key with a passphrase' {
        Backup-HsmSshKey -HostPath $b -Path $file -Passphrase $pass | Out-Null
        Test-Path $file | Should -BeTrue
    }
    It 'step 2: Move-HsmModule on the source hands the module over, without storing the destination''s private key' {
        $aKeysBefore = (ClientKeys $a).Fingerprint
        $r = Move-HsmModule -HostPath $a -Esn $moving -PrivateKeyFile $file -Passphrase $pass -Confirm:$false
        $r.Status | Should -Be 'Released'
        $r.DestinationKeyFingerprint | Should -Be (Get-HsmSshKey -HostPath $b -Role Client -Service sshadmin).Fingerprint
        (ClientKeys $a).Fingerprint | Should -Be $aKeysBefore
        $destinationPublic = ((Get-HsmSshKey -HostPath $b -Role Client -Service sshadmin).PublicKey -split ' ')[1]
        Get-ChildItem $a -Recurse -File | Where-Object { (Get-Content $_.FullName -Raw) -match [regex]::Escape($destinationPublic) } | Should -BeNullOrEmpty
    }
    It 'cold standby: the module waits, the source keeps working and enroll reports it as awaiting removal' {
        Test-HsmConnection -HostPath $a -Esn $staying | Should -BeTrue
        $r = Invoke-HsmEnroll -HostPath $a
        ($r | Where-Object Esn -eq $moving).Action | Should -Be 'AwaitingRemoval'
        ($r | Where-Object Esn -eq $staying).Action | Should -Be 'NoAction'
    }
    It 'steps 3 and 4: after the physical move, enroll on the source drops it' {
        Move-HsmSimulatedModule -Esn $moving -DestinationHostPath $b -SimulatorPath $source.Path | Out-Null
        $r = Invoke-HsmEnroll -HostPath $a
        ($r | Where-Object Esn -eq $moving).Action | Should -Be 'Dropped'
        Test-HsmConnection -HostPath $a | Should -BeTrue
    }
    It 'step 5: enroll on the destination completes the move' {
        $r = Invoke-HsmEnroll -HostPath $b
        ($r | Where-Object Esn -eq $moving).Action | Should -Be 'Enrolled'
        Test-HsmConnection -HostPath $b | Should -BeTrue
        (Get-HsmModule -HostPath $b).Esn | Should -Contain $moving
        Assert-ModulesHoldHostKeys $source $b $moving -Gone @((Get-HostKeys $a).Values)
        Assert-ModulesHoldHostKeys $source $a $staying
    }
    It 'fails clearly on the destination if its keys changed since the backup' {
        $sim2 = Start-TestSimulator -ModuleCount 1
        $c = $sim2.HostPath
        Invoke-HsmEnroll -HostPath $c | Out-Null
        $m = $sim2.Modules[0].Esn
        $file2 = Join-Path $share 'b-before-roll.key'
        Backup-HsmSshKey -HostPath $b -Path $file2 -Passphrase $pass | Out-Null
        Update-HsmSshKey -HostPath $b -Service sshadmin -Confirm:$false | Out-Null
        Move-HsmModule -HostPath $c -Esn $m -PrivateKeyFile $file2 -Passphrase $pass -Confirm:$false | Out-Null
        Move-HsmSimulatedModule -Esn $m -DestinationHostPath $b -SimulatorPath $sim2.Path | Out-Null
        Invoke-HsmEnroll -HostPath $b -Esn $m -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'MigrationKeyRejected*'
        $errs[0].Exception.Message | Should -Match 'changed after the backup'
    }
}
