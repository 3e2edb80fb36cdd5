# Issue 16 (1, 2, 9, 10): pins of enrolled modules, the ServerKeyChanged message, the first-contact prompt and the
# module clock, through the built module against simulated modules over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $script:Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    # Runs $Script (with $Parameters) in a runspace of its own whose host (New-TestPromptHost: records what is
    # written, answers each PromptForChoice from $Answers, -1 or none left: the prompt's own default) answers prompts,
    # so prompts are tested as a person would meet them.
    function Invoke-WithPromptHost([int[]] $Answers, [string] $Script, [hashtable] $Parameters) {
        $promptHost = New-TestPromptHost -Choices $Answers
        $runspace = [runspacefactory]::CreateRunspace($promptHost)
        $runspace.Open()
        try {
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript("param(`$Manifest, `$h, `$esn, `$extra) Import-Module `$Manifest; $Script").AddParameters($Parameters + @{ Manifest = $script:Manifest })
            $output = @($ps.Invoke())
            [pscustomobject]@{
                Output  = $output
                Errors  = @($ps.Streams.Error)
                Prompts = @($promptHost.Recorder.Choices)
                Written = $promptHost.Recorder.Text
            }
        }
        finally { $runspace.Dispose() }
    }


    function Remove-AllTrustedRoots([string] $HostPath) {
        Get-HsmTrustedRoot -HostPath $HostPath | Remove-HsmTrustedRoot -HostPath $HostPath -Confirm:$false
    }
}
AfterAll { Remove-TestHosts }

Describe 'A changed server key of an enrolled module is never re-pinned by Invoke-HsmEnroll' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Remove-AllTrustedRoots $h
        $pinned = (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint
        $replaced = Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey sshadmin -SimulatorPath $sim.Path
        $presented = $replaced.Endpoint('sshadmin').ServerKeyFingerprint
    }
    It 'refuses -AcceptFingerprint with the presented key: ServerKeyChanged, old pin kept, nothing changed' {
        $presented | Should -Not -Be $pinned
        $before = Get-StoreSnapshot $h
        $auditBefore = Get-AuditLines $h
        $r = Invoke-HsmEnroll -HostPath $h -Esn $esn -AcceptFingerprint $presented -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
        $errs[0].CategoryInfo.Category | Should -Be 'SecurityError'
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint | Should -Be $pinned
        @(Get-AuditLines $h | Select-Object -Skip $auditBefore.Count | Where-Object { $_ -match '"pins\.' }) | Should -HaveCount 0
    }
    It 'says what to check and which commands exist, and never offers the presented key to accept' {
        Test-HsmConnection -HostPath $h -Esn $esn -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $record = $errs | Where-Object { $_.FullyQualifiedErrorId -like 'ServerKeyChanged*' } | Select-Object -First 1
        # Issue 21: the message stays one sentence or two; what to check is in ErrorDetails.RecommendedAction.
        $record.Exception.Message | Should -Match ([regex]::Escape($pinned))
        $record.Exception.Message | Should -Match ([regex]::Escape($presented))
        $record.Exception.Message | Should -Match 'RecommendedAction'
        $record.Exception.Message | Should -Not -Match 'Update-HsmServerKeyPin'
        $record.ErrorDetails.Message | Should -Be $record.Exception.Message
        $message = $record.Exception.Message + ' ' + $record.ErrorDetails.RecommendedAction
        $message | Should -Match 'display'
        $message | Should -Match 'factory state'
        $message | Should -Match 'recovery'
        $message | Should -Match "Update-HsmServerKeyPin -Esn $esn"
        $message | Should -Match 'Reset-HsmModule'
        $message | Should -Match 'Invoke-HsmEnroll'
        $message | Should -Match 'trusted root'
        $message | Should -Not -Match "AcceptFingerprint\s+'?SHA256"
        $message | Should -Not -Match ([regex]::Escape("-AcceptFingerprint '$presented'"))
    }
    It 'refuses at the prompt too: a host answering Yes to All is never asked and nothing is pinned' {
        $before = Get-StoreSnapshot $h
        $run = Invoke-WithPromptHost -Answers @(1, 1, 1) -Script 'Invoke-HsmEnroll -HostPath $h -Esn $esn' -Parameters @{ h = $h; esn = $esn }
        $run.Prompts | Should -HaveCount 0
        $run.Output | Should -BeNullOrEmpty
        $run.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
        Get-StoreSnapshot $h | Should -Be $before
    }
}

Describe 'An impostor in factory state at an enrolled module''s address (no trusted root)' {
    It 'is not pinned by -AcceptFingerprint nor by Yes to All at the prompt: ServerKeyChanged, old pins kept, nothing changed' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Remove-AllTrustedRoots $h
        # The attacker's device: a factory-state module that claims the victim's ESN, reached where the victim was
        # (as a network redirect would; here by pointing the registration at its ports).
        $impostorPath = Join-Path ([IO.Path]::GetTempPath()) ("nshield-impostor-" + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $impostor = Start-HsmSimulator -ModuleCount 1 -NoHost -SimulatorPath $impostorPath
        try {
            $fake = $impostor.Modules[0]
            $state = Join-Path $fake.ModuleDir 'state.json'
            (Get-Content $state -Raw) -replace [regex]::Escape($fake.Esn), $esn | Set-Content $state -NoNewline
            $ports = @{}; foreach ($e in $fake.Endpoints) { $ports[$e.Service] = $e.Port }
            Register-HsmModule -HostPath $h -Esn $esn -Address 127.0.0.1 -User ([Environment]::UserName) -Port $ports -Force -Confirm:$false | Out-Null
            $pins = Get-PinLines $h
            $before = Get-StoreSnapshot $h
            $fingerprint = $fake.Endpoint('sshadmin').ServerKeyFingerprint

            Invoke-HsmEnroll -HostPath $h -Esn $esn -AcceptFingerprint $fingerprint -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
            $errs[0].Exception.Message | Should -Not -Match ([regex]::Escape("-AcceptFingerprint '$fingerprint'"))

            $run = Invoke-WithPromptHost -Answers @(1, 1) -Script 'Invoke-HsmEnroll -HostPath $h -Esn $esn' -Parameters @{ h = $h; esn = $esn }
            $run.Output | Should -BeNullOrEmpty
            $run.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'

            Get-PinLines $h | Should -Be $pins
            Get-StoreSnapshot $h | Should -Be $before
            (Get-Content (Join-Path $fake.ModuleDir 'services/sshadmin/authorized_keys') -Raw) | Should -Match 'nshield-sim-default|AAAAC3NzaC1lZDI1NTE5AAAAIFEANbmMjjz4XF0kDorT3DRF3ZEfMLoD38at/gUE00nl'
        }
        finally { Stop-HsmSimulator -Path $impostorPath -ErrorAction SilentlyContinue; Remove-Item $impostorPath -Recurse -Force -ErrorAction SilentlyContinue }
    }
}

Describe 'A reset module whose new keys no trusted root vouches for' {
    It 'is not re-pinned through -AcceptFingerprint after the recovery button (no trusted root)' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Remove-AllTrustedRoots $h
        $pins = Get-PinLines $h
        $reset = Set-HsmSimulatedModule -Esn $esn -PressRecoveryButton -SimulatorPath $sim.Path
        $fingerprint = $reset.Endpoint('sshadmin').ServerKeyFingerprint
        Invoke-HsmEnroll -HostPath $h -Esn $esn -AcceptFingerprint $fingerprint -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
        $errs[0].Exception.Message | Should -Match 'no trusted vendor root'
        Get-PinLines $h | Should -Be $pins
    }
    It 'is re-pinned by Invoke-HsmEnroll when a trusted root verifies the chain (factory state)' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $old = (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint
        $reset = Set-HsmSimulatedModule -Esn $esn -PressRecoveryButton -SimulatorPath $sim.Path
        $r = Invoke-HsmEnroll -HostPath $h -Esn $esn -WarningAction SilentlyContinue
        $r.Action | Should -Be 'Enrolled'
        $r.ServerKeyVerification | Should -Be 'Certificate'
        $new = (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint
        $new | Should -Not -Be $old
        $new | Should -Be $reset.Endpoint('sshadmin').ServerKeyFingerprint
    }
}

Describe 'Update-HsmServerKeyPin' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        $other = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Remove-AllTrustedRoots $h
        $pinned = (Get-HsmSshKey -HostPath $h -Esn $esn -Service ncoreapi).Fingerprint
        $presented = (Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path).Endpoint('ncoreapi').ServerKeyFingerprint
    }
    It 'changes nothing with -WhatIf' {
        $before = Get-StoreSnapshot $h
        Update-HsmServerKeyPin -HostPath $h -Esn $esn -WhatIf | Should -BeNullOrEmpty
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'shows old and new fingerprints when asked, and re-pins nothing when the answer is No' {
        $before = Get-StoreSnapshot $h
        $run = Invoke-WithPromptHost -Answers @(1) -Script 'Update-HsmServerKeyPin -HostPath $h -Esn $esn' -Parameters @{ h = $h; esn = $esn }
        $run.Prompts | Should -HaveCount 1
        $run.Prompts[0].Labels | Should -Be @('&Yes', '&No')
        $run.Prompts[0].Message | Should -Match ([regex]::Escape($pinned))
        $run.Prompts[0].Message | Should -Match ([regex]::Escape($presented))
        $run.Prompts[0].Message | Should -Match 'ncoreapi\s+CHANGED'
        $run.Output | Should -BeNullOrEmpty
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'asks twice (ShouldProcess, then ShouldContinue) and stops at No to the second question' {
        $before = Get-StoreSnapshot $h
        $run = Invoke-WithPromptHost -Answers @(0, 1) -Script 'Update-HsmServerKeyPin -HostPath $h -Esn $esn' -Parameters @{ h = $h; esn = $esn }
        $run.Prompts | Should -HaveCount 2
        $run.Prompts[1].Message | Should -Match ([regex]::Escape($presented))
        @($run.Output | Where-Object Repinned) | Should -HaveCount 0
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 're-pins only the changed service with -Confirm:$false, shows old and new, and audits pins.repin' {
        $auditBefore = Get-AuditLines $h
        $rows = Update-HsmServerKeyPin -HostPath $h -Esn $esn -Confirm:$false
        $rows | Should -HaveCount 6
        $row = $rows | Where-Object Service -eq ncoreapi
        $row.OldFingerprint | Should -Be $pinned
        $row.NewFingerprint | Should -Be $presented
        $row.Changed | Should -BeTrue
        $row.Repinned | Should -BeTrue
        $row.Verification | Should -BeLike 'Unverified*'
        @($rows | Where-Object Repinned) | Should -HaveCount 1
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service ncoreapi).Fingerprint | Should -Be $presented
        Test-HsmConnection -HostPath $h -Esn $esn | Should -BeTrue
        $new = @(Get-AuditLines $h | Select-Object -Skip $auditBefore.Count)
        $repin = $new | Where-Object { $_ -match '"pins\.repin"' }
        $repin | Should -HaveCount 1
        $entry = $repin | ConvertFrom-Json
        $entry.detail | Should -Match ([regex]::Escape("old: ncoreapi=$pinned"))
        $entry.detail | Should -Match ([regex]::Escape("new: ncoreapi=$presented"))
        $entry.fingerprints | Should -Be "ncoreapi=$presented"
        @($new | Where-Object { $_ -match '"pins\.set"' }) | Should -HaveCount 1
        ($rows | Format-Table | Out-String -Width 250) | Should -Match 'OldFingerprint\s+NewFingerprint'
    }
    It 'reports nothing changed for a module whose keys match its pins, without asking' {
        $run = Invoke-WithPromptHost -Answers @() -Script 'Update-HsmServerKeyPin -HostPath $h -Esn $esn' -Parameters @{ h = $h; esn = $other }
        $run.Prompts | Should -HaveCount 0
        $run.Output | Should -HaveCount 6
        @($run.Output | Where-Object Changed) | Should -HaveCount 0
    }
    It 'refuses a module this host never pinned, and unknown modules, with typed errors' {
        $fresh = Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path
        Update-HsmServerKeyPin -HostPath $h -Esn $fresh.Esn -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyNotPinned*'
        Update-HsmServerKeyPin -HostPath $h -Esn 'AAAA-BBBB-CCCC' -Confirm:$false -ErrorVariable errs2 -ErrorAction SilentlyContinue | Out-Null
        $errs2[0].FullyQualifiedErrorId | Should -BeLike 'UnknownModule*'
    }
}

Describe 'The first-contact prompt (no trusted root)' {
    BeforeEach {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Remove-AllTrustedRoots $h
        $before = Get-StoreSnapshot $h
    }
    It 'defaults to No: a person pressing Enter at every prompt trusts nothing' {
        $run = Invoke-WithPromptHost -Answers @() -Script 'Invoke-HsmEnroll -HostPath $h' -Parameters @{ h = $h }
        $run.Prompts | Should -HaveCount 2
        foreach ($p in $run.Prompts) {
            $p.Labels[$p.Default] | Should -Be '&No'
            $p.Labels | Should -Contain 'Yes to &All'
            $p.Labels | Should -Contain 'No to A&ll'
        }
        $run.Output | Should -BeNullOrEmpty
        @($run.Errors | Where-Object { $_.FullyQualifiedErrorId -like 'FingerprintNotConfirmed*' }) | Should -HaveCount 2
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmModule -HostPath $h).Mode | Sort-Object -Unique | Should -Be 'FactoryState'
    }
    It 'names each module by ESN and address, shows every fingerprint before asking, and Yes to All enrolls them' {
        $run = Invoke-WithPromptHost -Answers @(1) -Script 'Invoke-HsmEnroll -HostPath $h' -Parameters @{ h = $h }
        $run.Prompts | Should -HaveCount 1
        foreach ($m in $sim.Modules) {
            $run.Prompts[0].Message | Should -Match ([regex]::Escape("$($m.Esn) at 127.0.0.1:$($m.Endpoint('sshadmin').Port)"))
            foreach ($e in $m.Endpoints) { $run.Prompts[0].Message | Should -Match ([regex]::Escape($e.ServerKeyFingerprint)) }
        }
        $first = $sim.Modules | Sort-Object Esn | Select-Object -First 1
        $run.Prompts[0].Message | Should -Match ([regex]::Escape("$($first.Esn) at 127.0.0.1:$($first.Endpoint('sshadmin').Port)"))
        @($run.Output | Where-Object Action -eq 'Enrolled') | Should -HaveCount 2
        $run.Output.ServerKeyVerification | Sort-Object -Unique | Should -Be 'Fingerprint'
    }
    It 'enrolls only the modules answered Yes; No to All stops asking' {
        $run = Invoke-WithPromptHost -Answers @(0, 3) -Script 'Invoke-HsmEnroll -HostPath $h' -Parameters @{ h = $h }
        $run.Prompts | Should -HaveCount 2
        @($run.Output | Where-Object Action -eq 'Enrolled') | Should -HaveCount 1
        @($run.Errors | Where-Object { $_.FullyQualifiedErrorId -like 'FingerprintNotConfirmed*' }) | Should -HaveCount 1
    }
    It 'never trusts silently in a session that cannot prompt' {
        Invoke-HsmEnroll -HostPath $h -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'FingerprintNotConfirmed*' }) | Should -HaveCount 2
        Get-StoreSnapshot $h | Should -Be $before
    }
}

Describe 'A module whose clock is invalid' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Set-HsmSimulatedModule -Esn $esn -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
    }
    It 'is refused up front by a key roll: ModuleClockInvalid naming Recovery mode, nothing changed on host or modules' {
        $before = Get-StoreSnapshot $h
        $client = (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint
        $err = $null
        try { Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        $err.Exception.Message | Should -Match 'Recovery mode'
        $err.TargetObject | Should -Be $esn
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint | Should -Be $client
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'is refused up front by a restore: ModuleClockInvalid before the host''s sshadmin key is replaced' {
        $backup = Join-Path (New-TestHostPath 'backup') 'sshadmin.bak'
        $pass = ConvertTo-SecureString 'clock backup' -AsPlainText -Force
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase $pass | Out-Null
        $before = Get-StoreSnapshot $h
        $err = $null
        try { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase $pass -Confirm:$false -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        $err.TargetObject | Should -Be $esn
        Get-StoreSnapshot $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
    }
    It 'is refused by a factory reset, which keeps the pins and the module enrolled' {
        $before = Get-StoreSnapshot $h
        Reset-HsmModule -HostPath $h -Esn $esn -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        Get-StoreSnapshot $h | Should -Be $before
        Test-HsmConnection -HostPath $h -Esn $esn | Should -BeTrue
    }
    It 'is not enrolled from factory state, and nothing is pinned' {
        $fresh = Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path
        Set-HsmSimulatedModule -Esn $fresh.Esn -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
        Invoke-HsmEnroll -HostPath $h -Esn $fresh.Esn -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $fresh.Esn | Should -BeNullOrEmpty
        Set-HsmSimulatedModule -Esn $fresh.Esn -InvalidClock $false -SimulatorPath $sim.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $h -Esn $fresh.Esn).Action | Should -Be 'Enrolled'
    }
    It 'is enrolled in Recovery mode, where the clock is set' {
        $recovered = Set-HsmSimulatedModule -Esn $esn -PressRecoveryButton -SimulatorPath $sim.Path
        Set-HsmSimulatedModule -Esn $esn -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $h -Esn $esn -WarningAction SilentlyContinue).Action | Should -Be 'Enrolled'
    }
}
