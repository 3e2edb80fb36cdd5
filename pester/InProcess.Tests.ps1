# Issue 13: the simulator's in-process transport (no SSH at all: the engine calls the module firmware directly), on its
# own and named so. Every other suite requests real SSH and fails without sshd; this short smoke shows that runbooks
# tested where sshd is missing still drive the product's enroll, roll and test through the same firmware.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $sim = Start-TestSimulator -ModuleCount 2 -Transport InProcess
    $h = $sim.HostPath
    $esns = $sim.Modules.Esn
}
AfterAll { Remove-TestHosts }

Describe 'In-process transport (no SSH): enroll, roll, test' {
    It 'runs in process: modules registered for the inprocess transport, no sshd endpoint' {
        $sim.Transport | Should -Be 'InProcess'
        @((Get-HsmSimulator -Path $sim.Path).Modules.Transport) | Should -Be @('InProcess', 'InProcess')
        @((Get-HsmSimulator -Path $sim.Path).Modules.Endpoints.Port | Where-Object { $_ -ne 0 }) | Should -HaveCount 0
        @((Get-HsmModule -HostPath $h -Offline).Transport) | Should -Be @('inprocess', 'inprocess')
    }
    It 'enrolls every module; the modules hold exactly the host''s keys' {
        @((Invoke-HsmEnroll -HostPath $h).Action) | Should -Be @('Enrolled', 'Enrolled')
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h $esns
    }
    It 'rolls every key; the old ones are gone from every module' {
        $before = @((Get-HostKeys $h).Values)
        (Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h $esns -Gone $before
    }
    It 'reports a module that refuses connections as ServiceNotRunning' {
        Set-HsmSimulatedModule -Esn $esns[1] -Refuse $true -SimulatorPath $sim.Path | Out-Null
        try {
            Test-HsmConnection -HostPath $h -Esn $esns[1] -Service sshadmin -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeExactly $false
            @($errs | ForEach-Object { $_.FullyQualifiedErrorId.Split(',')[0] }) | Should -Be @('ServiceNotRunning')
        }
        finally { Set-HsmSimulatedModule -Esn $esns[1] -Refuse $false -SimulatorPath $sim.Path | Out-Null }
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
    }
}
