# Issue 16: a hostile module (Set-HsmSimulatedModule -Hostile) gets a typed error, changes nothing on the host,
# and never locks the host out. SlowDrip is covered by xUnit (HostileModuleTests) with a short command timeout.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
}
AfterAll { Remove-TestHosts }

Describe 'A hostile module' {
    It 'answering <Mode> is refused at first contact with <Id>, and nothing is pinned or written' -ForEach @(
        @{ Mode = 'OversizedReply'; Id = 'ReplyTooLarge' }
        @{ Mode = 'EndlessReply'; Id = 'ReplyTooLarge' }
        @{ Mode = 'WrongProtocol'; Id = 'ProtocolVersionUnsupported' }
        @{ Mode = 'MalformedJson'; Id = 'ProtocolError' }
        @{ Mode = 'MistypedJson'; Id = 'ProtocolError' }
    ) {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Set-HsmSimulatedModule -Esn $esn -Hostile $Mode -SimulatorPath $sim.Path | Out-Null
        $before = Get-StoreSnapshot $h
        $r = Invoke-HsmEnroll -HostPath $h -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        $errs[0].TargetObject | Should -Be $esn
        Get-StoreSnapshot $h | Should -Be $before
        Set-HsmSimulatedModule -Esn $esn -ClearFaults -SimulatorPath $sim.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $h).Action | Should -Be 'Enrolled'
    }

    It 'turning hostile during a key roll does not lock the host out; the rerun completes' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $b = $sim.Modules[1].Esn
        $before = @((Get-HostKeys $h).Values)
        Set-HsmSimulatedModule -Esn $b -Hostile MistypedJson -SimulatorPath $sim.Path | Out-Null
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        # b garbles every reply: wherever the roll meets it first (its identity before installing, or its key list while
        # cleaning up after the switch), the roll stops Incomplete with a ProtocolError for b, and no module is locked out.
        $r.Status | Should -Be 'Incomplete'
        $ids = @($errs | ForEach-Object { $_.FullyQualifiedErrorId.Split(',')[0] })
        $ids | Should -Contain 'ProtocolError' -Because 'the hostile reply was received (the fault fired)'
        @($ids | Where-Object { $_ -notin 'ProtocolError', 'RollIncomplete' }).Count | Should -Be 0
        $r.ModulesPending | Should -Contain $b -Because 'b was not brought to the new keys'
        Test-HsmConnection -HostPath $h -Esn $sim.Modules[0].Esn | Should -BeExactly $true
        Set-HsmSimulatedModule -Esn $b -Hostile None -SimulatorPath $sim.Path | Out-Null
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        (Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h $sim.Modules.Esn -Gone $before
    }
}
