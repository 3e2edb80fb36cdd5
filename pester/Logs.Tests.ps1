# Issue 12: Get-HsmLog (hsmadmin logs) over real SSH: the module's own log of the commands it served, read over its
# monitor channel, with the host's key fingerprints; -Tail and -Since; the verb refused elsewhere; the log bounded.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $defaultCredential = 'SHA256:BU1c++RVEjJ4gSb4y9HkOVGHsDHlhOR7+jSm0Fl2mLY'

    $sim = Start-TestSimulator -ModuleCount 1
    $h = $sim.HostPath
    $a = $sim.Modules[0].Esn
    Invoke-HsmEnroll -HostPath $h | Out-Null
    $enrolledKeys = Get-HostKeys $h
    $roll = Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue
    $rolledKeys = Get-HostKeys $h
    $full = @(Get-HsmLog -HostPath $h)

    # A second host: one module enrolled, one left in factory state.
    $sim2 = Start-TestSimulator -ModuleCount 2
    $h2 = $sim2.HostPath
    $c = $sim2.Modules[0].Esn; $d = $sim2.Modules[1].Esn
    Invoke-HsmEnroll -HostPath $h2 -Esn $c | Out-Null
}
AfterAll { Remove-TestHosts }

Describe 'Get-HsmLog' {
    It 'shows the enroll and the roll, with the keys that did them, as typed entries' {
        $roll.Status | Should -Be 'Completed'
        Assert-ModulesHoldHostKeys $sim
        $full.Count | Should -BeGreaterThan 5
        $full | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'NShield.HsmAdmin.Operations.HsmLogEntry' }
        $full.Esn | Sort-Object -Unique | Should -Be $a
        $full.HostPath | Sort-Object -Unique | Should -Be $h

        $enroll = @($full | Where-Object Verb -eq 'enroll')
        $enroll.Count | Should -Be 1
        $enroll[0].Service | Should -Be 'sshadmin'
        $enroll[0].KeyFingerprint | Should -Be $defaultCredential
        $enroll[0].Outcome | Should -Be 'ok'

        # The roll installs every new key with the old sshadmin key, then works with the new one.
        $adds = @($full | Where-Object Verb -eq 'keys.add')
        $adds.Count | Should -Be 6
        $adds | ForEach-Object { $_.KeyFingerprint | Should -Be $enrolledKeys['sshadmin']; $_.Outcome | Should -Be 'ok'; $_.Service | Should -Be 'sshadmin' }
        @($full | Where-Object { $_.Time -gt $adds[-1].Time -and $_.KeyFingerprint -eq $rolledKeys['sshadmin'] }).Count | Should -BeGreaterThan 0

        # Every key in the log is the default credential or one of this host's keys, old or new.
        $known = @($defaultCredential) + @($enrolledKeys.Values) + @($rolledKeys.Values)
        $full | ForEach-Object { $known | Should -Contain $_.KeyFingerprint }
        # Oldest first.
        for ($i = 1; $i -lt $full.Count; $i++) { $full[$i].Time | Should -BeGreaterOrEqual $full[$i - 1].Time }
    }

    It 'logs its own reads on the monitor service with the host''s monitor key' {
        $again = @(Get-HsmLog -HostPath $h)
        $own = $again[-1]
        $own.Verb | Should -Be 'logs'
        $own.Service | Should -Be 'monitor'
        $own.KeyFingerprint | Should -Be $rolledKeys['monitor']
        $own.Outcome | Should -Be 'ok'
    }

    It '-Tail returns the newest entries only' {
        $before = @(Get-HsmLog -HostPath $h)
        $tail = @(Get-HsmLog -HostPath $h -Tail 3)
        $tail.Count | Should -Be 3
        # The newest two of the earlier read, then that read itself.
        $tail[0].Time | Should -Be $before[-2].Time
        $tail[0].Verb | Should -Be $before[-2].Verb
        $tail[1].Time | Should -Be $before[-1].Time
        $tail[1].Verb | Should -Be $before[-1].Verb
        $tail[2].Verb | Should -Be 'logs'
        $tail[2].Time | Should -BeGreaterOrEqual $before[-1].Time
    }

    It '-Since returns the entries from that time on' {
        $mark = [DateTimeOffset]::UtcNow
        Test-HsmConnection -HostPath $h | Should -BeTrue
        $since = @(Get-HsmLog -HostPath $h -Since $mark)
        $since | ForEach-Object { $_.Time | Should -BeGreaterOrEqual $mark }
        $since.Verb | Should -Not -Contain 'enroll'
        $since.Verb | Should -Not -Contain 'keys.add'
        ($since | Where-Object Verb -eq 'ping').Service | Sort-Object | Should -Be @('launcher', 'monitor', 'ncoreapi', 'setup', 'sshadmin', 'updater')
        $since | Where-Object Verb -eq 'ping' | ForEach-Object { $_.KeyFingerprint | Should -Be $rolledKeys[$_.Service] }
    }

    It '-Tail outside 1..1000 is refused before any module is asked' {
        foreach ($bad in 0, 1001, -1) {
            { Get-HsmLog -HostPath $h -Tail $bad -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        }
    }

    It 'reads modules piped from Get-HsmModule of several hosts, each through its own host' {
        $entries = @(@(Get-HsmModule -HostPath $h) + @(Get-HsmModule -HostPath $h2 -Esn $c) | Get-HsmLog -Tail 1)
        $entries.Count | Should -Be 2
        ($entries | Where-Object Esn -eq $a).HostPath | Should -Be $h
        ($entries | Where-Object Esn -eq $c).HostPath | Should -Be $h2
        # The newest command on each module was done with that host's own keys.
        @((Get-HostKeys $h2).Values) | Should -Contain ($entries | Where-Object Esn -eq $c).KeyFingerprint
        @((Get-HostKeys $h).Values) | Should -Contain ($entries | Where-Object Esn -eq $a).KeyFingerprint
    }

    It 'is refused on a channel other than monitor (E_WRONG_SERVICE, over real SSH)' {
        # The factory-state module accepts the well-known default credential on sshadmin only.
        $m = Get-HsmModule -HostPath $h2 -Esn $d -Offline
        $known = Join-Path (New-TestHostPath 'ssh') 'known_hosts'
        # -n: EOF on stdin at once (logs reads a body until EOF).
        $out = & ssh -n -i (Join-Path $sim2.Path 'factory-credential') -p $m.Ports['sshadmin'] `
            -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o "UserKnownHostsFile=$known" `
            "$($m.User)@127.0.0.1" logs 2>$null
        $LASTEXITCODE | Should -Be 1
        $reply = $out | ConvertFrom-Json
        $reply.ok | Should -BeFalse
        $reply.error.code | Should -Be 'E_WRONG_SERVICE'
        $reply.error.message | Should -Match 'monitor'
    }

    It 'keeps at most twice its safe working capacity: past that (the critical capacity) the oldest entries are lost' {
        Set-HsmSimulatedModule -Esn $c -LogCapacity 3 -SimulatorPath $sim2.Path | Out-Null
        Test-HsmConnection -HostPath $h2 -Esn $c | Should -BeTrue   # six pings
        # -Esn: only $c is read; $d (factory state, not enrolled with $h2) would fail if it were asked.
        $log = @(Get-HsmLog -HostPath $h2 -Esn $c -ErrorVariable logErrors)
        $logErrors | Should -BeNullOrEmpty
        $log.Esn | Sort-Object -Unique | Should -Be $c
        $log.Count | Should -Be 6
        $log.Verb | Sort-Object -Unique | Should -Be 'ping'
        # The module side: its log file holds 6 entries (the read above replaced the oldest ping), and counts what it lost.
        $dir = ((Get-HsmSimulator -Path $sim2.Path).Modules | Where-Object Esn -eq $c).ModuleDir
        $file = Get-Content (Join-Path $dir 'log.json') -Raw | ConvertFrom-Json
        $file.entries.Count | Should -Be 6
        $file.entries[-1].verb | Should -Be 'logs'
        $file.lost | Should -BeGreaterThan 0
    }
}

Describe 'Format views' {
    It 'shows HsmLogEntry as a table with its header' {
        $views = @((Get-FormatData -TypeName 'NShield.HsmAdmin.Operations.HsmLogEntry').FormatViewDefinition)
        @($views | Where-Object { $_.Control -is [System.Management.Automation.TableControl] }).Count | Should -Be 1
        $text = $full | Out-String -Width 250
        $text | Should -Match '(?m)^Esn\s+Time\s+Service\s+Verb\s+Outcome\s+Status\s+KeyFingerprint\s*$'
        $text | Should -Match ([regex]::Escape($a))
    }

    It 'shows HsmModuleKeyInfo as a table with its header' {
        $views = @((Get-FormatData -TypeName 'NShield.HsmAdmin.Operations.HsmModuleKeyInfo').FormatViewDefinition)
        @($views | Where-Object { $_.Control -is [System.Management.Automation.TableControl] }).Count | Should -Be 1
        $keys = @(Get-HsmSshKey -HostPath $h -Module -ErrorVariable keyErrors)
        $keyErrors | Should -BeNullOrEmpty
        $keys | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'NShield.HsmAdmin.Operations.HsmModuleKeyInfo' }
        $text = $keys | Out-String -Width 250
        $text | Should -Match '(?m)^Service\s+State\s+KnownAs\s+Fingerprint\s*$'
        $text | Should -Match ([regex]::Escape($rolledKeys['sshadmin']))
    }
}
