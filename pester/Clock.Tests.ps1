# Issue 22 items 1, 2 and 5: the module clock (Set-HsmModuleTime, hsmadmin settime), reboot (Restart-HsmModule,
# hsmadmin reset) and -Timeout on every cmdlet that talks to modules, through the built module against simulated
# modules over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    function Get-SimModule($Simulator, [string] $Esn) {
        (Get-HsmSimulator -Path $Simulator.Path).Modules | Where-Object Esn -eq $Esn
    }
    # What a command wrote (Output) and its errors, non-terminating and terminating (Errors), whatever the caller's
    # $ErrorActionPreference: every module's outcome is seen, not only the first error.
    function Invoke-Capture([scriptblock] $Command) {
        $ErrorActionPreference = 'Continue'
        $errs = [System.Collections.Generic.List[object]]::new()
        $out = [System.Collections.Generic.List[object]]::new()
        try {
            foreach ($item in (& $Command 2>&1)) {
                if ($item -is [System.Management.Automation.ErrorRecord]) { $errs.Add($item) } else { $out.Add($item) }
            }
        }
        catch { $errs.Add($_) }
        [pscustomobject]@{ Output = @($out); Errors = @($errs) }
    }
}
AfterAll { Remove-TestHosts }

Describe 'Issue22 Set-HsmModuleTime: the way out of an invalid clock' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        $other = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Set-HsmSimulatedModule -Esn $esn -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
    }
    It 'Get-HsmModule shows the invalid clock: ClockValid false and no offset; the other module''s offset is near zero' {
        $status = Get-HsmModule -HostPath $h
        $bad = $status | Where-Object Esn -eq $esn
        $bad.ClockValid | Should -BeFalse
        $bad.ClockOffsetSeconds | Should -BeNullOrEmpty
        $good = $status | Where-Object Esn -eq $other
        $good.ClockValid | Should -BeTrue
        [math]::Abs($good.ClockOffsetSeconds) | Should -BeLessThan 5
    }
    It 'a key roll is refused naming Set-HsmModuleTime (message and RecommendedAction); nothing changed' {
        $before = Get-StoreSnapshot $h
        $r = Invoke-Capture { Update-HsmSshKey -HostPath $h -Confirm:$false }
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        $r.Errors[0].Exception.Message | Should -Match "Set-HsmModuleTime -Esn $esn"
        $r.Errors[0].ErrorDetails.RecommendedAction | Should -Match "Set-HsmModuleTime -Esn $esn"
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'is refused while the module is operational and not in maintenance mode: ModuleClockNotSettable, the clock stays invalid' {
        $before = Get-StoreSnapshot $h
        $r = Invoke-Capture { Set-HsmModuleTime -HostPath $h -Esn $esn -Confirm:$false }
        $r.Output | Should -BeNullOrEmpty
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockNotSettable*'
        $r.Errors[0].Exception.Message | Should -Match 'maintenance mode'
        $r.Errors[0].TargetObject | Should -Be $esn
        (Get-SimModule $sim $esn).ClockOffsetSeconds | Should -BeNullOrEmpty -Because 'the module''s clock is still invalid'
        Get-StoreSnapshot $h | Should -Be $before
    }
    It '-WhatIf sets nothing' {
        Set-HsmSimulatedModule -Esn $esn -Maintenance $true -SimulatorPath $sim.Path | Out-Null
        Set-HsmModuleTime -HostPath $h -Esn $esn -WhatIf | Should -BeNullOrEmpty
        (Get-SimModule $sim $esn).ClockOffsetSeconds | Should -BeNullOrEmpty
    }
    It 'in maintenance mode the operator sets the clock as documented; then the roll works' {
        (Get-SimModule $sim $esn).Maintenance | Should -BeTrue
        $auditBefore = @(Get-AuditLines $h).Count
        $set = Set-HsmModuleTime -HostPath $h -Esn $esn -Confirm:$false
        $set | Should -HaveCount 1
        $set.GetType().Name | Should -Be 'HsmModuleTimeResult'
        $set.Esn | Should -Be $esn
        $set.HostPath | Should -Be $h
        $set.Adjusted | Should -BeFalse
        $set.ClockValidBefore | Should -BeFalse
        $set.OffsetBeforeSeconds | Should -BeNullOrEmpty
        [math]::Abs($set.OffsetAfterSeconds) | Should -BeLessThan 5
        $set.Mode | Should -Be 'Operational'
        # The module side: its clock is valid and near real time.
        $m = Get-SimModule $sim $esn
        $m.ClockOffsetSeconds | Should -Not -BeNullOrEmpty
        [math]::Abs($m.ClockOffsetSeconds) | Should -BeLessThan 5
        @(Get-AuditLines $h).Count | Should -BeGreaterThan $auditBefore
        Get-AuditLines $h | Select-Object -Last 1 | Should -Match '"clock.set"'
        Set-HsmSimulatedModule -Esn $esn -Maintenance $false -SimulatorPath $sim.Path | Out-Null
        (Update-HsmSshKey -HostPath $h -Confirm:$false).Status | Should -Be 'Completed'
        Test-HsmConnection -HostPath $h | Should -BeTrue
        (Get-HsmModule -HostPath $h -Esn $esn).ClockValid | Should -BeTrue
    }
    It 'a factory-state module with an invalid clock: enroll refused, its clock set (verified by the vendor chain), then enrolled' {
        $fresh = (Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path).Esn
        Set-HsmSimulatedModule -Esn $fresh -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-Capture { Invoke-HsmEnroll -HostPath $h -Esn $fresh }
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockInvalid*'
        $r.Errors[0].Exception.Message | Should -Match 'Set-HsmModuleTime'
        $set = Set-HsmModuleTime -HostPath $h -Esn $fresh -Confirm:$false
        $set.Mode | Should -Be 'FactoryState'
        $set.ClockValidBefore | Should -BeFalse
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $fresh | Should -BeNullOrEmpty -Because 'setting the clock pins nothing'
        (Invoke-HsmEnroll -HostPath $h -Esn $fresh).Action | Should -Be 'Enrolled'
    }
    It 'a factory-state module whose server key no trusted root vouches for is not contacted beyond identity' {
        $fresh = (Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path).Esn
        Set-HsmSimulatedModule -Esn $fresh -InvalidClock $true -ReplaceServerKey sshadmin -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-Capture { Set-HsmModuleTime -HostPath $h -Esn $fresh -Confirm:$false }
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'CertificateInvalid*'
        (Get-SimModule $sim $fresh).ClockOffsetSeconds | Should -BeNullOrEmpty -Because 'settime was never sent'
    }
}

Describe 'Issue22 Set-HsmModuleTime -Adjust' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
    }
    It 'Get-HsmModule shows a module 300 s fast' {
        Set-HsmSimulatedModule -Esn $esn -ClockOffsetSeconds 300 -SimulatorPath $sim.Path | Out-Null
        $offset = (Get-HsmModule -HostPath $h -Esn $esn).ClockOffsetSeconds
        $offset | Should -BeGreaterThan 295
        $offset | Should -BeLessThan 305
    }
    It 'slews an operational module''s clock (no maintenance needed): the whole correction is pending, nothing stepped' {
        $r = Set-HsmModuleTime -HostPath $h -Esn $esn -Adjust -Confirm:$false
        $r.Adjusted | Should -BeTrue
        $r.ClockValidBefore | Should -BeTrue
        $r.OffsetBeforeSeconds | Should -BeGreaterThan 295
        $r.OffsetBeforeSeconds | Should -BeLessThan 305
        $r.AdjustingSeconds | Should -BeLessThan -280 -Because 'the module slews 0.1 s per second, so most of -300 s is still to go'
        $r.OffsetAfterSeconds | Should -BeGreaterThan 0 -Because 'slewing never steps the clock'
        $r.OffsetAfterSeconds | Should -BeLessOrEqual ($r.OffsetBeforeSeconds + 1)
        $m = Get-SimModule $sim $esn
        $m.AdjustingSeconds | Should -BeLessThan 0
        $m.ClockOffsetSeconds | Should -BeLessOrEqual 301
    }
    It 'refuses a correction larger than a slew covers, and an invalid clock: ModuleClockNotSettable, nothing changed' {
        Set-HsmSimulatedModule -Esn $esn -ClockOffsetSeconds 7200 -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-Capture { Set-HsmModuleTime -HostPath $h -Esn $esn -Adjust -Confirm:$false }
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockNotSettable*'
        $r.Errors[0].ErrorDetails.RecommendedAction | Should -Match 'maintenance mode'
        (Get-SimModule $sim $esn).ClockOffsetSeconds | Should -BeGreaterThan 7190
        (Get-SimModule $sim $esn).AdjustingSeconds | Should -Be 0
        Set-HsmSimulatedModule -Esn $esn -InvalidClock $true -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-Capture { Set-HsmModuleTime -HostPath $h -Esn $esn -Adjust -Confirm:$false }
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleClockNotSettable*'
        (Get-SimModule $sim $esn).ClockOffsetSeconds | Should -BeNullOrEmpty
        Set-HsmSimulatedModule -Esn $esn -ClearFaults -SimulatorPath $sim.Path | Out-Null
    }
}

Describe 'Issue22 Restart-HsmModule' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $slow = $sim.Modules[0].Esn
        $fast = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
    }
    It '-WhatIf reboots nothing' {
        $audit = @(Get-AuditLines $h).Count
        Restart-HsmModule -HostPath $h -Esn $slow -WhatIf | Should -BeNullOrEmpty
        (Get-SimModule $sim $slow).Booting | Should -BeFalse
        @(Get-AuditLines $h).Count | Should -Be $audit
    }
    It 'reboots every named module, waits until each answers again, and reports its mode' {
        Set-HsmSimulatedModule -Esn $slow -Maintenance $true -SimulatorPath $sim.Path | Out-Null
        $r = Restart-HsmModule -HostPath $h -Esn $slow, $fast -Confirm:$false | Sort-Object Esn
        $r | Should -HaveCount 2
        $r | ForEach-Object {
            $_.GetType().Name | Should -Be 'HsmModuleRestartResult'
            $_.ModeBefore | Should -Be 'Operational'
            $_.Mode | Should -Be 'Operational'
            $_.Recovery | Should -BeFalse
            $_.Enrolled | Should -BeTrue
            $_.HostPath | Should -Be $h
        }
        (Get-SimModule $sim $slow).Maintenance | Should -BeFalse -Because 'a module boots into operational mode'
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'a module that does not come back within -Timeout is a typed error; the other module goes on; a rerun with more time succeeds' {
        Set-HsmSimulatedModule -Esn $slow -BootMs 60000 -SimulatorPath $sim.Path | Out-Null
        $r = Invoke-Capture { Restart-HsmModule -HostPath $h -Esn $slow, $fast -Timeout 10 -Confirm:$false }
        $r.Output | Should -HaveCount 1
        $r.Output[0].Esn | Should -Be $fast
        $r.Errors | Should -HaveCount 1
        $r.Errors[0].FullyQualifiedErrorId | Should -BeLike 'ModuleRebootTimeout*'
        $r.Errors[0].TargetObject | Should -Be $slow
        $r.Errors[0].Exception.Message | Should -Match '10 s \(-Timeout\)'
        $r.Errors[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
        (Get-SimModule $sim $slow).Booting | Should -BeTrue -Because 'the fault fired: the module is still booting'
        # Setting the boot time finishes the boot under way; the rerun (default boot time, more time) completes.
        Set-HsmSimulatedModule -Esn $slow -BootMs 1500 -SimulatorPath $sim.Path | Out-Null
        $again = Restart-HsmModule -HostPath $h -Esn $slow -Timeout 60 -Confirm:$false
        $again.Mode | Should -Be 'Operational'
        Test-HsmConnection -HostPath $h -Esn $slow | Should -BeTrue
    }
    It '-Recovery: the module comes back in Recovery mode, the host forgets its pins; it is enrolled again and booted normally' {
        $r = Restart-HsmModule -HostPath $h -Esn $slow -Recovery -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -Match 'recovery button'
        $r.Mode | Should -Be 'Recovery'
        $r.Recovery | Should -BeTrue
        $r.Enrolled | Should -BeFalse
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $slow | Should -BeNullOrEmpty
        (Get-SimModule $sim $slow).Mode | Should -Be 'Recovery'
        (Invoke-HsmEnroll -HostPath $h -Esn $slow -WarningAction SilentlyContinue).Action | Should -Be 'Enrolled'
        (Restart-HsmModule -HostPath $h -Esn $slow -Confirm:$false).Mode | Should -Be 'Operational'
        Test-HsmConnection -HostPath $h -Esn $slow -Service sshadmin | Should -BeTrue
    }
}

Describe 'Issue22 -Timeout on every cmdlet that talks to modules' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $slow = $sim.Modules[0].Esn
        $fast = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $talkers = 'Invoke-HsmEnroll', 'Get-HsmModule', 'Get-HsmLog', 'Get-HsmSshKey', 'Test-HsmConnection', 'Update-HsmSshKey',
            'Restore-HsmSshKey', 'Move-HsmModule', 'Reset-HsmModule', 'Update-HsmServerKeyPin', 'Set-HsmModuleTime', 'Restart-HsmModule',
            'Update-HsmFirmware', 'Set-HsmMinimumVsn', 'Export-HsmTrustReport'
    }
    It 'each has -Timeout, 3 to 120 s, default 30, declared once in the shared base' {
        foreach ($name in $talkers) {
            $p = (Get-Command $name).Parameters['Timeout']
            $p | Should -Not -BeNullOrEmpty -Because "$name talks to modules"
            $range = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateRangeAttribute] }
            $range.MinRange | Should -Be 3 -Because $name
            $range.MaxRange | Should -Be 120 -Because $name
        }
        $base = [NShield.HsmAdmin.Commands.HsmModuleCmdlet]
        foreach ($name in $talkers) { (Get-Command $name).ImplementingType.IsSubclassOf($base) | Should -BeTrue -Because $name }
        (New-Object NShield.HsmAdmin.Commands.GetHsmModuleCommand).Timeout | Should -Be 30
    }
    It 'bad -Timeout values are refused before anything is done' {
        $before = Get-StoreSnapshot $h
        $audit = @(Get-AuditLines $h).Count
        foreach ($bad in 2, 121, 0, -5) {
            { Set-HsmModuleTime -HostPath $h -Esn $fast -Adjust -Timeout $bad -Confirm:$false } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError*'
            { Restart-HsmModule -HostPath $h -Esn $fast -Timeout $bad -Confirm:$false } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        }
        Get-StoreSnapshot $h | Should -Be $before
        @(Get-AuditLines $h).Count | Should -Be $audit
        (Get-SimModule $sim $fast).Booting | Should -BeFalse
    }
    It 'a module slower than -Timeout is a typed ModuleTimeout naming it, its service and the timeout; the other goes on; more time succeeds' {
        Set-HsmSimulatedModule -Esn $slow -DelayMs 5000 -SimulatorPath $sim.Path | Out-Null
        try {
            (Get-SimModule $sim $slow).DelayMs | Should -Be 5000
            $r = Invoke-Capture { Get-HsmModule -HostPath $h -Timeout 3 }
            $r.Errors | Should -HaveCount 1
            $e = $r.Errors[0]
            $e.FullyQualifiedErrorId | Should -BeLike 'ModuleTimeout*'
            $e.CategoryInfo.Category | Should -Be 'OperationTimeout'
            $e.TargetObject | Should -Be $slow
            $e.Exception.Message | Should -Match $slow
            $e.Exception.Message | Should -Match 'sshadmin'
            $e.Exception.Message | Should -Match '3 s \(-Timeout\)'
            ($r.Output | Where-Object Esn -eq $fast).Mode | Should -Be 'Operational'
            ($r.Output | Where-Object Esn -eq $slow).Status | Should -Be 'Unreachable'
            $again = Get-HsmModule -HostPath $h -Esn $slow -Timeout 15
            $again.Mode | Should -Be 'Operational'
        }
        finally { Set-HsmSimulatedModule -Esn $slow -DelayMs 0 -SimulatorPath $sim.Path | Out-Null }
    }
}
