# Issue 22 items 3 and 6: firmware over the updater service (hsmadmin upgrade, setminvsn) and the ncoreapi interlock,
# over real SSH: vendor-signed packages only, never below the minimum VSN, the minimum never above the installed VSN,
# refused packages change nothing on the host or the module, Recovery mode restarts into factory state by itself.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    $sim = Start-TestSimulator -ModuleCount 2
    $h = $sim.HostPath
    $a = $sim.Modules[0].Esn; $b = $sim.Modules[1].Esn
    Invoke-HsmEnroll -HostPath $h | Out-Null
    $pkgDir = New-TestHostPath 'packages'
    New-Item -ItemType Directory $pkgDir -Force | Out-Null

    function New-Package([string] $Name, [hashtable] $With = @{}) {
        $file = Join-Path $pkgDir $Name
        New-HsmSimulatedFirmwarePackage -Path $file -SimulatorPath $sim.Path @With -Force | Out-Null
        $file
    }
    function Get-ModuleDir([string] $Esn) { ((Get-HsmSimulator -Path $sim.Path).Modules | Where-Object Esn -eq $Esn).ModuleDir }
    # The module side of "nothing changed": its state file (firmware images, minimum VSN, mode) and no staged package.
    function Get-ModuleSide([string] $Esn) {
        $dir = Get-ModuleDir $Esn
        [pscustomobject]@{
            State = (Get-FileHash (Join-Path $dir 'state.json')).Hash
            Staged = Test-Path (Join-Path $dir 'firmware-staging.bin')
            Keys = (Get-FileHash (Join-Path $dir 'services/sshadmin/authorized_keys')).Hash
        }
    }
    function Get-ModuleState([string] $Esn) { Get-Content (Join-Path (Get-ModuleDir $Esn) 'state.json') -Raw | ConvertFrom-Json }
}
AfterAll { Remove-TestHosts }

Describe 'Get-HsmModule shows the firmware images and the VSN' {
    It 'reports primary and recovery versions, their VSN and the minimum VSN, as properties and in the views' {
        $m = Get-HsmModule -HostPath $h -Esn $a
        $m.FirmwareVersion | Should -Be '13.6.0-sim'
        $m.FirmwareVsn | Should -Be 4
        $m.RecoveryFirmwareVersion | Should -Be '13.6.0-sim'
        $m.RecoveryFirmwareVsn | Should -Be 4
        $m.MinimumVsn | Should -Be 3
        $m.NCoreApiOperational | Should -BeFalse
        ($m | Out-String -Width 250) | Should -Match '(?m)^Esn\s+Mode\s+Status\s+FirmwareVersion\s+FirmwareVsn\s'
        $list = $m | Format-List | Out-String -Width 250
        foreach ($p in 'FirmwareVsn', 'RecoveryFirmwareVersion', 'RecoveryFirmwareVsn', 'MinimumVsn', 'NCoreApiOperational') {
            $list | Should -Match "(?m)^$p\s+:"
        }
    }
}

Describe 'Update-HsmFirmware' {
    It 'installs a vendor-signed package over the updater channel, and the module restarts with it' {
        $good = New-Package 'good.pkg' @{ Version = '13.7.0-sim'; Vsn = 5 }
        $r = Update-HsmFirmware -HostPath $h -Esn $a -Path $good -Confirm:$false
        $r.PSObject.TypeNames[0] | Should -Be 'NShield.HsmAdmin.Operations.HsmFirmwareUpdateResult'
        $r.Esn | Should -Be $a
        $r.Image | Should -Be 'primary'
        $r.PreviousVersion | Should -Be '13.6.0-sim'
        $r.Version | Should -Be '13.7.0-sim'
        $r.Vsn | Should -Be 5
        $r.Rebooted | Should -BeTrue
        $r.Mode | Should -Be 'Operational'
        ($r | Out-String -Width 250) | Should -Match '(?m)^Esn\s+Image\s+PreviousVersion\s+Version\s+Vsn\s+Rebooted\s+Mode\s*$'
        $m = Get-HsmModule -HostPath $h -Esn $a
        $m.FirmwareVersion | Should -Be '13.7.0-sim'
        $m.FirmwareVsn | Should -Be 5
        $m.MinimumVsn | Should -Be 3
        (Get-ModuleSide $a).Staged | Should -BeFalse
        # The other module was not asked; the module still accepts the host's keys on every channel.
        (Get-HsmModule -HostPath $h -Esn $b).FirmwareVersion | Should -Be '13.6.0-sim'
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeTrue
        (Get-AuditLines $h | Where-Object { $_ -match '"upgrade"' -and $_ -match $a }).Count | Should -Be 1
        # The module's own log: the package went over updater, in parts, then the install.
        $log = @(Get-HsmLog -HostPath $h -Esn $a | Where-Object Service -eq 'updater')
        ($log | Where-Object Verb -eq 'firmware.chunk').Count | Should -BeGreaterThan 0
        ($log | Where-Object Verb -eq 'firmware.install').Outcome | Should -Be 'ok'
    }

    It 'sends a package larger than one body in parts of 32 KiB' {
        $big = New-Package 'big.pkg' @{ Version = '13.7.1-sim'; Vsn = 5; PayloadBytes = 100000 }
        (Update-HsmFirmware -HostPath $h -Esn $a -Path $big -Confirm:$false).Version | Should -Be '13.7.1-sim'
        $chunks = @(Get-HsmLog -HostPath $h -Esn $a -Tail 10 | Where-Object Verb -eq 'firmware.chunk')
        $chunks.Count | Should -Be 4   # 100 KB payload + header: 4 parts of at most 32 KiB
        $chunks | ForEach-Object { $_.Outcome | Should -Be 'ok' }
    }

    It 'may go back to a lower VSN that is still at or above the minimum (the vendor''s rule)' {
        $older = New-Package 'older.pkg' @{ Version = '13.6.5-sim'; Vsn = 3 }
        (Update-HsmFirmware -HostPath $h -Esn $a -Path $older -Confirm:$false).Vsn | Should -Be 3
        (Get-HsmModule -HostPath $h -Esn $a).FirmwareVsn | Should -Be 3
        $again = New-Package 'again.pkg' @{ Version = '13.7.0-sim'; Vsn = 5 }
        (Update-HsmFirmware -HostPath $h -Esn $a -Path $again -Confirm:$false).Vsn | Should -Be 5
    }

    It 'refuses a bad package with a typed error and changes nothing on the host or the module: <Case>' -ForEach @(
        @{ Case = 'wrong signer'; With = @{ Defect = 'WrongSigner' }; Id = 'FirmwareSignatureInvalid'; Match = 'vendor' }
        @{ Case = 'changed after signing'; With = @{ Defect = 'Tampered' }; Id = 'FirmwareSignatureInvalid'; Match = 'signature' }
        @{ Case = 'downgrade below the minimum VSN'; With = @{ Vsn = 2 }; Id = 'FirmwareVsnTooLow'; Match = 'minimum VSN' }
    ) {
        $file = New-Package "bad-$($Case -replace '\W', '-').pkg" $With
        $store = Get-StoreSnapshot $h
        $audit = @(Get-AuditLines $h).Count
        $module = Get-ModuleSide $a
        $err = $null
        Update-HsmFirmware -HostPath $h -Esn $a -Path $file -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        $err[0].Exception.Message | Should -Match $Match
        $err[0].Exception.Message | Should -Match 'Nothing was installed'
        # The module refused it itself, after receiving it: its log says so.
        $last = @(Get-HsmLog -HostPath $h -Esn $a -Tail 1)[0]
        $last.Verb | Should -Be 'firmware.install'
        $last.Outcome | Should -Not -Be 'ok'
        Get-ModuleSide $a | Should -BeLike $module
        (Get-ModuleSide $a).Staged | Should -BeFalse
        Get-StoreSnapshot $h | Should -Be $store
        @(Get-AuditLines $h).Count | Should -Be $audit
        (Get-HsmModule -HostPath $h -Esn $a).FirmwareVersion | Should -Be '13.7.0-sim'
    }

    It 'refuses a truncated package before any module is contacted' {
        $file = New-Package 'truncated.pkg' @{ Defect = 'Truncated' }
        $before = @(Get-HsmLog -HostPath $h -Esn $a | Where-Object Service -eq 'updater').Count
        $module = Get-ModuleSide $a
        $e = { Update-HsmFirmware -HostPath $h -Esn $a -Path $file -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'FirmwarePackageInvalid,*' -PassThru
        # The one line speaks of the package, not of a key file (the wire reader it shares with key files).
        $e.Exception.Message | Should -Match 'ends early'
        $e.Exception.Message | Should -Not -Match '(?i)\bkey\b'
        # No updater command reached the module.
        @(Get-HsmLog -HostPath $h -Esn $a | Where-Object Service -eq 'updater').Count | Should -Be $before
        Get-ModuleSide $a | Should -BeLike $module
        { Update-HsmFirmware -HostPath $h -Esn $a -Path (Join-Path $pkgDir 'missing.pkg') -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'PathNotFound,*'
    }

    It '-WhatIf sends nothing' {
        $file = New-Package 'whatif.pkg' @{ Version = '13.9.0-sim'; Vsn = 6 }
        $module = Get-ModuleSide $a
        Update-HsmFirmware -HostPath $h -Esn $a -Path $file -WhatIf | Should -BeNullOrEmpty
        Get-ModuleSide $a | Should -BeLike $module
    }
}

Describe 'Set-HsmMinimumVsn' {
    It 'is ConfirmImpact High' {
        (Get-Command Set-HsmMinimumVsn).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0].ConfirmImpact |
            Should -Be 'High'
        (Get-Command Update-HsmFirmware).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0].ConfirmImpact |
            Should -Be 'High'
    }

    It 'refuses a minimum above the installed firmware''s VSN, or below the current minimum, and changes nothing: <Vsn>' -ForEach @(
        @{ Vsn = 6; Match = 'above the installed' }
        @{ Vsn = 2; Match = 'below the current minimum' }
    ) {
        $module = Get-ModuleSide $a
        $err = $null
        Set-HsmMinimumVsn -HostPath $h -Esn $a -Vsn $Vsn -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MinimumVsnInvalid,*'
        $err[0].Exception.Message | Should -Match $Match
        Get-ModuleSide $a | Should -BeLike $module
        (Get-HsmModule -HostPath $h -Esn $a).MinimumVsn | Should -Be 3
    }

    It 'raises the minimum up to the installed VSN; a package below it is then refused' {
        $r = Set-HsmMinimumVsn -HostPath $h -Esn $a -Vsn 5 -Confirm:$false
        $r.PSObject.TypeNames[0] | Should -Be 'NShield.HsmAdmin.Operations.HsmMinimumVsnResult'
        $r.MinimumVsn | Should -Be 5
        (Get-HsmModule -HostPath $h -Esn $a).MinimumVsn | Should -Be 5
        (Get-ModuleState $a).images.minimumVsn | Should -Be 5
        $older = Join-Path $pkgDir 'older.pkg'
        { Update-HsmFirmware -HostPath $h -Esn $a -Path $older -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'FirmwareVsnTooLow,*'
        (Get-HsmModule -HostPath $h -Esn $a).FirmwareVsn | Should -Be 5
    }
}

Describe 'The ncoreapi interlock' {
    AfterEach { Set-HsmSimulatedModule -Esn $b -NCoreApiSession $false -SimulatorPath $sim.Path | Out-Null }

    It 'refuses firmware and minimum VSN changes while ncoreapi is operational, names the way out; reads still work' {
        Set-HsmSimulatedModule -Esn $b -NCoreApiSession $true -SimulatorPath $sim.Path | Out-Null
        $m = Get-HsmModule -HostPath $h -Esn $b
        $m.NCoreApiOperational | Should -BeTrue
        Test-HsmConnection -HostPath $h -Esn $b | Should -BeTrue
        $module = Get-ModuleSide $b
        $good = New-Package 'interlock.pkg' @{ Version = '13.7.0-sim'; Vsn = 5 }
        $err = $null
        Update-HsmFirmware -HostPath $h -Esn $b -Path $good -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'NCoreApiOperational,*'
        $err[0].Exception.Message | Should -Match 'Stop the hardserver'
        $err[0].Exception.Message | Should -Match 'init.d-ncipher stop'
        { Set-HsmMinimumVsn -HostPath $h -Esn $b -Vsn 4 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'NCoreApiOperational,*'
        Get-ModuleSide $b | Should -BeLike $module
        (Get-HsmModule -HostPath $h -Esn $b).FirmwareVersion | Should -Be '13.6.0-sim'
        # Once the hardserver let go, the same command works.
        Set-HsmSimulatedModule -Esn $b -NCoreApiSession $false -SimulatorPath $sim.Path | Out-Null
        (Update-HsmFirmware -HostPath $h -Esn $b -Path $good -Confirm:$false).Version | Should -Be '13.7.0-sim'
    }
}

Describe 'Firmware in Recovery mode' {
    It 'restarts by itself into normal mode, in factory state; the host forgets the old pins and enrolls it again' {
        Set-HsmSimulatedModule -Esn $b -PressRecoveryButton -SimulatorPath $sim.Path | Out-Null
        (Invoke-HsmEnroll -HostPath $h -Esn $b -WarningAction SilentlyContinue).Mode | Should -Be 'Recovery'
        $recovery = New-Package 'recovery.pkg' @{ Version = '13.7.2-sim'; Vsn = 5; Image = 'recovery' }
        $r = Update-HsmFirmware -HostPath $h -Esn $b -Path $recovery -Confirm:$false
        $r.Image | Should -Be 'recovery'
        $r.Rebooted | Should -BeTrue
        $r.Mode | Should -Be 'FactoryState'
        (Get-ModuleState $b).mode | Should -Be 'FactoryState'
        $m = Get-HsmModule -HostPath $h -Esn $b
        $m.Status | Should -Be 'NotEnrolled'
        $m.Mode | Should -Be 'FactoryState'
        $m.RecoveryFirmwareVersion | Should -Be '13.7.2-sim'
        # ncoreapi runs again (normal mode): enroll verifies every channel, ncoreapi included.
        $e = Invoke-HsmEnroll -HostPath $h -Esn $b
        $e.Action | Should -Be 'Enrolled'
        $e.Mode | Should -Be 'Operational'
        Test-HsmConnection -HostPath $h -Esn $b | Should -BeTrue
    }
}
