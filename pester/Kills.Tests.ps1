# Issue 23, kill tests: every command that changes the store or a module, SIGKILLed at its durable steps without any
# test hook (strace -e inject=<syscall>:signal=KILL:when=N stops the child at the N-th rename, fsync or unlink it makes,
# before that call runs), then: the documented commands still work or say what to rerun, the rerun reaches the promised
# state, and the modules hold what the host expects. Faults.Tests.ps1 covers roll, restore, move and reset.done through
# the crash-point hook; Lockout.Tests.ps1 the journals. One simulator for the whole table.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $script:Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    # Runs $Command in a child pwsh under strace, which kills it at the $When-th $Syscall; fails unless it died by SIGKILL.
    # -Path counts only the calls on that file (the runtime itself unlinks files at start-up, before any script runs).
    function Invoke-KilledAt([string] $Syscall, [int] $When, [string] $Command, [string] $Path) {
        $only = if ($Path) { @('-P', $Path) } else { @() }
        $out = & strace -f -qq -o /dev/null @only -e "inject=${Syscall}:signal=KILL:when=$When" dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive `
            -Command "`$ErrorActionPreference = 'Stop'; Import-Module '$script:Manifest'; $Command" 2>&1
        $LASTEXITCODE | Should -Be 137 -Because "the child must die at $Syscall #$When, not end by itself: $($out -join ' ')"
    }
    # Runs $Command in a child pwsh (another process); returns exit code and output.
    function Start-Child([string] $Command) {
        $psi = [Diagnostics.ProcessStartInfo]::new('dotnet')
        foreach ($a in (Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
            "`$ErrorActionPreference = 'Stop'; Import-Module '$script:Manifest'; $Command") { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
        [Diagnostics.Process]::Start($psi)
    }
    function Registration($h, $esn) {
        $m = Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $esn
        $ports = @{}; foreach ($p in $m.Ports.GetEnumerator()) { $ports[$p.Key] = $p.Value }
        @{ Esn = $esn; Address = $m.Address; User = $m.User; Port = $ports }
    }
    function PortsText($reg) { '@{ ' + (($reg.Port.GetEnumerator() | ForEach-Object { "$($_.Key) = $($_.Value)" }) -join '; ') + ' }' }
    # What holds after every kill and every rerun: the log chains, every enrolled module takes this host's keys.
    function Assert-Intact($sim, $h) {
        (Test-HsmAuditLog -HostPath $h).Valid | Should -BeTrue
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h
    }
}
AfterAll { Remove-TestHosts }

Describe 'Commands killed at their durable steps' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $regB = Registration $h $b
        $rootKey = Join-Path (New-TestHostPath 'root') 'extra'
        ssh-keygen -q -t ed25519 -N '' -C extra-root -f $rootKey | Out-Null
        $extraRoot = (Get-Content "$rootKey.pub" -Raw).Trim()
        $factory = Join-Path (New-TestHostPath 'factory') 'factory.key'
        ssh-keygen -q -t ed25519 -N '' -f $factory | Out-Null
    }

    It 'Register-HsmModule killed at <Syscall> #<When>: the module is registered or not, and one rerun registers it' -ForEach @(
        @{ Syscall = 'rename'; When = 1 }, @{ Syscall = 'fsync'; When = 2 }) {
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false
        Invoke-KilledAt $Syscall $When "Register-HsmModule -HostPath '$h' -Esn $b -Address $($regB.Address) -User '$($regB.User)' -Port $(PortsText $regB)"
        (Get-HsmModule -HostPath $h -Offline).Esn | Should -Contain $a
        Register-HsmModule -HostPath $h @regB | Out-Null
        (Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $b).Attached | Should -BeTrue
        Assert-Intact $sim $h
    }
    It 'Unregister-HsmModule killed at rename #1: still registered; one rerun unregisters it' {
        Invoke-KilledAt rename 1 "Unregister-HsmModule -HostPath '$h' -Esn $b -Confirm:`$false"
        (Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $b).Attached | Should -BeTrue
        Assert-Intact $sim $h
        Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false
        (Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $b).Attached | Should -BeFalse
        Register-HsmModule -HostPath $h @regB | Out-Null
        Assert-Intact $sim $h
    }
    It 'Add-HsmTrustedRoot killed at <Syscall> #<When>: one rerun trusts the root' -ForEach @(
        @{ Syscall = 'rename'; When = 1 }, @{ Syscall = 'fsync'; When = 2 }) {
        Remove-HsmTrustedRoot -HostPath $h -Name extra -Confirm:$false -ErrorAction SilentlyContinue
        Invoke-KilledAt $Syscall $When "Add-HsmTrustedRoot -HostPath '$h' -Name extra -PublicKey '$extraRoot' -Force -Confirm:`$false"
        @(Get-HsmTrustedRoot -HostPath $h).Count | Should -BeGreaterThan 0
        (Add-HsmTrustedRoot -HostPath $h -Name extra -PublicKey $extraRoot -Force -Confirm:$false).Name | Should -Be 'extra'
        (Get-HsmTrustedRoot -HostPath $h -Name extra).PublicKey | Should -Be $extraRoot
        Assert-Intact $sim $h
    }
    It 'Remove-HsmTrustedRoot killed at unlink #1: the root is still trusted; one rerun removes it' {
        $removals = { @(Get-Content (Join-Path $h 'audit.log') | Where-Object { $_ -match 'trustedroot\.remove' }).Count }
        $before = & $removals
        $started = Join-Path (New-TestHostPath 'marker') 'started'
        Invoke-KilledAt unlink 1 "Set-Content -LiteralPath '$started' x; Remove-HsmTrustedRoot -HostPath '$h' -Name extra -Confirm:`$false" `
            -Path (Join-Path $h 'trusted-roots/extra.pub')
        $started | Should -Exist -Because 'the child reached the command before it was killed'
        & $removals | Should -Be $before -Because 'the child died at the unlink of the root file, before it could record a removal'
        (Get-HsmTrustedRoot -HostPath $h).Name | Should -Contain 'extra'
        Remove-HsmTrustedRoot -HostPath $h -Name extra -Confirm:$false
        (Get-HsmTrustedRoot -HostPath $h).Name | Should -Not -Contain 'extra'
        Assert-Intact $sim $h
    }
    It 'Set-HsmHostConfiguration killed at <Syscall> #<When>: the old or the new configuration, never a torn one; one rerun sets it' -ForEach @(
        @{ Syscall = 'rename'; When = 1 }, @{ Syscall = 'fsync'; When = 2 }) {
        $old = (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath
        Invoke-KilledAt $Syscall $When "Set-HsmHostConfiguration -HostPath '$h' -FactoryCredentialPath '$factory'"
        (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath | Should -BeIn @($old, $factory)
        Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath $factory
        (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath | Should -Be $factory
        Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath $old
        Assert-Intact $sim $h
    }
    It 'Update-HsmServerKeyPin killed at rename #1: the old pin stays, Test-HsmConnection names the rerun; one rerun re-pins' {
        $new = (Set-HsmSimulatedModule -Esn $a -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path).Endpoint('ncoreapi').ServerKeyFingerprint
        Invoke-KilledAt rename 1 "Update-HsmServerKeyPin -HostPath '$h' -Esn $a -Confirm:`$false"
        (Get-HsmSshKey -HostPath $h -Esn $a -Service ncoreapi).Fingerprint | Should -Not -Be $new
        Test-HsmConnection -HostPath $h -Esn $a -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
        $errs[0].ErrorDetails.RecommendedAction | Should -Match ([regex]::Escape("Update-HsmServerKeyPin -Esn $a"))
        @(Update-HsmServerKeyPin -HostPath $h -Esn $a -Confirm:$false | Where-Object Repinned).Service | Should -Be 'ncoreapi'
        (Get-HsmSshKey -HostPath $h -Esn $a -Service ncoreapi).Fingerprint | Should -Be $new
        Assert-Intact $sim $h
    }
    # strace counts calls per thread, and enroll writes from the fleet's threads: its first rename is exact, the later
    # steps (journal written; pins written; keys installed on the module, not yet recorded) through crash points.
    It 'Invoke-HsmEnroll of a reset module killed at <At>: the others keep working; one rerun enrolls it' -ForEach @(
        @{ At = 'rename #1'; Syscall = 'rename'; When = 1 }, @{ At = 'enroll.journaled'; Point = 'enroll.journaled' }
        @{ At = 'enroll.pinned'; Point = 'enroll.pinned' }, @{ At = 'enroll.installed'; Point = 'enroll.installed' }) {
        Reset-HsmModule -HostPath $h -Esn $b -Timeout 10 -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        $command = "Invoke-HsmEnroll -HostPath '$h' -Esn $b -WarningAction SilentlyContinue"
        if ($Point) { Invoke-Killed $Point $command | Out-Null } else { Invoke-KilledAt $Syscall $When $command }
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeExactly $true
        $r = Invoke-HsmEnroll -HostPath $h -WarningAction SilentlyContinue
        ($r | Where-Object Esn -eq $b).Action | Should -BeIn @('Enrolled', 'Repaired', 'NoAction')
        Assert-Intact $sim $h
    }
    It 'Reset-HsmModule killed at rename #1 (the module reset, the host not yet told): one rerun completes the reset' {
        Invoke-KilledAt rename 1 "Reset-HsmModule -HostPath '$h' -Esn $b -Timeout 10 -Confirm:`$false -WarningAction SilentlyContinue"
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeExactly $true
        (Reset-HsmModule -HostPath $h -Esn $b -Timeout 10 -Confirm:$false -WarningAction SilentlyContinue).Mode | Should -Be 'FactoryState'
        $held = @((Get-ModuleKeys $sim $b).Values | ForEach-Object { $_ })
        foreach ($fp in (Get-HostKeys $h).Values) { $held | Should -Not -Contain $fp -Because 'the module itself is in factory state' }
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $b | Should -BeNullOrEmpty
        (Invoke-HsmEnroll -HostPath $h -Esn $b -WarningAction SilentlyContinue).Action | Should -Be 'Enrolled'
        Assert-Intact $sim $h
    }
    It 'two changing commands from two processes at once (a key roll, and a root plus a host setting) both end correctly; the store stays intact' {
        Remove-HsmTrustedRoot -HostPath $h -Name extra -Confirm:$false -ErrorAction SilentlyContinue
        $old = (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath
        $before = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
        $roll = Start-Child "Update-HsmSshKey -HostPath '$h' -Confirm:`$false -WarningAction SilentlyContinue | Out-Null"
        $other = Start-Child ("Add-HsmTrustedRoot -HostPath '$h' -Name extra -PublicKey '$extraRoot' -Force -Confirm:`$false | Out-Null; " +
            "Set-HsmHostConfiguration -HostPath '$h' -FactoryCredentialPath '$factory'")
        foreach ($p in $roll, $other) {
            $err = $p.StandardError.ReadToEndAsync(); $null = $p.StandardOutput.ReadToEnd(); $p.WaitForExit()
            $p.ExitCode | Should -Be 0 -Because $err.Result
        }
        (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint | Should -Not -Be $before
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        (Get-HsmTrustedRoot -HostPath $h).Name | Should -Contain 'extra'
        (Get-HsmHostConfiguration -HostPath $h).FactoryCredentialPath | Should -Be $factory
        Set-HsmHostConfiguration -HostPath $h -FactoryCredentialPath $old
        Assert-Intact $sim $h
    }
}
