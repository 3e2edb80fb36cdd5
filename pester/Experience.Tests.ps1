# Issue 6: how the module feels in a shell: completion, JSON, errors, -WhatIf, Ctrl+C.
BeforeDiscovery {
    # Protection S needs this machine's SMBIOS system UUID, which VMs and containers often lack (or hide from
    # non-root). Looked at directly, not through the module, to pick the test that applies here.
    $script:hasSystemUuid = if ($IsLinux) {
        $uuid = try { (Get-Content /sys/class/dmi/id/product_uuid -Raw -ErrorAction Stop).Trim() } catch { '' }
        $uuid.Length -ge 8 -and ($uuid -replace '[-0fF]', '').Length -gt 0
    }
    else { $true }
}
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $manifest -Force
    Import-Module (Join-Path (Split-Path $manifest) 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $sim = Start-TestSimulator -ModuleCount 2
    $h = $sim.HostPath
    $enrollResults = @(Invoke-HsmEnroll -HostPath $h)
    function Complete([string] $line) { (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText }
}
AfterAll { Remove-TestHosts }

Describe 'Tab completion' {
    It 'completes ESNs from the host''s modules' {
        $esn = $sim.Modules[0].Esn
        Complete "Test-HsmConnection -HostPath '$h' -Esn $($esn.Substring(0, 3))" | Should -Contain $esn
        Complete "Get-HsmSshKey -HostPath '$h' -Esn " | Should -HaveCount 2
    }
    It 'completes services, algorithms and protection flags' {
        Complete 'Get-HsmSshKey -Service nc' | Should -Be 'ncoreapi'
        Complete 'Update-HsmSshKey -Algorithm Ecdsa' | Should -Be @('EcdsaP256', 'EcdsaP384', 'EcdsaP521')
        Complete 'Update-HsmSshKey -Protection KF' | Should -Contain 'KFG'
    }
}

Describe 'Objects in the pipeline' {
    It 'serialise cleanly to JSON without private material (<_>)' -ForEach @('Get-HsmSshKey', 'Get-HsmModule', 'Test-HsmConnection -Detailed', 'Get-HsmTrustedRoot') {
        $json = Invoke-Expression "$_ -HostPath '$h'" | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
        $json | Should -Not -BeNullOrEmpty
        { $json | ConvertFrom-Json } | Should -Not -Throw
        $json | Should -Not -Match 'PRIVATE KEY'
    }
    # List views (no types file, so the import does not build the session's type table): Format-List shows these.
    It 'Format-List shows the result''s chosen properties (<Type>)' -ForEach @(
        @{ Type = 'HsmEnrollResult'; Labels = 'Esn', 'Action', 'Mode', 'ServerKeyVerification', 'Message' }
        @{ Type = 'HsmConnectionTestResult'; Labels = 'Esn', 'Service', 'PinMatches', 'Authenticated', 'Success', 'ErrorId' }
    ) {
        $objects = if ($Type -eq 'HsmEnrollResult') { $enrollResults } else { Test-HsmConnection -HostPath $h -Detailed }
        $objects[0].PSObject.TypeNames[0] | Should -Be "NShield.HsmAdmin.Operations.$Type"
        $text = $objects[0] | Format-List | Out-String -Width 250
        $shown = @([regex]::Matches($text, '(?m)^(\w+)\s*:') | ForEach-Object { $_.Groups[1].Value })
        $shown | Should -Be $Labels
    }
    It 'bind down the pipeline by property name' {
        $r = Get-HsmModule -HostPath $h | Test-HsmConnection -HostPath $h -Detailed
        $r | Should -HaveCount 12
        (Get-HsmModule -HostPath $h | Select-Object -First 1 | Get-HsmSshKey -HostPath $h) | Should -HaveCount 6
    }
}

Describe 'Errors' {
    It 'carry a stable id, the category and the module as target' {
        Get-HsmModule -HostPath $h -Esn 'AAAA-BBBB-CCCC' -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -Be 'UnknownModule,NShield.HsmAdmin.Commands.GetHsmModuleCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].TargetObject | Should -Be 'AAAA-BBBB-CCCC'
    }
    It 'for bad input change nothing: <Case>' -ForEach @(
        @{ Case = 'missing backup file'; Command = { Restore-HsmSshKey -HostPath $h -Path (Join-Path $h 'nope.bak') -Confirm:$false -ErrorAction Stop }; Id = 'KeyFileNotFound' }
        @{ Case = 'unknown service'; Command = { Update-HsmSshKey -HostPath $h -Service bogus -Confirm:$false -ErrorAction Stop }; Id = 'UnknownService' }
        @{ Case = 'unknown algorithm'; Command = { Update-HsmSshKey -HostPath $h -Algorithm dsa -Confirm:$false -ErrorAction Stop }; Id = 'InvalidAlgorithm' }
        @{ Case = 'bad protection letters'; Command = { Update-HsmSshKey -HostPath $h -Protection KXZ -Confirm:$false -ErrorAction Stop }; Id = 'InvalidProtection' }
        @{ Case = 'protection input this machine lacks'; Command = { Update-HsmSshKey -HostPath $h -Service setup -Protection KFS -Confirm:$false -ErrorAction Stop }; Id = 'ProtectionInputUnavailable'; Skip = $hasSystemUuid }
        @{ Case = 'bad ESN'; Command = { Reset-HsmModule -HostPath $h -Esn 'zz' -Confirm:$false -ErrorAction Stop }; Id = 'InvalidEsn' }
    ) {
        if ($Skip) { Set-ItResult -Skipped -Because 'this machine has a system UUID, so S is not an input it lacks' }
        $before = Get-StoreSnapshot $h
        $Command | Should -Throw -ErrorId "$Id*"
        Get-StoreSnapshot $h | Should -Be $before
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}

Describe 'Protection S on a machine with a system UUID' {
    It 'protects a client key with S, then goes back to the default' -Skip:(-not $hasSystemUuid) {
        Update-HsmSshKey -HostPath $h -Service setup -Protection KFS -Confirm:$false | Out-Null
        @((Get-HsmSshKey -HostPath $h -Service setup -Role Client).Protection) | Should -Be @('KFS')
        Test-HsmConnection -HostPath $h | Should -BeTrue
        Update-HsmSshKey -HostPath $h -Service setup -Protection KFG -Confirm:$false | Out-Null
        @((Get-HsmSshKey -HostPath $h -Service setup -Role Client).Protection) | Should -Be @('KFG')
    }
}

Describe 'Ctrl+C during a key roll' {
    # Deterministic: every module answers each command only after 3 s (the delay fault), and the stop is sent as soon
    # as the roll has written its journal, before its first module command can have been answered. No sleep decides.
    It 'stops inside the roll: the journal stays open, the host keeps its old keys, every module accepts them; the rerun completes' {
        $before = Get-HostKeys $h
        $journal = Join-Path $h 'roll-journal.json'
        Test-Path $journal | Should -BeFalse
        foreach ($m in $sim.Modules) { Set-HsmSimulatedModule -Esn $m.Esn -DelayMs 3000 -SimulatorPath $sim.Path | Out-Null }
        try {
            ((Get-HsmSimulator -Path $sim.Path).Modules.DelayMs | Where-Object { $_ -eq 3000 }) | Should -HaveCount 2
            $ps = [powershell]::Create()
            $null = $ps.AddScript("Import-Module '$manifest'; Update-HsmSshKey -HostPath '$h' -Confirm:`$false")
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not (Test-Path $journal) -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 10 }
            $async.IsCompleted | Should -BeFalse -Because 'the roll must still be running when it is stopped'
            Test-Path $journal | Should -BeTrue
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            { $ps.EndInvoke($async) } | Should -Throw -ExceptionType ([System.Management.Automation.MethodInvocationException])
            $ps.InvocationStateInfo.Reason | Should -BeOfType ([System.Management.Automation.PipelineStoppedException])
            # PowerShell takes no error record from a pipeline that is stopping (WriteError throws), so the engine's
            # Cancelled error cannot reach the caller: what the user sees is the pipeline stopped, with nothing output.
            $ps.Streams.Error | Should -HaveCount 0
            $ps.Dispose()
        }
        finally { foreach ($m in $sim.Modules) { Set-HsmSimulatedModule -Esn $m.Esn -DelayMs 0 -SimulatorPath $sim.Path | Out-Null } }
        Test-Path $journal | Should -BeTrue -Because 'the interrupted roll is left journaled for the next run'
        (Get-Content $journal -Raw | ConvertFrom-Json).Phase | Should -Be 'Installing'
        $now = Get-HostKeys $h
        foreach ($svc in $before.Keys) { $now[$svc] | Should -Be $before[$svc] -Because 'the host had not switched yet' }
        Test-HsmConnection -HostPath $h | Should -BeExactly $true -Because 'every module accepts the old keys'
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        Test-Path $journal | Should -BeFalse
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn -Gone @($before.Values)
    }
}
