# Issue 6: each runbook of examples/ end to end against simulated modules over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $examples = Join-Path $repo 'examples'
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    # store.lock.owner is rewritten whenever a cmdlet takes the store lock, even under -WhatIf: not a change.
    function Snapshot($h) { Get-StoreSnapshot $h | Where-Object { $_ -notlike '/store.lock.owner *' } }
    function ClientKeys($h) { Get-HsmSshKey -HostPath $h -Role Client | Sort-Object Service }
    # A scheduler starts the runbook in a new pwsh: run it the same way, to see its exit code.
    function Invoke-ChildPwsh {
        $dll = Join-Path $PSHOME 'pwsh.dll'
        if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) { & dotnet $dll -NoProfile -NonInteractive @args }
        else { & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive @args }
    }
}
AfterAll { Remove-TestHosts }

Describe 'Runbook Install-HsmFleet' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $backup = Join-Path (New-TestHostPath 'usb') 'sshadmin.key'
        $pass = Secure 'first install'
    }
    It 'changes nothing with -WhatIf' {
        $before = Snapshot $h
        & "$examples/Install-HsmFleet.ps1" -HostPath $h -BackupPath $backup -BackupPassphrase $pass -WhatIf 6>$null | Out-Null
        Snapshot $h | Should -Be $before
        Test-Path $backup | Should -BeFalse
    }
    It 'enrolls every module, verifies, restarts the hardserver and writes a passphrase backup' {
        $r = & "$examples/Install-HsmFleet.ps1" -HostPath $h -BackupPath $backup -BackupPassphrase $pass -Confirm:$false 6>$null
        $r.Modules | Sort-Object | Should -Be ($sim.Modules.Esn | Sort-Object)
        @($r.Enrollment.Action) | Should -Be @('Enrolled', 'Enrolled')
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
        (stat -c '%a' $backup) | Should -Be '600'
        $derived = ssh-keygen -y -P 'first install' -f $backup
        $LASTEXITCODE | Should -Be 0
        ($derived -split ' ')[1] | Should -Be (((Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey -split ' ')[1])
    }
    It 'refuses to overwrite an existing backup (before changing anything) unless -Force' {
        $hash = (Get-FileHash $backup).Hash
        { & "$examples/Install-HsmFleet.ps1" -HostPath $h -BackupPath $backup -BackupPassphrase $pass -Confirm:$false 6>$null } | Should -Throw '*exists*-Force*'
        (Get-FileHash $backup).Hash | Should -Be $hash
    }
}

Describe 'Runbook Invoke-ScheduledKeyRoll' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $dir = New-TestHostPath 'roll-backups'
    }
    It 'run by a scheduler (new pwsh, -File): backs up, rolls every key on every module, restarts the hardserver, verifies; exit 0' {
        $before = ClientKeys $h
        $out = Invoke-ChildPwsh -File "$examples/Invoke-ScheduledKeyRoll.ps1" -HostPath $h -BackupDirectory $dir 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $after = ClientKeys $h
        for ($i = 0; $i -lt 6; $i++) { $after[$i].Fingerprint | Should -Not -Be $before[$i].Fingerprint }
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
        $files = @(Get-ChildItem $dir -Filter 'sshadmin-*.key' | Sort-Object Name)
        $files.Count | Should -Be 2
        $files[0].Name | Should -Match '-after\.key$'
        $files[1].Name | Should -Match '-before\.key$'
        (Get-FileHash $files[0].FullName).Hash | Should -Not -Be (Get-FileHash $files[1].FullName).Hash
    }
    It 'exits 1 and rolls nothing when a channel already fails (pre-flight)' {
        $esn = $sim.Modules[1].Esn
        Set-HsmSimulatedModule -Esn $esn -Refuse $true -SimulatorPath $sim.Path -Confirm:$false | Out-Null
        try {
            $before = Snapshot $h
            $count = @(Get-ChildItem $dir).Count
            & "$examples/Invoke-ScheduledKeyRoll.ps1" -HostPath $h -BackupDirectory $dir -BackupPassphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorAction SilentlyContinue 6>$null | Out-Null
            $LASTEXITCODE | Should -Be 1
            Snapshot $h | Should -Be $before
            @(Get-ChildItem $dir).Count | Should -Be $count
        }
        finally { Set-HsmSimulatedModule -Esn $esn -ClearFaults -SimulatorPath $sim.Path -Confirm:$false | Out-Null }
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn   # no module got a new key
    }
    It 'changes nothing with -WhatIf and exits 0' {
        $before = Snapshot $h
        $count = @(Get-ChildItem $dir).Count
        & "$examples/Invoke-ScheduledKeyRoll.ps1" -HostPath $h -BackupDirectory $dir -WhatIf 6>$null | Out-Null
        $LASTEXITCODE | Should -Be 0
        Snapshot $h | Should -Be $before
        @(Get-ChildItem $dir).Count | Should -Be $count
    }
}

Describe 'Runbook Invoke-KeyAgePolicy (issue 22: the DSC key-age policy from a scheduler)' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Restart-HsmHardserver -HostPath $h -Confirm:$false | Out-Null
        $dir = New-TestHostPath 'age-backups'
        # A client key "generated N days ago": rewrite its createdAt (nothing else) in the store's record.
        $file = Join-Path $h 'client-keys/ncoreapi.json'
        $json = Get-Content $file -Raw | ConvertFrom-Json
        $json.createdAt = [DateTimeOffset]::UtcNow.AddDays(-40).ToString('o')
        $json | ConvertTo-Json -Depth 5 | Set-Content $file
    }
    It 'changes nothing with -WhatIf, names the reason and exits 0' {
        $before = Snapshot $h
        $out = & "$examples/Invoke-KeyAgePolicy.ps1" -HostPath $h -MaxClientKeyAgeDays 30 -BackupDirectory $dir -WhatIf 6>&1
        $LASTEXITCODE | Should -Be 0
        ($out -join "`n") | Should -Match 'ClientKeyTooOld: client keys older than 30 days: ncoreapi'
        Snapshot $h | Should -Be $before
        @(Get-ChildItem $dir).Count | Should -Be 0
    }
    It 'run by a scheduler: backs up into custodians'' shares, rolls only the key past the age, restarts the hardserver; exit 0' {
        $before = ClientKeys $h
        $out = Invoke-ChildPwsh -File "$examples/Invoke-KeyAgePolicy.ps1" -HostPath $h -MaxClientKeyAgeDays 30 -BackupDirectory $dir `
            -BackupShares 3 -BackupThreshold 2 -RestartHardserver 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $after = ClientKeys $h
        ($after | Where-Object Service -eq ncoreapi).Fingerprint | Should -Not -Be ($before | Where-Object Service -eq ncoreapi).Fingerprint
        ($after | Where-Object Service -eq ncoreapi).Age.TotalDays | Should -BeLessThan 1
        ($after | Where-Object Service -ne ncoreapi).Fingerprint | Should -Be ($before | Where-Object Service -ne ncoreapi).Fingerprint
        @(Get-ChildItem $dir -Filter 'sshadmin-*-before.*-of-3.share').Count | Should -Be 3
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
    }
    It 'a compliant host: nothing to do, nothing written; exit 0' {
        $before = Snapshot $h
        $count = @(Get-ChildItem $dir).Count
        $out = Invoke-ChildPwsh -File "$examples/Invoke-KeyAgePolicy.ps1" -HostPath $h -MaxClientKeyAgeDays 30 -BackupDirectory $dir 2>&1
        $LASTEXITCODE | Should -Be 0
        ($out -join "`n") | Should -Match 'compliant, nothing to do'
        Snapshot $h | Should -Be $before
        @(Get-ChildItem $dir).Count | Should -Be $count
    }
}

Describe 'Runbook Move-HsmModuleBetweenHosts' {
    BeforeAll {
        $source = Start-TestSimulator -ModuleCount 2
        $destination = Start-TestSimulator -ModuleCount 1
        $a = $source.HostPath; $b = $destination.HostPath
        Invoke-HsmEnroll -HostPath $a | Out-Null
        Invoke-HsmEnroll -HostPath $b | Out-Null
        $moving = $source.Modules[0].Esn
        $staying = $source.Modules[1].Esn
        $transfer = Join-Path (New-TestHostPath 'usb-stick') 'destination-sshadmin.key'
        $simPath = $source.Path
        $move = { param($Esn, $SourceHostPath, $DestinationHostPath) Move-HsmSimulatedModule -Esn $Esn -DestinationHostPath $DestinationHostPath -SimulatorPath $simPath -Confirm:$false }.GetNewClosure()
    }
    It 'changes nothing on either host with -WhatIf' {
        $sa = Snapshot $a; $sb = Snapshot $b
        & "$examples/Move-HsmModuleBetweenHosts.ps1" -Esn $moving -SourceHostPath $a -DestinationHostPath $b -TransferPath $transfer -Passphrase (Secure 'move-it-passphrase') -PhysicalMove $move -WhatIf 6>$null | Out-Null
        Snapshot $a | Should -Be $sa
        Snapshot $b | Should -Be $sb
        Test-Path $transfer | Should -BeFalse
    }
    It 'runs the five steps: the module works on the destination and is gone from the source' {
        $bKeys = (ClientKeys $b).Fingerprint
        $r = & "$examples/Move-HsmModuleBetweenHosts.ps1" -Esn $moving -SourceHostPath $a -DestinationHostPath $b -TransferPath $transfer -Passphrase (Secure 'move-it-passphrase') -PhysicalMove $move -Confirm:$false 6>$null
        $r.Handover.Status | Should -Be 'Released'
        ($r.SourceRefresh | Where-Object Esn -eq $moving).Action | Should -Be 'Dropped'
        $r.DestinationEnroll.Action | Should -Be 'Enrolled'
        # destination: works, listed, same client keys as before
        Test-HsmConnection -HostPath $b -Esn $moving | Should -BeTrue
        Test-HsmConnection -HostPath $b | Should -BeTrue
        (Get-HsmModule -HostPath $b -Esn $moving).Enrolled | Should -BeTrue
        (ClientKeys $b).Fingerprint | Should -Be $bKeys
        # source: gone from the list and from the pins, the other module still works
        (Get-HsmModule -HostPath $a -Offline).Esn | Should -Not -Contain $moving
        Get-HsmSshKey -HostPath $a -Esn $moving -Role Server -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Test-HsmConnection -HostPath $a | Should -BeTrue
        (Get-HsmModule -HostPath $a).Esn | Should -Be @($staying)
        Test-Path $transfer | Should -BeFalse -Because 'the transfer file holds the destination''s private key'
    }
    It 'refuses a module the source does not have, before changing anything' {
        $sa = Snapshot $a
        { & "$examples/Move-HsmModuleBetweenHosts.ps1" -Esn $moving -SourceHostPath $a -DestinationHostPath $b -TransferPath $transfer -Passphrase (Secure 'x') -PhysicalMove $move -Confirm:$false 6>$null } | Should -Throw "*$moving is not enrolled with the source*"
        Snapshot $a | Should -Be $sa
    }
}

Describe 'Runbook Restore-HsmHostFromBackup' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Restart-HsmHardserver -HostPath $h -Confirm:$false | Out-Null
        $backup = Join-Path (New-TestHostPath 'vault') 'sshadmin.key'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'disaster-recovery-7') | Out-Null
        $sshadmin = Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin
    }
    It 'leaves a working host alone' {
        $before = Snapshot $h
        & "$examples/Restore-HsmHostFromBackup.ps1" -HostPath $h -BackupPath $backup -Passphrase (Secure 'disaster-recovery-7') -Confirm:$false 6>$null | Out-Null
        Snapshot $h | Should -Be $before
    }
    It 'changes nothing with -WhatIf after the keys are lost' {
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        Test-HsmConnection -HostPath $h -ErrorAction SilentlyContinue | Should -BeFalse
        $before = Snapshot $h
        & "$examples/Restore-HsmHostFromBackup.ps1" -HostPath $h -BackupPath $backup -Passphrase (Secure 'disaster-recovery-7') -WhatIf 6>$null | Out-Null
        Snapshot $h | Should -Be $before
    }
    It 'fails on a wrong passphrase and changes nothing' {
        $before = Snapshot $h
        { & "$examples/Restore-HsmHostFromBackup.ps1" -HostPath $h -BackupPath $backup -Passphrase (Secure 'wrong') -Confirm:$false 6>$null } | Should -Throw '*passphrase is wrong*'
        Snapshot $h | Should -Be $before
    }
    It 'restores the sshadmin key, new keys for the other services, restarts the hardserver and verifies' {
        $r = & "$examples/Restore-HsmHostFromBackup.ps1" -HostPath $h -BackupPath $backup -Passphrase (Secure 'disaster-recovery-7') -Confirm:$false 6>$null
        $r.Status | Should -Be 'Completed'
        (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint | Should -Be $sshadmin.Fingerprint
        @(Get-HsmSshKey -HostPath $h -Role Client).Count | Should -Be 6
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
        @((Get-HsmModule -HostPath $h).Mode) | Should -Be @('Operational', 'Operational')
    }
}
