# Issue 23 (items 1, 2, 3, 4, 6, 7, 9, 13): where a typed path, another account, a killed process or a second store
# meets the host store. Real host stores, simulated modules over real SSH, the built module.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
}
AfterAll { Remove-TestHosts }

Describe 'Backup paths (issue 23, items 1 and 7)' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $keyFile = Join-Path $h 'client-keys/sshadmin.key'
    }

    It 'refuses -HostTied -Force onto the store''s own sshadmin key with PathRefused; the key, audit log and connections are unchanged' {
        $before = Get-StoreSnapshot $h
        $audit = Get-AuditLines $h
        { Backup-HsmSshKey -HostPath $h -HostTied -Force -Path $keyFile -Confirm:$false } |
            Should -Throw -ErrorId 'PathRefused,NShield.HsmAdmin.Commands.BackupHsmSshKeyCommand'
        Get-StoreSnapshot $h | Should -Be $before
        Get-AuditLines $h | Should -Be $audit
        (Test-HsmConnection -HostPath $h -Detailed | Where-Object { -not $_.Success }) | Should -BeNullOrEmpty
    }

    It 'refuses a link that leads into the store, naming where it resolves to' {
        $link = Join-Path (New-TestHostPath 'backups') 'sshadmin.backup'
        New-Item -ItemType SymbolicLink -Path $link -Target $keyFile | Out-Null
        $e = { Backup-HsmSshKey -HostPath $h -HostTied -Force -Path $link -Confirm:$false } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'PathRefused,*'
        $e.Exception.Message | Should -BeLike "*resolves to '$keyFile'*"
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'gives PathRefused, not an IOException, for a folder as -Path, and writes nothing into it' {
        $folder = New-TestHostPath 'backup-folder'
        $e = { Backup-HsmSshKey -HostPath $h -HostTied -Path $folder -Confirm:$false } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'PathRefused,*'
        $e.Exception.Message | Should -BeLike '*is a folder*'
        Get-ChildItem $folder -Force | Should -BeNullOrEmpty
    }
}

Describe 'A missing store is said, never created (issue 23, item 9)' {
    BeforeAll {
        $parent = New-TestHostPath 'missing'
        $mistyped = Join-Path $parent 'no-such-store'
        # A store that exists but registers no module (made by a setting, as an administrator might start).
        $empty = Join-Path (New-TestHostPath 'empty') 'store'
        Set-HsmHostConfiguration -HostPath $empty -HardserverProcessName hardserver -Confirm:$false
        $commands = @{
            'Invoke-HsmEnroll'    = { param($p) Invoke-HsmEnroll -HostPath $p -Confirm:$false }
            'Get-HsmModule'       = { param($p) Get-HsmModule -HostPath $p }
            'Get-HsmLog'          = { param($p) Get-HsmLog -HostPath $p }
            'Reset-HsmModule'     = { param($p) Reset-HsmModule -HostPath $p -Confirm:$false }
            'Test-HsmConnection'  = { param($p) Test-HsmConnection -HostPath $p }
            'Get-HsmSshKey -Module' = { param($p) Get-HsmSshKey -Module -HostPath $p }
        }
    }

    It '<Name> with a mistyped -HostPath fails with StoreNotFound naming the path, and creates nothing' -ForEach @(
        @{ Name = 'Invoke-HsmEnroll' }, @{ Name = 'Get-HsmModule' }, @{ Name = 'Get-HsmLog' }, @{ Name = 'Reset-HsmModule' }, @{ Name = 'Test-HsmConnection' }
    ) {
        $e = { & $commands[$Name] $mistyped } | Should -Throw -PassThru
        $e.FullyQualifiedErrorId | Should -BeLike 'StoreNotFound,*'
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $e.TargetObject | Should -Be $mistyped
        $e.Exception.Message | Should -BeLike "*'$mistyped'*"
        Test-Path $mistyped | Should -BeFalse
    }

    It '<Name> on a store with no registered module warns that there is none, and a read creates no store.lock' -ForEach @(
        @{ Name = 'Invoke-HsmEnroll' }, @{ Name = 'Get-HsmModule' }, @{ Name = 'Get-HsmLog' }, @{ Name = 'Reset-HsmModule' }, @{ Name = 'Test-HsmConnection' },
        @{ Name = 'Get-HsmSshKey -Module' }
    ) {
        Remove-Item (Join-Path $empty 'store.lock*') -Force -ErrorAction SilentlyContinue
        $before = Get-StoreSnapshot $empty
        $warned = @(& $commands[$Name] $empty 3>&1 | Where-Object { $_ -is [System.Management.Automation.WarningRecord] })
        ($warned -join ' ') | Should -BeLike "*$empty has no registered modules*Register-HsmModule*"
        # Not for enroll: it still makes the host's client keys on a store without modules (left as it is, see the report).
        if ($Name -ne 'Invoke-HsmEnroll') { Get-StoreSnapshot $empty | Should -Be $before }
        if ($Name -in 'Get-HsmModule', 'Get-HsmLog', 'Test-HsmConnection') { Test-Path (Join-Path $empty 'store.lock') | Should -BeFalse }
    }

    It 'Get-HsmSshKey on a store that holds no keys says so, every time, and changes nothing' {
        $before = Get-StoreSnapshot $empty
        foreach ($i in 1..3) {
            $out = @(Get-HsmSshKey -HostPath $empty 3>&1)
            @($out | Where-Object { $_ -isnot [System.Management.Automation.WarningRecord] }) | Should -BeNullOrEmpty
            ($out -join ' ') | Should -BeLike "*$empty holds no SSH keys yet*Invoke-HsmEnroll*"
        }
        # A filter that matches nothing is not that warning: the store was asked something else.
        @(Get-HsmSshKey -HostPath $empty -Role Client 3>&1) | Should -BeNullOrEmpty
        Get-StoreSnapshot $empty | Should -Be $before
    }

    It 'Update-HsmSshKey on a store with no keys says to register and enroll first, and changes nothing' {
        $before = Get-StoreSnapshot $empty
        $e = { Update-HsmSshKey -HostPath $empty -Confirm:$false } | Should -Throw -ErrorId 'NoClientKeys,*' -PassThru
        $e.Exception.Message | Should -BeLike "*$empty*no client keys to roll*Register-HsmModule*Invoke-HsmEnroll*-HostPath*"
        Get-StoreSnapshot $empty | Should -Be $before
    }
}

Describe 'A simulated host is its own machine (issue 23, item 2)' {
    It 'refuses a machine folder another account owns or can write, and a move that would strand the G keys; nothing changes' {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $before = Get-StoreSnapshot $h
        $current = (Get-HsmHostConfiguration -HostPath $h).MachineFolder
        $base = New-TestHostPath 'machines'
        $open = Join-Path $base 'open'
        New-Item -ItemType Directory $open | Out-Null
        chmod 777 $open
        { Set-HsmHostConfiguration -HostPath $h -MachineFolder $open -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'StoreInsecurePermissions,*'
        $empty = Join-Path $base 'empty'
        New-Item -ItemType Directory $empty | Out-Null
        $e = { Set-HsmHostConfiguration -HostPath $h -MachineFolder $empty -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'MachineFolderMissingNonce,*' -PassThru
        $e.Exception.Message | Should -Match 'Copy the machine folder'
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmHostConfiguration -HostPath $h).MachineFolder | Should -Be $current
        # Copied there first (owners and modes kept): accepted, and the keys still open.
        $copy = Join-Path $base 'copy'
        cp -a $current $copy
        Set-HsmHostConfiguration -HostPath $h -MachineFolder $copy -Confirm:$false
        (Get-HsmHostConfiguration -HostPath $h).MachineFolder | Should -Be $copy
        Test-HsmConnection -HostPath $h | Should -BeTrue
        # Checked where G is used too: a folder opened to others after it was configured opens no key.
        chmod 777 $copy
        try {
            $errs = $null
            Test-HsmConnection -HostPath $h -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
            @($errs | Where-Object { "$($_.FullyQualifiedErrorId)$($_.Exception.Message)" -match 'StoreInsecurePermissions|writable by' }) |
                Should -Not -BeNullOrEmpty -Because ($errs | Out-String)
        }
        finally { chmod 700 $copy }
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
    It 'keeps its global nonce in the simulator''s machine folder, never in the machine folder this machine uses' {
        # This machine's own machine folder (/etc/opt/nfast/hsmadmin) is never written; the run as a whole checks that it
        # did not appear (Invoke-PesterSuite.ps1), this test checks where the simulated host's nonce went instead.
        function Listing { @(Get-ChildItem '/etc/opt/nfast/hsmadmin' -Recurse -Force -ErrorAction SilentlyContinue |
            ForEach-Object { "$($_.FullName) $($_.LastWriteTimeUtc.Ticks)" }) -join "`n" }
        $before = Listing
        $sim = Start-TestSimulator -ModuleCount 1
        Invoke-HsmEnroll -HostPath $sim.HostPath | Out-Null
        Test-HsmConnection -HostPath $sim.HostPath | Should -BeTrue
        Listing | Should -Be $before
        $machine = (Get-HsmHostConfiguration -HostPath $sim.HostPath).MachineFolder
        $machine | Should -Be (Join-Path $sim.Path 'machine')
        $id = (Get-Content (Join-Path $sim.HostPath 'store-id')).Trim()
        Test-Path (Join-Path $machine "stores/$id/global.nonce") | Should -BeTrue
        (Get-Content (Join-Path $sim.HostPath 'client-keys/sshadmin.json') | ConvertFrom-Json).nonceStore | Should -Be $id
    }
}
