# Issues 6 and 14: the class-based DSC resource HsmEnrollment, defined in the product's root module
# (bin/NShield.HsmAdmin.psm1) and exported by its manifest (DscResourcesToExport), driven as Invoke-DscResource drives
# it: a new instance per call, properties set from a hashtable, then Get(), Test() or Set().
# (PSDesiredStateConfiguration and the dsc tool are not installable here.) Real sshd modules from the simulator.
# pester/Package.Tests.ps1 finds the installed copy by DSC v3's adapter discovery rules.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $dscManifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    $dscModule = Import-Module $dscManifest -Force -PassThru
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    # What Invoke-DscResource -Method Get|Test|Set does for a class-based resource, with its return shapes.
    function Invoke-TestDscResource([ValidateSet('Get', 'Test', 'Set')][string] $Method, [hashtable] $Property) {
        $resource = & $dscModule { [HsmEnrollment]::new() }
        foreach ($p in $Property.GetEnumerator()) { $resource.($p.Key) = $p.Value }
        switch ($Method) {
            'Get' { $resource.Get() }
            'Test' { [pscustomobject]@{ InDesiredState = $resource.Test() } }
            'Set' { $resource.Set(); [pscustomobject]@{ RebootRequired = $false } }
        }
    }
    # Test device: a client key "generated N days ago". The store keeps each client key's creation time in
    # <HostPath>/client-keys/<service>.json (createdAt, ISO 8601); Get-HsmSshKey reports it as Created and Age.
    # Rewriting it is the only way to age a key without waiting; nothing else in the file changes. -Unknown removes it, as
    # in a record written before creation times were kept (tracksCreation false).
    function Set-TestClientKeyAge([string] $HostPath, [string] $Service, [int] $Days, [switch] $Unknown) {
        $file = Join-Path $HostPath "client-keys/$Service.json"
        $json = Get-Content $file -Raw | ConvertFrom-Json
        if ($Unknown) { $json.PSObject.Properties.Remove('createdAt'); $json.tracksCreation = $false }
        else { $json.createdAt = [DateTimeOffset]::UtcNow.AddDays(-$Days).ToString('o') }
        $json | ConvertTo-Json -Depth 5 | Set-Content $file
    }
}
AfterAll { Remove-TestHosts }

Describe 'DSC resource HsmEnrollment: declaration' {
    It 'is exported by the module manifest, with the DSC attributes Invoke-DscResource reads' {
        (Import-PowerShellDataFile $dscManifest).DscResourcesToExport | Should -Be @('HsmEnrollment')
        $dscModule.ExportedDscResources | Should -Be @('HsmEnrollment')
        $type = & $dscModule { [HsmEnrollment] }
        $type.GetCustomAttributes([System.Management.Automation.DscResourceAttribute], $false) | Should -Not -BeNullOrEmpty
        $key = $type.GetProperty('HostPath').GetCustomAttributes([System.Management.Automation.DscPropertyAttribute], $false)[0]
        $key.Key | Should -BeTrue
        foreach ($reported in 'EnrolledModuleCount', 'NotEnrolledEsns', 'OldestClientKeyAge', 'ChannelsHealthy') {
            $type.GetProperty($reported).GetCustomAttributes([System.Management.Automation.DscPropertyAttribute], $false)[0].NotConfigurable | Should -BeTrue
        }
        foreach ($m in 'Get', 'Test', 'Set') { $type.GetMethod($m) | Should -Not -BeNullOrEmpty }
    }
    It 'has Reasons in the form Azure Machine Configuration reads: NotConfigurable, a prefixed class with Code and Phrase' {
        $type = & $dscModule { [HsmEnrollment] }
        $reasons = $type.GetProperty('Reasons')
        $reasons.GetCustomAttributes([System.Management.Automation.DscPropertyAttribute], $false)[0].NotConfigurable | Should -BeTrue
        $reasons.PropertyType.IsArray | Should -BeTrue
        $reason = $reasons.PropertyType.GetElementType()
        $reason.Name | Should -Be 'HsmEnrollmentReason'
        foreach ($p in 'Code', 'Phrase') {
            $reason.GetProperty($p).PropertyType | Should -Be ([string])
            $reason.GetProperty($p).GetCustomAttributes([System.Management.Automation.DscPropertyAttribute], $false) | Should -Not -BeNullOrEmpty
        }
    }
    It 'resolves in a fresh runspace from the module alone, as Invoke-DscResource would load it' {
        $empty = New-TestHostPath 'dsc-empty'
        $ps = [PowerShell]::Create()
        try {
            $ps.AddScript("`$m = Import-Module '$dscManifest' -PassThru; & `$m { (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly.GetName().Name; ('HsmEnrollment' -as [type])::new() | ForEach-Object { `$_.HostPath = '$empty'; `$_.Test() } }") | Out-Null
            $out = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $out[0] | Should -Be 'NShield.HsmAdmin'
            $out[1] | Should -BeFalse -Because 'a host with no module is not enrolled'
        }
        finally { $ps.Dispose() }
    }
}

Describe 'DSC resource HsmEnrollment against simulated modules' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $desired = @{ HostPath = $h; MaxClientKeyAgeDays = 30; RestartHardserver = $true }
    }
    It 'Test() is false on a fresh host; Get() reports both modules not enrolled and no client keys' {
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeFalse
        $state = Invoke-TestDscResource Get $desired
        $state.EnrolledModuleCount | Should -Be 0
        $state.NotEnrolledEsns | Should -Be ($sim.Modules.Esn | Sort-Object)
        $state.OldestClientKeyAge | Should -Be -1
        $state.ChannelsHealthy | Should -BeFalse
        $state.FailingChannels | Should -Contain "$($sim.Modules[0].Esn)/sshadmin: ServerKeyNotPinned"
        $state.Reasons.Code | Should -Contain 'HsmEnrollment:HsmEnrollment:NotEnrolled'
        $state.Reasons.Code | Should -Contain 'HsmEnrollment:HsmEnrollment:NoModuleEnrolled'
        ($state.Reasons | Where-Object Code -like '*:NotEnrolled').Phrase | Should -BeLike "*$($sim.Modules[0].Esn)*"
    }
    It 'Set() enrolls every module and restarts the hardserver; Test() is then true' {
        Invoke-TestDscResource Set $desired | Out-Null
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeTrue
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h).Enrolled) | Should -Be @($true, $true)
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
    }
    It 'Get() reports the state: enrolled modules, key age, healthy channels' {
        $state = Invoke-TestDscResource Get $desired
        $state.HostPath | Should -Be $h
        $state.EnrolledModuleCount | Should -Be 2
        $state.EnrolledEsns | Should -Be ($sim.Modules.Esn | Sort-Object)
        $state.NotEnrolledEsns | Should -BeNullOrEmpty
        $state.OldestClientKeyAge | Should -BeLessThan 1
        $state.OldestClientKeyAge | Should -BeGreaterOrEqual 0
        $state.ClientKeysDue | Should -BeNullOrEmpty
        $state.ChannelsHealthy | Should -BeTrue
        $state.FailingChannels | Should -BeNullOrEmpty
        $state.HardserverKeyCurrent | Should -BeTrue
        @($state.Reasons).Count | Should -Be 0 -Because 'a compliant host has no reasons'
    }
    It 'keys older than MaxClientKeyAgeDays make Test() false; Set() rolls exactly those, restarting the hardserver' {
        Set-TestClientKeyAge $h ncoreapi 45
        Set-TestClientKeyAge $h setup 31
        Set-TestClientKeyAge $h monitor 29
        $before = Get-HsmSshKey -HostPath $h -Role Client
        $state = Invoke-TestDscResource Get $desired
        $state.ClientKeysDue | Should -Be @('ncoreapi', 'setup')
        $state.Reasons.Code | Should -Be @('HsmEnrollment:HsmEnrollment:ClientKeyTooOld')
        $state.OldestClientKeyAge | Should -BeGreaterThan 44.9
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeFalse
        (Invoke-TestDscResource Test @{ HostPath = $h; MaxClientKeyAgeDays = 0 }).InDesiredState | Should -BeTrue -Because '0 means no rotation'
        (Invoke-TestDscResource Test @{ HostPath = $h; MaxClientKeyAgeDays = 60 }).InDesiredState | Should -BeTrue

        Invoke-TestDscResource Set $desired | Out-Null

        $after = Get-HsmSshKey -HostPath $h -Role Client
        foreach ($s in 'ncoreapi', 'setup') {
            ($after | Where-Object Service -eq $s).Fingerprint | Should -Not -Be ($before | Where-Object Service -eq $s).Fingerprint
            ([DateTime]::UtcNow - ($after | Where-Object Service -eq $s).InstalledAt.ToUniversalTime()).TotalDays | Should -BeLessThan 1
        }
        foreach ($s in 'sshadmin', 'monitor', 'updater', 'launcher') {
            ($after | Where-Object Service -eq $s).Fingerprint | Should -Be ($before | Where-Object Service -eq $s).Fingerprint
        }
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeTrue
        Test-HsmConnection -HostPath $h | Should -BeTrue
        @((Get-HsmModule -HostPath $h -Offline).HardserverKeyCurrent) | Should -Be @($true, $true)
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
    }
    It 'Get-HsmSshKey shows each client key''s Created and Age; a key of unknown age says so, and the policy rolls it' {
        Set-TestClientKeyAge $h updater 10
        $keys = Get-HsmSshKey -HostPath $h -Role Client
        $updater = $keys | Where-Object Service -eq updater
        $updater.Age.TotalDays | Should -BeGreaterThan 9.9
        $updater.Age.TotalDays | Should -BeLessThan 10.1
        ([DateTime]::UtcNow.AddDays(-10) - $updater.Created.ToUniversalTime()).Duration().TotalMinutes | Should -BeLessThan 5
        # monitor was aged 29 days by the test before (under the maximum, so not rolled).
        ($keys | Where-Object Service -notin 'updater', 'monitor').Age.TotalDays | ForEach-Object { $_ | Should -BeLessThan 1 }
        ($keys | Where-Object Service -eq 'monitor').Age.TotalDays | Should -BeGreaterThan 28.9
        (Get-HsmSshKey -HostPath $h -Role Server | Where-Object { $null -ne $_.Age }) |
            Should -BeNullOrEmpty -Because 'a pinned server key has no known age'
        $table = Get-HsmSshKey -HostPath $h -Role Client -Service updater | Format-Table | Out-String -Width 200
        $table | Should -Match '(?m)updater .* 10d\s*$'

        Set-TestClientKeyAge $h launcher -Unknown
        $launcher = Get-HsmSshKey -HostPath $h -Role Client -Service launcher
        $launcher.Created | Should -BeNullOrEmpty
        $launcher.Age | Should -BeNullOrEmpty
        ($launcher | Format-List | Out-String) | Should -Match 'Age\s+: unknown \(creation time not recorded\)'
        $state = Invoke-TestDscResource Get $desired
        $state.ClientKeysAgeUnknown | Should -Be @('launcher')
        $state.ClientKeysDue | Should -Be @('launcher')
        $state.Reasons.Code | Should -Be @('HsmEnrollment:HsmEnrollment:ClientKeyAgeUnknown')
        $state.Reasons.Phrase | Should -BeLike '*unknown age*launcher*'
        (Invoke-TestDscResource Test @{ HostPath = $h; MaxClientKeyAgeDays = 0 }).InDesiredState | Should -BeTrue -Because 'no policy, no age needed'

        Invoke-TestDscResource Set $desired | Out-Null
        $after = Get-HsmSshKey -HostPath $h -Role Client -Service launcher
        $after.Fingerprint | Should -Not -Be $launcher.Fingerprint
        $after.Age.TotalDays | Should -BeLessThan 1
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeTrue
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'a module added later makes Test() false; Set() enrolls it with the same client keys' {
        $keys = (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint
        $new = Add-HsmSimulatedModule -HostPath $h -SimulatorPath $sim.Path -Confirm:$false
        $state = Invoke-TestDscResource Get $desired
        $state.NotEnrolledEsns | Should -Be @($new.Esn)
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeFalse
        Invoke-TestDscResource Set $desired | Out-Null
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeTrue
        (Invoke-TestDscResource Get $desired).EnrolledModuleCount | Should -Be 3
        (Get-HsmSshKey -HostPath $h -Role Client).Fingerprint | Should -Be $keys
    }
    It 'never trusts a changed server key: Set() throws with ServerKeyChanged and the pin stays' {
        $esn = $sim.Modules[0].Esn
        $pin = (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -Service sshadmin).Fingerprint
        Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey sshadmin -SimulatorPath $sim.Path -Confirm:$false | Out-Null
        $state = Invoke-TestDscResource Get $desired
        $state.ChannelsHealthy | Should -BeFalse
        $state.FailingChannels | Should -Contain "$esn/sshadmin: ServerKeyChanged"
        (Invoke-TestDscResource Test $desired).InDesiredState | Should -BeFalse
        { Invoke-TestDscResource Set $desired } | Should -Throw "*$esn/sshadmin: ServerKeyChanged*"
        (Get-HsmSshKey -HostPath $h -Esn $esn -Role Server -Service sshadmin).Fingerprint | Should -Be $pin
    }
}
