# Issue 11: fleet commands take -Esn and -HostPath by property name, so Get-HsmModule output from several hosts reaches
# each object's own host. Real sshd (two simulators, one per host); the module side is read from the modules.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $manifest -Force
    Import-Module (Join-Path (Split-Path $manifest) 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $simA = Start-TestSimulator -ModuleCount 2 -HostPath (New-TestHostPath 'hostA')
    $simB = Start-TestSimulator -ModuleCount 2 -HostPath (New-TestHostPath 'hostB')
    $a = $simA.HostPath
    $b = $simB.HostPath
    Invoke-HsmEnroll -HostPath $a | Out-Null
    Invoke-HsmEnroll -HostPath $b | Out-Null
    # The default host is an empty third one: a command that fell back to it would find none of these modules.
    $savedHome = $env:NSHIELD_HSMADMIN_HOME
    $env:NSHIELD_HSMADMIN_HOME = New-TestHostPath 'default'
    function Get-Both([string[]] $EsnA, [string[]] $EsnB) {
        @(Get-HsmModule -HostPath $a -Esn $EsnA) + @(Get-HsmModule -HostPath $b -Esn $EsnB)
    }
}
AfterAll {
    $env:NSHIELD_HSMADMIN_HOME = $savedHome
    Remove-TestHosts
}

Describe 'Piping modules of two hosts into a fleet command' {
    It 'tests every module from its own host' {
        $modules = Get-Both $simA.Modules.Esn $simB.Modules.Esn
        ($modules.HostPath | Sort-Object -Unique) | Should -Be (@($a, $b) | Sort-Object)
        $results = @($modules | Test-HsmConnection -Detailed -ErrorVariable errs)
        $errs | Should -HaveCount 0
        $results | Should -HaveCount 24
        @($results | Where-Object { -not $_.Success }) | Should -HaveCount 0
        ($results.Esn | Sort-Object -Unique) | Should -Be (@($simA.Modules.Esn) + @($simB.Modules.Esn) | Sort-Object)
        $modules | Test-HsmConnection | Should -Be @($true, $true) -Because 'one overall answer per host'
    }

    It 'lets a -HostPath typed on the command override the piped one' {
        $errors = @()
        $out = Get-HsmModule -HostPath $a | Test-HsmConnection -HostPath $b -ErrorVariable errors -ErrorAction SilentlyContinue
        $out | Should -BeExactly $false
        $errors | Should -HaveCount 2
        $errors | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'UnknownModule*' }
        ($errors.TargetObject | Sort-Object) | Should -Be (@($simA.Modules.Esn) | Sort-Object)
    }

    It 'resets one module of each host through its own host, then re-enrolls them the same way' {
        $a1, $a2 = $simA.Modules.Esn
        $b1, $b2 = $simB.Modules.Esn
        $reset = @(Get-Both $a1 $b1 | Reset-HsmModule -Confirm:$false)
        $reset | Should -HaveCount 2
        foreach ($r in $reset) { $r.Mode | Should -Be 'FactoryState' }
        foreach ($pair in @(@($simA, $a1), @($simB, $b1))) {
            $held = Get-ModuleKeys $pair[0] $pair[1]
            foreach ($service in 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $held[$service] | Should -HaveCount 0 }
        }
        # The other module of each host was not touched.
        Assert-ModulesHoldHostKeys $simA $a @($a2)
        Assert-ModulesHoldHostKeys $simB $b @($b2)

        $enrolled = @(Get-Both $a1 $b1 | Invoke-HsmEnroll -Confirm:$false)
        $enrolled | Should -HaveCount 2
        ($enrolled | Where-Object Esn -eq $a1).HostPath | Should -Be $a
        ($enrolled | Where-Object Esn -eq $b1).HostPath | Should -Be $b
        foreach ($r in $enrolled) { $r.Action | Should -Be 'Enrolled' }
        Assert-ModulesHoldHostKeys $simA $a
        Assert-ModulesHoldHostKeys $simB $b
        @(Get-HsmModule -HostPath $env:NSHIELD_HSMADMIN_HOME -Offline) | Should -HaveCount 0 -Because 'nothing reached the default host'
    }
}
