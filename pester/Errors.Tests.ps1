# Issue 13: error ids that no other scenario produces, each produced through the cmdlets and asserted by id
# (tests/NShield.HsmAdmin.Tests/Errors/ErrorIdsCoveredTests.cs fails on any id no test asserts).
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $sim = Start-TestSimulator -ModuleCount 2
    $h = $sim.HostPath
    Invoke-HsmEnroll -HostPath $h | Out-Null
    $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
}
AfterAll { Remove-TestHosts }

Describe 'Error ids of the host store and the simulator' {
    It 'UnknownTrustedRoot: removing a root the host does not have changes nothing' {
        $before = Get-StoreSnapshot $h
        { Remove-HsmTrustedRoot -HostPath $h -Name 'no-such-root' -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownTrustedRoot,*'
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'SimulatorNotFound: Get-HsmSimulator on a folder that holds no simulator' {
        $empty = New-TestHostPath 'no-simulator'
        { Get-HsmSimulator -Path $empty -ErrorAction Stop } | Should -Throw -ErrorId 'SimulatorNotFound,*'
    }
    It 'UnknownFirmwareCommand: a fault on a verb the firmware does not have is refused and arms nothing' {
        { Set-HsmSimulatedModule -Esn $a -FailAt 'keys.frobnicate' -SimulatorPath $sim.Path -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownFirmwareCommand,*'
        Get-PendingFaults $sim $a | Should -Be 0
    }
    It 'SshdNotFound: an SSH simulator without sshd fails, naming the fix, and starts nothing' {
        $saved = $env:NSHIELD_HSMADMIN_SSHD
        $env:NSHIELD_HSMADMIN_SSHD = Join-Path (New-TestHostPath 'no-sshd') 'sshd'
        try {
            $root = Join-Path (New-TestHostPath 'sim-root') 'sim'
            { Start-HsmSimulator -ModuleCount 1 -NoHost -Transport Ssh -SimulatorPath $root -ErrorAction Stop } | Should -Throw -ErrorId 'SshdNotFound,*'
            try { Start-HsmSimulator -ModuleCount 1 -NoHost -Transport Ssh -SimulatorPath $root -ErrorAction Stop } catch { $_.Exception.Message | Should -Match 'openssh-server' }
        }
        finally { if ($null -eq $saved) { Remove-Item Env:NSHIELD_HSMADMIN_SSHD } else { $env:NSHIELD_HSMADMIN_SSHD = $saved } }
    }
}

Describe 'UnexpectedError: a bug in one module''s job' {
    It 'is reported for that module as UnexpectedError; the other modules go on' {
        # Test-only transport whose OpenAsync throws an InvalidOperationException (out/testhooks, never shipped).
        $hooks = Join-Path $repo 'out/testhooks'
        $assembly = [NShield.HsmAdmin.Loader.ModuleLoader]::LoadExtension($hooks, 'NShield.HsmAdmin.TestHooks')
        $assembly.GetType('NShield.HsmAdmin.TestHooks.BrokenTransport').GetMethod('Register').Invoke($null, @('broken-test')) | Out-Null
        $registration = Get-HsmModule -HostPath $h -Esn $b -Offline
        Register-HsmModule -HostPath $h -Esn $b -Address 127.0.0.1 -Transport broken-test -Force | Out-Null
        try {
            $r = Test-HsmConnection -HostPath $h -Detailed -ErrorVariable errs -ErrorAction SilentlyContinue
            @($errs | ForEach-Object { $_.FullyQualifiedErrorId.Split(',')[0] }) | Should -Be @('UnexpectedError')
            $errs[0].TargetObject | Should -Be $b
            $errs[0].Exception.Message | Should -Match 'InvalidOperationException'
            @($r | Where-Object Esn -eq $a | ForEach-Object Success) | Should -Be (@($true) * 6) -Because 'the other module is tested as usual'
        }
        finally {
            Register-HsmModule -HostPath $h -Esn $b -Address $registration.Address -User $registration.User -Port $registration.Ports -Force | Out-Null
        }
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
    }
}
