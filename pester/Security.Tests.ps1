# Issue 16, parts 7 and 8: the audit log (hash chain, OS user, torn line) and the store's StrictModes, through the
# built module on real host stores (simulator over real SSH).
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    $script:realUser = (& id -un).Trim()
    function Get-AuditEntries([string] $HostPath) { Get-AuditLines $HostPath | ForEach-Object { $_ | ConvertFrom-Json } }
}
AfterAll { Remove-TestHosts }

Describe 'Test-HsmAuditLog on an enrolled host' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $log = Join-Path $h 'audit.log'
    }

    It 'finds the log valid and fully chained, with the store''s own entries for the trust changes' {
        $r = Test-HsmAuditLog -HostPath $h
        $r | Should -BeOfType 'NShield.HsmAdmin.Store.HsmAuditLogTestResult'
        $r.Valid | Should -BeTrue
        $r.Entries | Should -Be (Get-AuditLines $h).Count
        $r.ChainedEntries | Should -Be $r.Entries
        $r.UnchainedEntries | Should -Be 0
        $r.TornLastLine | Should -BeFalse
        $r.BrokenLine | Should -BeNullOrEmpty
        $r.Path | Should -Be $log
        $ops = (Get-AuditEntries $h).operation
        foreach ($op in 'trustedroot.add', 'pins.set', 'clientkey.save', 'enroll') { $ops | Should -Contain $op }
        (Get-AuditEntries $h)[0].prev | Should -Be ('0' * 64)
    }

    It 'shows the result in its list view' {
        $text = Test-HsmAuditLog -HostPath $h | Out-String
        $text | Should -Match 'Valid\s+: True'
        $text | Should -Match 'BrokenLine'
        $text | Should -Match 'LastHash\s+: [0-9a-f]{64}'
    }

    It 'records trusted root changes under the OS account even when USER, USERNAME and LOGNAME say otherwise' {
        $key = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey
        $saved = $env:USER, $env:USERNAME, $env:LOGNAME
        try {
            $env:USER = 'mallory'; $env:USERNAME = 'mallory'; $env:LOGNAME = 'mallory'
            Add-HsmTrustedRoot -HostPath $h -Name extra-root -PublicKey $key -Confirm:$false | Out-Null
            Remove-HsmTrustedRoot -HostPath $h -Name extra-root -Confirm:$false
        }
        finally { $env:USER, $env:USERNAME, $env:LOGNAME = $saved }
        $last = (Get-AuditEntries $h)[-2, -1]
        $last.operation | Should -Be 'trustedroot.add', 'trustedroot.remove'
        $last.user | Should -Be $realUser, $realUser
        $realUser | Should -Not -Be 'mallory'
        (Test-HsmAuditLog -HostPath $h).Valid | Should -BeTrue
    }

    It 'names the first broken line when an entry is edited, and is valid again once it is restored' {
        $original = [IO.File]::ReadAllText($log)
        try {
            $lines = $original.Split("`n")
            $lines[1] = $lines[1] -replace '"result":"[A-Za-z]+"', '"result":"Forged"'
            [IO.File]::WriteAllText($log, ($lines -join "`n"))
            $r = Test-HsmAuditLog -HostPath $h
            $r.Valid | Should -BeFalse
            $r.BrokenLine | Should -Be 3
            $r.Reason | Should -Match 'line 2 was changed'
        }
        finally { [IO.File]::WriteAllText($log, $original) }
        (Test-HsmAuditLog -HostPath $h).Valid | Should -BeTrue
    }

    It 'tolerates a torn last line, and the next change records and drops it' {
        [IO.File]::AppendAllText($log, '{"time":"2026-11-30T06:01:42+00:00","operat')
        $r = Test-HsmAuditLog -HostPath $h
        $r.Valid | Should -BeTrue
        $r.TornLastLine | Should -BeTrue
        Get-HsmTrustedRoot -HostPath $h | Should -Not -BeNullOrEmpty # the store still opens
        $key = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey
        Add-HsmTrustedRoot -HostPath $h -Name after-torn -PublicKey $key -Confirm:$false | Out-Null
        $ops = (Get-AuditEntries $h)[-2, -1].operation
        $ops | Should -Be 'audit.torn', 'trustedroot.add'
        $after = Test-HsmAuditLog -HostPath $h
        $after.Valid | Should -BeTrue
        $after.TornLastLine | Should -BeFalse
    }
}

Describe 'A host store other accounts can change' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $keyFile = Join-Path $h 'client-keys/sshadmin.key'
    }
    AfterEach { chmod 755 $h; chmod 600 $keyFile }

    It 'is refused when its folder is group-writable, with StoreInsecurePermissions naming the folder' {
        chmod g+w $h
        { Get-HsmTrustedRoot -HostPath $h -ErrorAction Stop } | Should -Throw -ErrorId 'StoreInsecurePermissions*'
        $err = $null
        try { Get-HsmTrustedRoot -HostPath $h -ErrorAction Stop } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'SecurityError'
        $err.TargetObject | Should -Be $h
        $err.Exception.Message | Should -Match 'writable by its group \(mode 0775\)'
    }

    It 'is refused when a private key is readable by others, naming the key file and not showing it' {
        chmod o+r $keyFile
        $backup = Join-Path (New-TestHostPath 'bak') 'sshadmin.bak'
        $err = $null
        try { Backup-HsmSshKey -HostPath $h -Path $backup -HostTied -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'StoreInsecurePermissions*'
        $err.TargetObject | Should -Be $keyFile
        $err.Exception.Message | Should -Match 'private key file .* readable by other accounts \(mode 0604; it must be 0600\)'
        $err.Exception.Message | Should -Not -Match 'BEGIN OPENSSH'
        $err.Exception.Message | Should -Not -Match ([regex]::Escape((Get-Content $keyFile)[1]))
        $backup | Should -Not -Exist
    }

    It 'works again once the modes are fixed' {
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}
