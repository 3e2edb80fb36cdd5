# Issue 12: the vendor's remaining behaviours (hsmadmin keys backup --passphrase, factorystate without an ESN,
# keys restore after the pins were lost, keys show per module, key permissions), over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }

    # A runspace on a recording host (New-TestPromptHost: each secure prompt answered with the next queued text,
    # each PromptForChoice with the next queued index, every question recorded) with the module loaded;
    # Invoke returns the output, or the ErrorRecord it stopped with.
    function New-InteractiveSession {
        $testHost = New-TestPromptHost
        $rs = [runspacefactory]::CreateRunspace($testHost)
        $rs.Open()
        $session = [pscustomobject]@{ Host = $testHost; UI = $testHost.Recorder; Runspace = $rs }
        $null = Invoke-Session $session "Import-Module '$Manifest'" @{}
        $session
    }
    function Invoke-Session($Session, [string] $Script, [hashtable] $Vars) {
        foreach ($k in $Vars.Keys) { $Session.Runspace.SessionStateProxy.SetVariable($k, $Vars[$k]) }
        $ps = [powershell]::Create(); $ps.Runspace = $Session.Runspace
        $null = $ps.AddScript("`$ErrorActionPreference = 'Stop'; try { $Script } catch { `$_ }")
        try { @($ps.Invoke()) } finally { $ps.Dispose() }
    }
    # A runspace with no host at all: what a scheduled task or a service sees.
    function Invoke-Bare([string] $Script, [hashtable] $Vars) {
        $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
        try {
            foreach ($k in $Vars.Keys) { $rs.SessionStateProxy.SetVariable($k, $Vars[$k]) }
            $ps = [powershell]::Create(); $ps.Runspace = $rs
            $null = $ps.AddScript("Import-Module '$Manifest'; `$ErrorActionPreference = 'Stop'; try { $Script } catch { `$_ }")
            @($ps.Invoke())
        }
        finally { $rs.Dispose() }
    }
}
AfterAll { Remove-TestHosts }

Describe 'Backup-HsmSshKey is portable unless -HostTied is asked for (keys backup --passphrase)' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $dir = New-TestHostPath 'backups'
        $sshadmin = Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin
        $session = New-InteractiveSession
    }
    AfterAll { $session.Runspace.Dispose() }
    BeforeEach { $session.UI.SecurePrompts.Clear(); $session.UI.SecureAnswers.Clear() }

    It 'asks for the passphrase twice and writes a portable backup that ssh-keygen opens with it' {
        $file = Join-Path $dir 'typed.key'
        'Typed-Backup-Pass-4417', 'Typed-Backup-Pass-4417' | ForEach-Object { $session.UI.SecureAnswers.Enqueue($_) }
        $r = Invoke-Session $session 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $file }
        $r[0].FullName | Should -Be $file
        $r[0].BackupKind | Should -Be 'Portable'
        $session.UI.SecurePrompts.Count | Should -Be 2
        $derived = ssh-keygen -y -P 'Typed-Backup-Pass-4417' -f $file
        $LASTEXITCODE | Should -Be 0
        ($derived -split ' ')[1] | Should -Be (($sshadmin.PublicKey -split ' ')[1])
        (stat -c '%a' $file) | Should -Be '600'
        (Get-AuditLines $h)[-1] | Should -Match '"keys.backup".*"portable"'
        ($session.UI.Written -join "`n") | Should -Not -Match 'Typed-Backup-Pass-4417'
        # and it restores (the key is the one the modules accept)
        (Restore-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'Typed-Backup-Pass-4417') -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        Assert-ModulesHoldHostKeys $sim $h
    }

    It 'refuses two different passphrases and writes nothing' {
        $file = Join-Path $dir 'mismatch.key'
        'First-Typed-1', 'Second-Typed-2' | ForEach-Object { $session.UI.SecureAnswers.Enqueue($_) }
        $r = Invoke-Session $session 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $file }
        $r[0].FullyQualifiedErrorId | Should -BeLike 'InvalidProtection*'
        $r[0].Exception.Message | Should -Match 'do not match'
        $session.UI.SecurePrompts.Count | Should -Be 2
        $file | Should -Not -Exist
    }

    It 'refuses an empty passphrase, typed or given, and writes nothing' {
        $file = Join-Path $dir 'empty.key'
        $session.UI.SecureAnswers.Enqueue('')
        $r = Invoke-Session $session 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $file }
        $r[0].FullyQualifiedErrorId | Should -BeLike 'InvalidProtection*'
        $r[0].Exception.Message | Should -Match 'empty'
        $session.UI.SecurePrompts.Count | Should -Be 1
        { Backup-HsmSshKey -HostPath $h -Path $file -Passphrase ([securestring]::new()) -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidProtection*'
        $file | Should -Not -Exist
    }

    It 'without a host that can ask and without -Passphrase: KeyPassphraseRequired naming -Passphrase and -HostTied; nothing written' {
        $file = Join-Path $dir 'bare.key'
        $before = Get-AuditLines $h
        $r = Invoke-Bare 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $file }
        $r[0].FullyQualifiedErrorId | Should -BeLike 'KeyPassphraseRequired*'
        $r[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $r[0].Exception.Message | Should -Match '-Passphrase'
        $r[0].Exception.Message | Should -Match '-HostTied'
        $file | Should -Not -Exist
        (Get-AuditLines $h).Count | Should -Be $before.Count
    }

    It 'refuses an existing file, and -WhatIf writes nothing, both before asking' {
        $existing = Join-Path $dir 'existing.key'
        Set-Content $existing 'keep me'
        $r = Invoke-Session $session 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $existing }
        $r[0].FullyQualifiedErrorId | Should -BeLike 'FileExists*'
        Get-Content $existing | Should -Be 'keep me'
        $whatIf = Join-Path $dir 'whatif.key'
        $null = Invoke-Session $session 'Backup-HsmSshKey -HostPath $h -Path $file -WhatIf' @{ h = $h; file = $whatIf }
        $whatIf | Should -Not -Exist
        $session.UI.SecurePrompts.Count | Should -Be 0
    }

    It '-HostTied writes the verbatim copy, and its output and a warning say it is tied to this OS install' {
        $file = Join-Path $dir 'tied.json'
        $r = Backup-HsmSshKey -HostPath $h -Path $file -HostTied -WarningVariable warn -WarningAction SilentlyContinue
        $r.BackupKind | Should -Be 'HostTied'
        $r.Protection | Should -Be 'KFG'
        $r.BackupNote | Should -Match 'only on this OS install'
        ($warn -join ' ') | Should -Match 'only on this OS install'
        (Get-Content -Raw $file | ConvertFrom-Json).Format | Should -Be 'nshield-hsmadmin-key-backup-v1'
        (Get-AuditLines $h)[-1] | Should -Match '"verbatim"'
        # Another OS install (another machine folder, so another global nonce for this store) cannot open it. The product
        # moves a host only to a folder holding its keys' nonces, so the reinstalled machine's folder has one: another value.
        $thisMachine = (Get-HsmHostConfiguration -HostPath $h).MachineFolder
        $reinstalled = New-OtherMachineFolder $h
        Set-HsmHostConfiguration -HostPath $h -MachineFolder $reinstalled -Confirm:$false
        try { { Restore-HsmSshKey -HostPath $h -Path $file -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'BackupFromAnotherMachine*' }
        finally { Set-HsmHostConfiguration -HostPath $h -MachineFolder $thisMachine -Confirm:$false }
    }
}

Describe 'Reset-HsmModule without -Esn resets every module of the host (factorystate without an ESN)' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $esns = @($sim.Modules.Esn | Sort-Object)
        $session = New-InteractiveSession
    }
    AfterAll { $session.Runspace.Dispose() }

    It 'asks once, listing every ESN, and warns about maintenance mode; No resets nothing' {
        $session.UI.ChoiceAnswers.Enqueue(1)   # No
        $pins = Get-PinLines $h
        $r = Invoke-Session $session 'Reset-HsmModule -HostPath $h -Timeout 10 3>&1' @{ h = $h }
        $session.UI.Choices.Count | Should -Be 1
        foreach ($e in $esns) { $session.UI.Choices[0].Text | Should -Match ([regex]::Escape($e)) }
        $session.UI.Choices[0].Text | Should -Match 'every module of this host \(2\)'
        $warnings = @($r | Where-Object { $_ -is [Management.Automation.WarningRecord] })
        $warnings.Count | Should -Be 1
        $warnings[0].Message | Should -Match ([regex]::Escape('nopclearfail -M -m <MODULEID> -w'))
        @($r | Where-Object { $_ -isnot [Management.Automation.WarningRecord] }) | Should -BeNullOrEmpty
        Get-PinLines $h | Should -Be $pins
        Assert-ModulesHoldHostKeys $sim $h
    }

    It '-Timeout stays 3 to 120 seconds without -Esn' {
        { Reset-HsmModule -HostPath $h -Timeout 2 -Confirm:$false } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        { Reset-HsmModule -HostPath $h -Timeout 121 -Confirm:$false } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        Assert-ModulesHoldHostKeys $sim $h
    }

    It 'resets every module once confirmed: each holds no client key and the host forgets their pins' {
        $hostKeys = @((Get-HostKeys $h).Values)
        $r = Reset-HsmModule -HostPath $h -Timeout 10 -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue
        @($r.Esn | Sort-Object) | Should -Be $esns
        @($r.Mode) | Should -Be @('FactoryState', 'FactoryState')
        ($warn -join ' ') | Should -Match 'maintenance mode'
        foreach ($e in $esns) {
            $held = @((Get-ModuleKeys $sim $e).Values | ForEach-Object { $_ })
            foreach ($fp in $hostKeys) { $held | Should -Not -Contain $fp -Because "module $e is in factory state" }
        }
        Get-PinLines $h | Should -BeNullOrEmpty
        @((Get-HsmModule -HostPath $h).Mode) | Should -Be @('FactoryState', 'FactoryState')
    }

    It '-Esn still resets only the named module' {
        Invoke-HsmEnroll -HostPath $h -WarningAction SilentlyContinue | Out-Null
        $r = Reset-HsmModule -HostPath $h -Esn $esns[0] -Timeout 10 -Confirm:$false -WarningAction SilentlyContinue
        $r.Esn | Should -Be $esns[0]
        $held = @((Get-ModuleKeys $sim $esns[0]).Values | ForEach-Object { $_ })
        foreach ($fp in (Get-HostKeys $h).Values) { $held | Should -Not -Contain $fp }
        Assert-ModulesHoldHostKeys $sim $h -Esn $esns[1]
    }
}

Describe 'Restore-HsmSshKey -AcceptFingerprint when the pins were lost too and no vendor root is trusted' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Get-HsmTrustedRoot -HostPath $h | Remove-HsmTrustedRoot -HostPath $h -Confirm:$false
        $fingerprints = @($sim.Modules | ForEach-Object { $_.Endpoint('sshadmin').ServerKeyFingerprint })
        Invoke-HsmEnroll -HostPath $h -AcceptFingerprint $fingerprints | Out-Null
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.key'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $pinsBefore = Get-PinLines $h
        function Lose-KeysAndPins {
            Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
            Remove-Item (Join-Path $h 'known_hosts') -Force
        }
    }

    It 'without -AcceptFingerprint fails per module with FingerprintNotConfirmed naming the fingerprint, and changes nothing' {
        Lose-KeysAndPins
        $before = Get-StoreSnapshot $h
        $stop = $null
        try { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue }
        catch { $stop = $_ }
        $stop.FullyQualifiedErrorId | Should -BeLike 'RestoreKeyNotAccepted*'
        $notConfirmed = @($errs | Where-Object FullyQualifiedErrorId -like 'FingerprintNotConfirmed*')
        $notConfirmed.Count | Should -Be 2
        foreach ($fp in $fingerprints) { ($notConfirmed.Exception.Message -join ' ') | Should -Match ([regex]::Escape("-AcceptFingerprint '$fp'")) }
        $notConfirmed[0].Exception.Message | Should -Match ([regex]::Escape("Restore-HsmSshKey -HostPath '$h' with the same -Path"))
        Get-StoreSnapshot $h | Should -Be $before
    }

    It 'with the confirmed fingerprints pins the modules again and completes the restore' {
        $r = Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -AcceptFingerprint $fingerprints -Confirm:$false -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        @(Get-PinLines $h | Sort-Object) | Should -Be @($pinsBefore | Sort-Object)
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $h
    }

    It 'a fingerprint of another module does not pin this one' {
        Lose-KeysAndPins
        $m0 = $sim.Modules[0].Esn; $m1 = $sim.Modules[1].Esn
        function Flat($keys) { $keys.Keys | Sort-Object | ForEach-Object { "$_=" + ($keys[$_] -join ',') } }
        $m1Before = Flat (Get-ModuleKeys $sim $m1)
        $r = Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -AcceptFingerprint $fingerprints[0] -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        @($r.ModulesUpdated) | Should -Be @($m0)
        $r.ModulesUpdated | Should -Not -Contain $m1
        @($errs | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('FingerprintNotConfirmed')
        $errs[0].TargetObject | Should -Be $m1
        # The module side: module 0 holds the restored keys; module 1 was not touched.
        Assert-ModulesHoldHostKeys $sim $h -Esn $m0
        Flat (Get-ModuleKeys $sim $m1) | Should -Be $m1Before
        @(Get-PinLines $h | Where-Object { $_ -match $sim.Modules[1].Esn }) | Should -BeNullOrEmpty
        Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -AcceptFingerprint $fingerprints -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        @(Get-PinLines $h | Sort-Object) | Should -Be @($pinsBefore | Sort-Object)
        Assert-ModulesHoldHostKeys $sim $h
    }

}

Describe 'Restore-HsmSshKey -AcceptFingerprint never replaces a pin' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Get-HsmTrustedRoot -HostPath $h | Remove-HsmTrustedRoot -HostPath $h -Confirm:$false
        $fingerprint = $sim.Modules[0].Endpoint('sshadmin').ServerKeyFingerprint
        Invoke-HsmEnroll -HostPath $h -AcceptFingerprint $fingerprint | Out-Null
        $backup = Join-Path (New-TestHostPath 'bk') 'sshadmin.key'
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') | Out-Null
        $pinsFull = Get-PinLines $h
        # Restores accepting $Accept and asserts the refusal: ServerKeyChanged then RestoreKeyNotAccepted, the pins
        # still exactly $Pins, the store unchanged, the modules still holding the host's keys.
        function Assert-RestoreRefused([string[]] $Accept, [string[]] $Pins) {
            $before = Get-StoreSnapshot $h
            $errs = $null; $stop = $null
            try { Restore-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure 'backup-pass-2417') -AcceptFingerprint $Accept -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null }
            catch { $stop = $_ }
            # The error records the cmdlet wrote; -ErrorVariable also holds the stop's exception (not a record), which is $stop.
            @($errs | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('ServerKeyChanged')
            ($stop.FullyQualifiedErrorId -split ',')[0] | Should -Be 'RestoreKeyNotAccepted'
            Get-PinLines $h | Should -Be $Pins
            Get-StoreSnapshot $h | Should -Be $before
            Assert-ModulesHoldHostKeys $sim $h
        }
    }

    It 'a lost sshadmin pin beside a conflicting ncoreapi pin: ServerKeyChanged, pins kept' {
        Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path | Out-Null
        $kept = @(Get-PinLines $h | Where-Object { $_ -notmatch "nshield-$esn-sshadmin " })
        $kept.Count | Should -Be 5
        Set-Content (Join-Path $h 'known_hosts') $kept
        Assert-RestoreRefused $fingerprint $kept
    }

    It 'a changed sshadmin key under its pin stays ServerKeyChanged even with its new fingerprint accepted' {
        $pins = $pinsFull
        Set-Content (Join-Path $h 'known_hosts') $pins
        $new = (Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey sshadmin -SimulatorPath $sim.Path).Endpoint('sshadmin').ServerKeyFingerprint
        Assert-RestoreRefused @($fingerprint, $new) $pins
    }
}

Describe 'Get-HsmSshKey -Module and Get-HsmModule KeyDrift: the keys each module really holds (keys show per HSM)' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $a, $b = @($sim.Modules.Esn | Sort-Object)
        # The module-side truth, as a string per module: "service=fp" for every key it holds (Get-ModuleKeys reads its files).
        function Held($esn) { $k = Get-ModuleKeys $sim $esn; @($k.Keys | Sort-Object | ForEach-Object { $s = $_; $k[$s] | ForEach-Object { "$s=$_" } }) }
    }

    It 'shows every key Current when each module holds exactly the host keys, and KeyDrift None' {
        $keys = @(Get-HsmSshKey -HostPath $h -Module)
        $keys.Count | Should -Be 12
        @($keys | Where-Object State -ne 'Current') | Should -BeNullOrEmpty
        $hostKeys = Get-HostKeys $h
        foreach ($k in $keys) { $k.Fingerprint | Should -Be $hostKeys[$k.Service] }
        foreach ($e in $a, $b) { @($keys | Where-Object Esn -eq $e | ForEach-Object { "$($_.Service)=$($_.Fingerprint)" } | Sort-Object) | Should -Be (Held $e) }
        $keys[0].GetType().Name | Should -Be 'HsmModuleKeyInfo'
        ($keys | Out-String) | Should -Match 'Current'
        @((Get-HsmModule -HostPath $h).KeyDrift) | Should -Be @('None', 'None')
        @((Get-HsmModule -HostPath $h -Offline).KeyDrift | Where-Object { $_ }) | Should -BeNullOrEmpty
    }

    It 'marks a key the host does not know as Stale on the module that holds it' {
        # Someone installed an extra ncoreapi key on module A (the module's own authorized_keys, as keys.add would).
        $file = Get-ChildItem $sim.Path -Recurse -Filter authorized_keys | Where-Object { $_.FullName -match $a -and $_.FullName -match 'ncoreapi' } | Select-Object -First 1
        $file | Should -Not -BeNullOrEmpty
        $foreign = Join-Path (New-TestHostPath 'foreign') 'id'
        ssh-keygen -q -t ed25519 -N '' -f $foreign | Out-Null
        Add-Content $file.FullName (Get-Content "$foreign.pub")
        $fp = ((ssh-keygen -l -f "$foreign.pub") -split ' ')[1]
        (Held $a) | Should -Contain "ncoreapi=$fp"

        $keys = @(Get-HsmSshKey -HostPath $h -Module -Esn $a -Service ncoreapi)
        $keys.Count | Should -Be 2
        ($keys | Where-Object State -eq 'Stale').Fingerprint | Should -Be $fp
        ($keys | Where-Object State -eq 'Stale').KnownAs | Should -Be ''
        ($keys | Where-Object State -eq 'Current').Fingerprint | Should -Be (Get-HostKeys $h)['ncoreapi']
        $m = Get-HsmModule -HostPath $h
        ($m | Where-Object Esn -eq $a).KeyDrift | Should -Be 'ncoreapi: 1 stale'
        ($m | Where-Object Esn -eq $b).KeyDrift | Should -Be 'None'
    }

    It 'marks the host keys a module lacks as Missing and its old ones as Stale (archived) after a roll that excluded it' {
        $old = Get-HostKeys $h
        Update-HsmSshKey -HostPath $h -ExcludeEsn $b -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        $new = Get-HostKeys $h
        $keys = @(Get-HsmSshKey -HostPath $h -Module -Esn $b)
        @($keys | Where-Object State -eq 'Missing' | ForEach-Object { "$($_.Service)=$($_.Fingerprint)" } | Sort-Object) |
            Should -Be @($new.Keys | Sort-Object | ForEach-Object { "$_=$($new[$_])" })
        @($keys | Where-Object State -eq 'Stale' | ForEach-Object { "$($_.Service)=$($_.Fingerprint)" } | Sort-Object) | Should -Be (Held $b)
        @($keys | Where-Object State -eq 'Stale').KnownAs | Sort-Object -Unique | Should -Be 'archived'
        ($old.Values | Sort-Object) | Should -Be @((Get-ModuleKeys $sim $b).Values | ForEach-Object { $_ } | Sort-Object)
        (Get-HsmModule -HostPath $h -Esn $b).KeyDrift | Should -Be 'sshadmin: missing, 1 stale; ncoreapi: missing, 1 stale; setup: missing, 1 stale; updater: missing, 1 stale; monitor: missing, 1 stale; launcher: missing, 1 stale'
        # and Invoke-HsmEnroll repairs it: the module then holds exactly the host's keys
        Invoke-HsmEnroll -HostPath $h -Esn $b -WarningAction SilentlyContinue | Out-Null
        (Get-HsmModule -HostPath $h -Esn $b).KeyDrift | Should -Be 'None'
        Assert-ModulesHoldHostKeys $sim $h -Esn $b
    }

    It 'an unregistered ESN is UnknownModule and the others still answer' {
        $keys = @(Get-HsmSshKey -HostPath $h -Module -Esn 'AAAA-BBBB-CCCC', $b -ErrorVariable errs -ErrorAction SilentlyContinue)
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'UnknownModule*'
        @($keys.Esn | Sort-Object -Unique) | Should -Be @($b)
    }
}

# Real processes of another account: a throwaway user and group (root only), pwsh started with setpriv.
Describe 'Key permissions: a group granted the ncoreapi key, checked from a non-root process' {
    BeforeAll {
        $script:CanRun = (-not $IsWindows) -and ((id -u) -eq '0') -and (Get-Command setpriv, useradd, groupadd -ErrorAction SilentlyContinue).Count -eq 3
        if (-not $CanRun) { return }
        $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
        $group = "nshg$tag"; $user = "nshu$tag"
        groupadd $group; useradd -M -N -s /usr/sbin/nologin $user
        $uid = [int](id -u $user); $userGid = [int](id -g $user); $gid = [int]((getent group $group) -split ':')[2]
        # Everything the other account reads lives under a folder it may enter (the suite's root is 0700).
        $base = Join-Path ([IO.Path]::GetTempPath()) "nshield-perm-$tag"
        New-Item -ItemType Directory $base | Out-Null; chmod 755 $base
        $h = Join-Path $base 'host'; New-Item -ItemType Directory $h | Out-Null; chmod 755 $h
        $userHome = Join-Path $base 'home'; New-Item -ItemType Directory $userHome | Out-Null; chown "${uid}:${userGid}" $userHome; chmod 700 $userHome
        # pwsh lives under /root (0700 here): hard-link a copy where the account can run it.
        $pwshDir = Join-Path $base 'pwsh'
        cp -al $PSHOME $pwshDir 2>$null; if ($LASTEXITCODE -ne 0) { cp -r $PSHOME $pwshDir }
        # The host's machine folder where the other account may reach it (the simulator's own is under the suite's 0700 root).
        $machine = Join-Path $base 'machine'
        $sim = Start-TestSimulator -ModuleCount 1 -HostPath $h
        Set-HsmHostConfiguration -HostPath $h -MachineFolder $machine -Confirm:$false
        Invoke-HsmEnroll -HostPath $h | Out-Null
        # This store's own global nonce (issue 23): stores/<store id>/global.nonce in the machine folder.
        $nonceDir = Join-Path $machine "stores/$((Get-Content (Join-Path $h 'store-id')).Trim())"
        $nonce = Join-Path $nonceDir 'global.nonce'
        # Runs a script as the throwaway user (in the group unless -NotInGroup); returns its JSON answer.
        function Invoke-AsUser([string] $Script, [switch] $NotInGroup) {
            $groups = if ($NotInGroup) { "$userGid" } else { "$gid" }
            $wrapped = "`$ErrorActionPreference = 'Stop'; Import-Module '$Manifest'; `$h = '$h'; " +
                "function Attempt([scriptblock] `$b) { try { `$r = & `$b; [pscustomobject]@{ Ok = `$true; Value = `$r; Id = ''; Message = '' } } " +
                "catch { [pscustomobject]@{ Ok = `$false; Value = `$null; Id = (`$_.FullyQualifiedErrorId -split ',')[0]; Message = `$_.Exception.Message } } }; " +
                "$Script | ConvertTo-Json -Depth 4 -Compress"
            $out = & setpriv "--reuid=$uid" "--regid=$userGid" "--groups=$groups" --inh-caps=-all env "HOME=$userHome" "DOTNET_CLI_HOME=$userHome" `
                dotnet (Join-Path $pwshDir 'pwsh.dll') -NoProfile -NonInteractive -Command $wrapped 2>&1
            $json = @($out | Where-Object { "$_" -match '^\s*[\[{]' }) | Select-Object -Last 1
            if (-not $json) { throw "The child pwsh gave no answer: $($out -join "`n")" }
            $json | ConvertFrom-Json
        }
        function Mode([string] $path) { stat -c '%a %G' $path }
    }
    AfterAll {
        if ($CanRun) {
            Remove-Item $base -Recurse -Force -ErrorAction SilentlyContinue
            userdel $user 2>$null; groupdel $group 2>$null
        }
    }

    It 'refuses from a non-root account before the grant, with permission errors (never KeyTiedToAnotherMachine)' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd to run a process as a throwaway account'; return }
        $r = Invoke-AsUser "Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi -Detailed }"
        $r.Ok | Should -BeFalse
        # The key file sits in the owner-only client-keys folder: refused as a privilege problem, before any key is read.
        $r.Id | Should -Be 'PrivilegeRequired' -Because $r.Message
    }

    It 'grants the group: key file 0640 with that group, folders traversable only, the global nonce shared; shown and audited' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        $k = Set-HsmSshKeyPermission -HostPath $h -Service ncoreapi -Group $group
        $k.Service | Should -Be 'ncoreapi'
        $k.AccessGroup | Should -Be $group
        Mode (Join-Path $h 'client-keys/ncoreapi.key') | Should -Be "640 $group"
        Mode (Join-Path $h 'client-keys/sshadmin.key') | Should -Be '600 root'
        # Members of the group pass through (not list); other accounts cannot enter at all.
        Mode (Join-Path $h 'client-keys') | Should -Be "710 $group"
        Mode $nonce | Should -Be "640 $group"
        Mode $nonceDir | Should -Be "710 $group"
        (stat -c '%a' $machine) | Should -Be '711'   # the machine folder: pass-through only, for every store's own folder
        @(Get-HsmSshKey -HostPath $h -Role Client | Where-Object AccessGroup | ForEach-Object { "$($_.Service)=$($_.AccessGroup)" }) | Should -Be @("ncoreapi=$group")
        (Get-AuditLines $h)[-1] | Should -Match '"keys.permission".*"Granted"'
        # The store's own checks still pass as root, and still refuse any other group read.
        Test-HsmConnection -HostPath $h | Should -BeTrue
        chmod 640 (Join-Path $h 'client-keys/setup.key')
        try { { Test-HsmConnection -HostPath $h -Service setup -ErrorAction Stop } | Should -Throw -ErrorId 'StoreInsecurePermissions*' }
        finally { chmod 600 (Join-Path $h 'client-keys/setup.key') }
    }

    It 'a member of the group runs read-only commands with the key; a change is refused with PrivilegeRequired' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        $before = Get-StoreSnapshot $h
        $r = Invoke-AsUser ("[pscustomobject]@{ " +
            "Test = Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi }; " +
            "Keys = Attempt { @(Get-HsmSshKey -HostPath `$h).Count }; " +
            "Offline = Attempt { @(Get-HsmModule -HostPath `$h -Offline).Esn }; " +
            "Admin = Attempt { Test-HsmConnection -HostPath `$h -Service sshadmin -Detailed }; " +
            "Roll = Attempt { Update-HsmSshKey -HostPath `$h -Service ncoreapi -Confirm:`$false }; " +
            "Grant = Attempt { Set-HsmSshKeyPermission -HostPath `$h -Service setup -Group $group -Confirm:`$false }; " +
            "Own = Attempt { Register-HsmModule -HostPath (Join-Path `$HOME 'own') -Esn AAAA-BBBB-CCCC -Address 127.0.0.1 -PassThru | Select-Object -ExpandProperty Esn } }")
        $r.Test.Ok | Should -BeTrue
        $r.Test.Value | Should -BeTrue
        $r.Keys.Value | Should -Be 12
        $r.Offline.Value | Should -Be $sim.Modules[0].Esn
        $r.Admin.Ok | Should -BeFalse
        $r.Admin.Id | Should -Be 'PrivilegeRequired'
        $r.Admin.Message | Should -Match 'sshadmin\.key'
        foreach ($change in $r.Roll, $r.Grant) {
            $change.Ok | Should -BeFalse
            $change.Id | Should -Be 'PrivilegeRequired'
            $change.Message | Should -Match 'needs root'
        }
        $r.Own.Ok | Should -BeTrue -Because "a store of one's own needs no privilege: $($r.Own.Message)"
        $r.Own.Value | Should -Be 'AAAA-BBBB-CCCC'
        Get-StoreSnapshot $h | Should -Be $before
        Assert-ModulesHoldHostKeys $sim $h
    }

    It 'an account outside the group cannot read the key' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        $r = Invoke-AsUser "Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi -Detailed }" -NotInGroup
        $r.Ok | Should -BeFalse
        $r.Id | Should -Be 'PrivilegeRequired'
    }

    It 'an unreadable global nonce folder is a permission error, not KeyTiedToAnotherMachine' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        chmod 700 $nonceDir
        try { $r = Invoke-AsUser "Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi -Detailed }" }
        finally { chmod 710 $nonceDir }
        $r.Ok | Should -BeFalse
        $r.Id | Should -Be 'ProtectionInputUnavailable'
        $r.Message | Should -Match 'permission problem, not another machine'
    }

    It 'a roll keeps the grant on the new key; -OwnerOnly revokes it and the member is refused again' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        $old = (Get-HostKeys $h)['ncoreapi']
        (Update-HsmSshKey -HostPath $h -Service ncoreapi -Confirm:$false -WarningAction SilentlyContinue).Status | Should -Be 'Completed'
        (Get-HostKeys $h)['ncoreapi'] | Should -Not -Be $old
        Mode (Join-Path $h 'client-keys/ncoreapi.key') | Should -Be "640 $group"
        (Invoke-AsUser "Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi }").Value | Should -BeTrue
        Assert-ModulesHoldHostKeys $sim $h -Gone $old

        $k = Set-HsmSshKeyPermission -HostPath $h -Service ncoreapi -OwnerOnly
        $k.AccessGroup | Should -Be ''
        Mode (Join-Path $h 'client-keys/ncoreapi.key') | Should -Be '600 root'
        (stat -c '%a' (Join-Path $h 'client-keys')) | Should -Be '700'
        Mode $nonce | Should -Be '600 root'
        (Get-AuditLines $h)[-1] | Should -Match '"keys.permission".*"Revoked"'
        $r = Invoke-AsUser "Attempt { Test-HsmConnection -HostPath `$h -Service ncoreapi -Detailed }"
        $r.Ok | Should -BeFalse
        $r.Id | Should -Not -Be 'KeyTiedToAnotherMachine'
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }

    It 'refuses a group that does not exist, changing nothing' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because 'needs root, setpriv, useradd and groupadd'; return }
        $before = Get-StoreSnapshot $h
        { Set-HsmSshKeyPermission -HostPath $h -Service ncoreapi -Group 'no-such-group-4471' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidKeyPermission*'
        Get-StoreSnapshot $h | Should -Be $before
    }
}

Describe 'InstalledAt is when a key was proven on every module; StagedAt when the host staged it; the backup reminder' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $a, $b = @($sim.Modules.Esn | Sort-Object)
        $dir = New-TestHostPath 'reminder'
        function Reminders($warnings) { @($warnings | Where-Object { "$_" -match 'back up the sshadmin key' }) }
    }

    It 'enroll proves the new keys on every module and reminds to back up sshadmin' {
        $r = Invoke-HsmEnroll -HostPath $h -WarningVariable warn -WarningAction SilentlyContinue
        @($r.Action) | Should -Be @('Enrolled', 'Enrolled')
        (Reminders $warn).Count | Should -Be 1
        foreach ($k in Get-HsmSshKey -HostPath $h -Role Client) {
            $k.InstalledAt | Should -Not -BeNullOrEmpty
            $k.StagedAt | Should -Not -BeNullOrEmpty
            $k.InstalledAt | Should -BeGreaterOrEqual $k.StagedAt
        }
        # a rerun that changes nothing neither moves InstalledAt nor reminds
        $before = @(Get-HsmSshKey -HostPath $h -Role Client).InstalledAt
        Invoke-HsmEnroll -HostPath $h -WarningVariable warn2 -WarningAction SilentlyContinue | Out-Null
        (Reminders $warn2).Count | Should -Be 0
        @(Get-HsmSshKey -HostPath $h -Role Client).InstalledAt | Should -Be $before
    }

    It 'a roll that could not reach every module keeps the old keys, no reminder; the rerun proves the staged keys: InstalledAt after StagedAt' {
        $old = Get-HostKeys $h
        Set-HsmSimulatedModule -Esn $b -FailAt 'keys.add' -SimulatorPath $sim.Path | Out-Null
        $r = Update-HsmSshKey -HostPath $h -Service ncoreapi -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'Incomplete'
        (Reminders $warn).Count | Should -Be 0
        (Get-HostKeys $h)['ncoreapi'] | Should -Be $old['ncoreapi']
        (Get-HsmSshKey -HostPath $h -Role Client -Service ncoreapi).InstalledAt | Should -Not -BeNullOrEmpty   # still the old key's
        $auditBefore = (Get-AuditLines $h).Count
        $r = Update-HsmSshKey -HostPath $h -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        (Reminders $warn).Count | Should -Be 1
        $k = Get-HsmSshKey -HostPath $h -Role Client -Service ncoreapi
        $k.Fingerprint | Should -Not -Be $old['ncoreapi']
        # Against the audit trail, not the clock: staged by the first (incomplete) run, proven only once the rerun
        # installed the key on $b.
        $entries = @(Get-AuditLines $h | ForEach-Object { $_ | ConvertFrom-Json -DateKind Offset })
        $begin = @($entries[0..($auditBefore - 1)] | Where-Object { $_.Operation -eq 'roll.begin' -and ($_.Fingerprints -join ' ') -match [regex]::Escape("ncoreapi=$($k.Fingerprint)") })
        $begin.Count | Should -Be 1
        $k.StagedAt | Should -BeLessOrEqual $begin[0].Time.UtcDateTime
        $installedOnB = @($entries[$auditBefore..($entries.Count - 1)] | Where-Object { $_.Operation -eq 'roll.install' -and $_.Esn -eq $b })
        $installedOnB.Count | Should -Be 1
        $k.InstalledAt | Should -BeGreaterOrEqual $installedOnB[0].Time.UtcDateTime
        $k.InstalledAt | Should -BeGreaterOrEqual $entries[$auditBefore - 1].Time.UtcDateTime
        $k.InstalledAt | Should -BeGreaterThan $k.StagedAt
        Assert-ModulesHoldHostKeys $sim $h -Gone $old['ncoreapi']
    }

    It 'no reminder when the same pipeline goes on into Backup-HsmSshKey, which then backs up the new key' {
        $file = Join-Path $dir 'piped.key'
        Update-HsmSshKey -HostPath $h -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue |
            Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'pipe-passphrase-88') | Out-Null
        (Reminders $warn).Count | Should -Be 0
        $derived = ssh-keygen -y -P 'pipe-passphrase-88' -f $file
        ($derived -split ' ')[1] | Should -Be (((Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey -split ' ')[1])
        # the same on one line of interactive input (no script file)
        $file2 = Join-Path $dir 'piped2.key'
        $out = Invoke-Bare 'Update-HsmSshKey -HostPath $h -Confirm:$false 3>&1 | Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (ConvertTo-SecureString pipe-passphrase-99 -AsPlainText -Force) 3>&1' @{ h = $h; file = $file2 }
        @($out | Where-Object { $_ -is [Management.Automation.WarningRecord] -and $_.Message -match 'back up the sshadmin key' }) | Should -BeNullOrEmpty
        $file2 | Should -Exist
        # but a later statement is not the same pipeline
        $out = Invoke-Bare 'Update-HsmSshKey -HostPath $h -Confirm:$false 3>&1 | Out-Null; $w = @(); Update-HsmSshKey -HostPath $h -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue | Out-Null; $w' @{ h = $h }
        @($out | Where-Object { "$_" -match 'back up the sshadmin key' }).Count | Should -Be 1
    }

    It 'a restore reminds too, and -WarningAction silences it' {
        $file = Join-Path $dir 'restore.key'
        Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'backup-pass-2417') | Out-Null
        Remove-Item (Join-Path $h 'client-keys') -Recurse -Force
        $r = Restore-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'backup-pass-2417') -Confirm:$false -WarningVariable warn -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        (Reminders $warn).Count | Should -Be 1
        foreach ($k in Get-HsmSshKey -HostPath $h -Role Client) { $k.InstalledAt | Should -Not -BeNullOrEmpty }
        Assert-ModulesHoldHostKeys $sim $h
    }

    It 'reads records written before ProvenAt existed: InstalledAt falls back to when the key was switched in' {
        $json = Join-Path $h 'client-keys/setup.json'
        $record = Get-Content -Raw $json | ConvertFrom-Json -AsHashtable
        $record.Remove('provenAt'); $record.Remove('tracksProof'); $record.Remove('ProvenAt'); $record.Remove('TracksProof')
        $record | ConvertTo-Json | Set-Content $json
        (Get-Content -Raw $json) | Should -Not -Match 'proven'
        $k = Get-HsmSshKey -HostPath $h -Role Client -Service setup
        $k.InstalledAt | Should -Not -BeNullOrEmpty
        $k.StagedAt | Should -Not -BeNullOrEmpty
        $k.InstalledAt | Should -BeGreaterOrEqual $k.StagedAt
        Test-HsmConnection -HostPath $h | Should -BeTrue
    }
}

# Integrator fix pending: a roll with -ExcludeEsn switches the host to keys one module lacks, so they are not proven
# on every module (InstalledAt empty) until Invoke-HsmEnroll brings that module up to date.
Describe 'InstalledAt after a roll that excluded a module' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $a, $b = @($sim.Modules.Esn | Sort-Object)
        Invoke-HsmEnroll -HostPath $h -WarningAction SilentlyContinue | Out-Null
    }

    It 'is empty while the excluded module lacks the new keys, and set once Invoke-HsmEnroll brought it up to date' {
        $old = Get-HostKeys $h
        $r = Update-HsmSshKey -HostPath $h -ExcludeEsn $b -Confirm:$false -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        @($r.ModulesExcluded) | Should -Be @($b)
        foreach ($k in Get-HsmSshKey -HostPath $h -Role Client) {
            $k.Fingerprint | Should -Not -Be $old[$k.Service]
            $k.StagedAt | Should -Not -BeNullOrEmpty
            $k.InstalledAt | Should -BeNullOrEmpty -Because "module $b does not hold the new $($k.Service) key yet"
        }
        Assert-ModulesHoldHostKeys $sim $h -Esn $a

        Invoke-HsmEnroll -HostPath $h -Esn $b -WarningAction SilentlyContinue | Out-Null
        Assert-ModulesHoldHostKeys $sim $h
        foreach ($k in Get-HsmSshKey -HostPath $h -Role Client) {
            $k.InstalledAt | Should -Not -BeNullOrEmpty -Because "every module now holds the $($k.Service) key"
            $k.InstalledAt | Should -BeGreaterThan $k.StagedAt
        }
    }
}
