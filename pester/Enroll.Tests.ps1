# Issue 4: from a new module to a trusted, working host, against the simulator over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
}
AfterAll { Remove-TestHosts }

Describe 'Invoke-HsmEnroll on one factory-state module' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        $result = Invoke-HsmEnroll -HostPath $h
    }
    It 'enrolls it, trusting its server keys through the vendor certificate chain' {
        $result.Esn | Should -Be $esn
        $result.Action | Should -Be 'Enrolled'
        $result.ServerKeyVerification | Should -Be 'Certificate'
        $result.ServicesVerified | Should -HaveCount 6
    }
    It 'creates one client key per service and pins one server key per service' {
        $keys = Get-HsmSshKey -HostPath $h
        @($keys | Where-Object Role -eq 'Client') | Should -HaveCount 6
        @($keys | Where-Object { $_.Role -eq 'Server' -and $_.Esn -eq $esn }) | Should -HaveCount 6
        $keys | ForEach-Object { $_.Fingerprint | Should -Match '^SHA256:[A-Za-z0-9+/]{43}$' }
        @(($keys | Where-Object Role -eq 'Client').Protection) | Should -Be @('KFG', 'KFG', 'KFG', 'KFG', 'KFG', 'KFG')
    }
    It 'pins exactly the server key each endpoint presents to the real ssh-keyscan' {
        $pins = Get-HsmSshKey -HostPath $h -Role Server
        foreach ($endpoint in $sim.Modules[0].Endpoints) {
            $scanned = (ssh-keyscan -t ed25519 -p $endpoint.Port 127.0.0.1 2>$null) -split ' '
            $pin = ($pins | Where-Object Service -eq $endpoint.Service).PublicKey -split ' '
            $scanned[2] | Should -Be $pin[1] -Because "the $($endpoint.Service) endpoint presents the pinned key"
        }
    }
    It 'writes a known_hosts file the real ssh client accepts for the pinned keys' {
        $port = $sim.Modules[0].Endpoint('sshadmin').Port
        # BatchMode: no key to log in with, so ssh stops after the host key check; a failed check says so.
        $out = ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$h/known_hosts" `
            -o HostKeyAlias="nshield-$esn-sshadmin" -o IdentitiesOnly=yes -o IdentityFile=/dev/null -p $port probe@127.0.0.1 identity 2>&1
        ($out -join "`n") | Should -Not -Match 'HOST IDENTIFICATION HAS CHANGED|Host key verification failed'
        ($out -join "`n") | Should -Match 'Permission denied'
    }
    It 'proves every channel with Test-HsmConnection' {
        Test-HsmConnection -HostPath $h | Should -BeTrue
        $detail = Test-HsmConnection -HostPath $h -Detailed
        $detail | Should -HaveCount 6
        $detail | ForEach-Object { $_.Success | Should -BeTrue; $_.PinMatches | Should -BeTrue }
    }
    It 'shows the module as enrolled and operational' {
        $m = Get-HsmModule -HostPath $h
        $m.Esn | Should -Be $esn
        $m.Mode | Should -Be 'Operational'
        $m.Enrolled | Should -BeTrue
    }
    It 'changes nothing when run again' {
        $before = Get-StoreSnapshot $h
        $again = Invoke-HsmEnroll -HostPath $h
        $again.Action | Should -Be 'NoAction'
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'never shows private key material' {
        $text = (Get-HsmSshKey -HostPath $h | Format-List * | Out-String) + (Get-HsmSshKey -HostPath $h | ConvertTo-Json)
        $text | Should -Not -Match 'PRIVATE KEY'
        Get-Content "$h/audit.log" -Raw | Should -Not -Match 'PRIVATE KEY'
    }
    It 'keeps private key files owner-only' {
        Get-ChildItem "$h/client-keys" -Filter *.key | ForEach-Object { (stat -c '%a' $_.FullName) | Should -Be '600' }
    }
}

Describe 'Invoke-HsmEnroll across several modules' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 3
        $h = $sim.HostPath
        $first = Invoke-HsmEnroll -HostPath $h -ThrottleLimit 3
    }
    It 'enrolls all of them, one result each' {
        $first | Should -HaveCount 3
        @($first.Action) | Should -Be @('Enrolled', 'Enrolled', 'Enrolled')
        ($first.Esn | Sort-Object) | Should -Be ($sim.Modules.Esn | Sort-Object)
    }
    It 'installs the same client keys on every module' {
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Test-HsmConnection -HostPath $h -Detailed | Where-Object Success) | Should -HaveCount 18
    }
    It 'gives a module added later the same client keys' {
        $clientBefore = (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint
        $new = Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path
        $results = Invoke-HsmEnroll -HostPath $h
        ($results | Where-Object Esn -eq $new.Esn).Action | Should -Be 'Enrolled'
        @($results | Where-Object Action -eq 'NoAction') | Should -HaveCount 3
        (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint | Should -Be $clientBefore
        Test-HsmConnection -HostPath $h -Esn $new.Esn | Should -BeTrue
    }
    It 'keeps a module that is no longer attached on the list (it still holds the host''s keys) and drops it only with -Forget' {
        $gone = $sim.Modules[0].Esn
        Remove-HsmSimulatedModule -Esn $gone -HostPath $h -SimulatorPath $sim.Path
        $results = Invoke-HsmEnroll -HostPath $h -WarningVariable warn -WarningAction SilentlyContinue
        $results | Where-Object Esn -eq $gone | Should -BeNullOrEmpty
        ($warn -join ' ') | Should -Match ([regex]::Escape($gone))
        (Get-HsmModule -HostPath $h -Offline).Esn | Should -Contain $gone
        $results = Invoke-HsmEnroll -HostPath $h -Esn $gone -Forget -Force -Confirm:$false
        ($results | Where-Object Esn -eq $gone).Action | Should -Be 'Dropped'
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $gone | Should -BeNullOrEmpty
        (Get-HsmModule -HostPath $h -Offline).Esn | Should -Not -Contain $gone
    }
    It 'takes ESNs from the pipeline' {
        $results = Get-HsmModule -HostPath $h | Invoke-HsmEnroll -HostPath $h
        @($results.Action) | Should -Be @('NoAction', 'NoAction', 'NoAction')
    }
}

Describe 'A server key replaced behind the host''s back' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $victim = $sim.Modules[0].Esn
        $other = $sim.Modules[1].Esn
        $pinned = (Get-HsmSshKey -HostPath $h -Esn $victim -Service ncoreapi).Fingerprint
        Set-HsmSimulatedModule -Esn $victim -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path | Out-Null
        $auditBefore = Get-AuditLines $h
    }
    It 'is refused by Test-HsmConnection with a SecurityError that says what and where' {
        $ok = Test-HsmConnection -HostPath $h -ErrorVariable errs -ErrorAction SilentlyContinue
        $ok | Should -BeFalse
        $err = $errs | Where-Object { $_.FullyQualifiedErrorId -like 'ServerKeyChanged*' } | Select-Object -First 1
        $err | Should -Not -BeNullOrEmpty
        $err.CategoryInfo.Category | Should -Be 'SecurityError'
        $err.TargetObject | Should -Be $victim
        $err.Exception.Message | Should -Match ([regex]::Escape($victim))
        $err.Exception.Message | Should -Match 'ncoreapi'
        $err.Exception.Message | Should -Match ([regex]::Escape($pinned))
        $err.ErrorDetails.RecommendedAction | Should -Match 'known_hosts'
    }
    It 'leaves the other services and modules working' {
        $detail = Test-HsmConnection -HostPath $h -Detailed -ErrorAction SilentlyContinue
        @($detail | Where-Object { -not $_.Success }) | Should -HaveCount 1
        Test-HsmConnection -HostPath $h -Esn $other | Should -BeTrue
    }
    It 'is refused by a key roll, which changes nothing on the host' {
        $before = (Get-HsmSshKey -HostPath $h -Role Client -Service ncoreapi).Fingerprint
        Update-HsmSshKey -HostPath $h -Service ncoreapi -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        ($errs.FullyQualifiedErrorId -join ' ') | Should -Match 'ServerKeyChanged'
        (Get-HsmSshKey -HostPath $h -Role Client -Service ncoreapi).Fingerprint | Should -Be $before
        Update-HsmSshKey -HostPath $h -Revert -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    }
    It 'is refused by every cmdlet that talks to the module' {
        Set-HsmSimulatedModule -Esn $victim -ReplaceServerKey sshadmin -SimulatorPath $sim.Path | Out-Null
        Get-HsmModule -HostPath $h -Esn $victim -ErrorVariable e1 -ErrorAction SilentlyContinue | Out-Null
        Invoke-HsmEnroll -HostPath $h -Esn $victim -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
        Reset-HsmModule -HostPath $h -Esn $victim -Confirm:$false -ErrorVariable e3 -ErrorAction SilentlyContinue | Out-Null
        foreach ($e in @($e1, $e2, $e3)) {
            ($e.FullyQualifiedErrorId -join ' ') | Should -Match 'ServerKeyChanged'
            ($e.CategoryInfo.Category | Select-Object -First 1) | Should -Be 'SecurityError'
        }
        # The module kept every key (nothing was sent after the refusal) and the host kept its pins.
        (Get-HsmSshKey -HostPath $h -Esn $victim -Role Server) | Should -HaveCount 6
        (Get-HsmModule -HostPath $h -Esn $other).Enrolled | Should -BeTrue
    }
}

Describe 'Enrollment that must not happen' {
    It 'does not enroll a factory-state module whose server key fails the certificate check' {
        $sim = Start-TestSimulator -ModuleCount 1
        $esn = $sim.Modules[0].Esn
        Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey setup -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-HsmEnroll -HostPath $sim.HostPath -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'CertificateInvalid*'
        $errs[0].CategoryInfo.Category | Should -Be 'SecurityError'
        Get-HsmSshKey -HostPath $sim.HostPath -Role Server | Should -BeNullOrEmpty
        (Get-HsmModule -HostPath $sim.HostPath).Mode | Should -Be 'FactoryState'
    }
    It 'without a trusted root and without confirmation, changes nothing; -AcceptFingerprint then enrolls' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Get-HsmTrustedRoot -HostPath $h | Remove-HsmTrustedRoot -HostPath $h -Confirm:$false
        $before = Get-StoreSnapshot $h
        $r = Invoke-HsmEnroll -HostPath $h -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'FingerprintNotConfirmed*'
        $fingerprint = $sim.Modules[0].Endpoint('sshadmin').ServerKeyFingerprint
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($fingerprint))
        # The command it suggests is whole: this host, this module, this fingerprint (copied, it acts here).
        $errs[0].Exception.Message | Should -Match ([regex]::Escape("Invoke-HsmEnroll -HostPath '$h' -Esn $($sim.Modules[0].Esn) -AcceptFingerprint '$fingerprint'"))
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmModule -HostPath $h).Mode | Should -Be 'FactoryState'

        $ok = Invoke-HsmEnroll -HostPath $h -AcceptFingerprint $fingerprint
        $ok.Action | Should -Be 'Enrolled'
        $ok.ServerKeyVerification | Should -Be 'Fingerprint'
    }
    It 'gives typed errors for bad ESNs and modules that are not attached' {
        $sim = Start-TestSimulator -ModuleCount 1
        { Invoke-HsmEnroll -HostPath $sim.HostPath -Esn 'not-an-esn' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidEsn*'
        Invoke-HsmEnroll -HostPath $sim.HostPath -Esn 'AAAA-BBBB-CCCC' -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'UnknownModule*'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
    It 'supports -WhatIf without changing anything' {
        $sim = Start-TestSimulator -ModuleCount 1
        $before = Get-StoreSnapshot $sim.HostPath
        Invoke-HsmEnroll -HostPath $sim.HostPath -WhatIf | Should -BeNullOrEmpty
        Get-StoreSnapshot $sim.HostPath | Should -Be $before
    }
}
