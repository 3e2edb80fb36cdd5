# Issue 16, finding 5: protection P (a user passphrase) on the host's client keys, through the whole lifecycle, over real SSH.
# Every cmdlet that opens a client key takes -KeyPassphrase; without it a non-interactive runspace gets KeyPassphraseRequired,
# a wrong one KeyWrongPassphrase, and in both cases nothing changes; an interactive host is asked once.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    function Protections($h) { $p = @{}; Get-HsmSshKey -HostPath $h -Role Client | ForEach-Object { $p[$_.Service] = $_.Protection }; $p }
    function Fingerprints($h) { Get-HsmSshKey -HostPath $h -Role Client | Sort-Object Service | ForEach-Object { "$($_.Service)=$($_.Fingerprint)" } }

    # The passphrases: none of these texts may ever appear in output, errors, verbose text, warnings or any store file.
    $script:Secrets = 'Key-Passphrase-Alpha-7391', 'Changed-Passphrase-Bravo-2846', 'Wrong-Passphrase-Charlie-5502'
    $script:first = Secure $Secrets[0]; $script:changed = Secure $Secrets[1]; $script:wrong = Secure $Secrets[2]
    $script:Seen = [Collections.Generic.List[string]]::new()
    function Note($items) {
        foreach ($i in @($items)) {
            if ($null -eq $i) { continue }
            if ($i -is [Management.Automation.ErrorRecord]) { $Seen.Add("$($i.FullyQualifiedErrorId) $($i.Exception.Message) $($i.ErrorDetails) $($i.TargetObject)"); $e = $i.Exception.InnerException; while ($e) { $Seen.Add($e.Message); $e = $e.InnerException } }
            elseif ($i -is [Management.Automation.InformationalRecord]) { $Seen.Add($i.Message) }
            else { $Seen.Add(($i | Out-String)); $Seen.Add(($i | ConvertTo-Json -Depth 3 -WarningAction SilentlyContinue)) }
        }
    }
    # Runs a command with -Verbose, every stream recorded (for the secret check); returns its output objects.
    function Run([scriptblock] $command) {
        $VerbosePreference = 'Continue'
        $all = & $command *>&1
        Note $all
        $script:LastWarnings = @($all | Where-Object { $_ -is [Management.Automation.WarningRecord] } | ForEach-Object Message)
        @($all | Where-Object { $_ -isnot [Management.Automation.InformationalRecord] -and $_ -isnot [Management.Automation.ErrorRecord] })
    }

    # A runspace without a host (no UI at all): what a scheduled task or a service sees.
    $script:Bare = [runspacefactory]::CreateRunspace()
    $Bare.Open()
    $ps = [powershell]::Create(); $ps.Runspace = $Bare
    $null = $ps.AddScript("Import-Module '$(Join-Path $repo 'NShield.HsmAdmin.psd1')'").Invoke()
    $ps.Dispose()
    # Runs a script in the bare runspace; returns the ErrorRecord it stopped with (null if none), recording every stream.
    function Invoke-Bare([string] $script, [hashtable] $vars) {
        foreach ($k in $vars.Keys) { $Bare.SessionStateProxy.SetVariable($k, $vars[$k]) }
        $ps = [powershell]::Create(); $ps.Runspace = $Bare
        $null = $ps.AddScript("`$ErrorActionPreference = 'Stop'; try { $script -Verbose *>&1 } catch { `$_ }")
        try {
            $out = @($ps.Invoke())
            Note $out; Note @($ps.Streams.Error)
            $out | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | Select-Object -First 1
        }
        finally { $ps.Dispose() }
    }
    # Every cmdlet that opens a client key, as it would be called on a host whose keys have P.
    function Get-KeyCommands { [ordered]@{
        'Invoke-HsmEnroll'   = 'Invoke-HsmEnroll -HostPath $h -Confirm:$false'
        'Get-HsmModule'      = 'Get-HsmModule -HostPath $h'
        'Test-HsmConnection' = 'Test-HsmConnection -HostPath $h'
        'Update-HsmSshKey'   = 'Update-HsmSshKey -HostPath $h -Confirm:$false'
        'Backup-HsmSshKey'   = 'Backup-HsmSshKey -HostPath $h -Path $newBackup -Passphrase $backupPass'
        'Restore-HsmSshKey'  = 'Restore-HsmSshKey -HostPath $h -Path $verbatim -Confirm:$false'
        'Move-HsmModule'     = 'Move-HsmModule -HostPath $h -Esn $m2 -PrivateKeyFile $destinationBackup -Passphrase $backupPass -Confirm:$false'
        'Reset-HsmModule'    = 'Reset-HsmModule -HostPath $h -Esn $m1 -Timeout 10 -Confirm:$false'
    } }
}
AfterAll {
    if ($Bare) { $Bare.Dispose() }
    Remove-TestHosts
}

Describe 'Key passphrase (protection P) on the host''s client keys, from enroll to reset' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $m1 = $sim.Modules[0].Esn; $m2 = $sim.Modules[1].Esn
        $destination = Start-TestSimulator -ModuleCount 1
        $dir = New-TestHostPath 'backups'
        $backupPass = Secure 'backup file passphrase'
        $destinationBackup = Join-Path $dir 'destination.portable'
        Invoke-HsmEnroll -HostPath $destination.HostPath | Out-Null
        Backup-HsmSshKey -HostPath $destination.HostPath -Path $destinationBackup -Passphrase $backupPass | Out-Null
        $verbatim = Join-Path $dir 'sshadmin.verbatim'
        $newBackup = Join-Path $dir 'never-written.portable'
        $vars = @{ h = $h; m1 = $m1; m2 = $m2; verbatim = $verbatim; newBackup = $newBackup; backupPass = $backupPass; destinationBackup = $destinationBackup }
    }

    It 'enroll creates P keys: KFGP for sshadmin and the platform services, KFG for ncoreapi (with a warning)' {
        $r = Run { Invoke-HsmEnroll -HostPath $h -Protection KFGP -KeyPassphrase $first }
        @($r | Where-Object Action -eq 'Enrolled').Count | Should -Be 2
        ($LastWarnings -join ' ') | Should -Match 'ncoreapi.*KFG'
        $p = Protections $h
        foreach ($s in 'sshadmin', 'setup', 'updater', 'monitor', 'launcher') { $p[$s] | Should -Be 'KFGP' }
        $p['ncoreapi'] | Should -Be 'KFG'
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $first } | Should -BeTrue
        Run { Backup-HsmSshKey -HostPath $h -Path $verbatim -HostTied } | Should -Not -BeNullOrEmpty   # verbatim: the file as it is, P included
    }

    It 'Get-HsmModule and Test-HsmConnection work with the passphrase; -Offline needs none' {
        $modules = Run { Get-HsmModule -HostPath $h -KeyPassphrase $first }
        @($modules.Mode) | Should -Be @('Operational', 'Operational')
        @($modules.Status) | Should -Be @('Enrolled', 'Enrolled')
        @((Run { Test-HsmConnection -HostPath $h -KeyPassphrase $first -Detailed }).Success) | Should -Be (@($true) * 12) -Because "2 modules x 6 services"
        (Get-HsmModule -HostPath $h -Offline -ErrorAction Stop).Count | Should -Be 2
    }

    It '<_> without the passphrase in a runspace without a host: KeyPassphraseRequired naming -KeyPassphrase, nothing changed' -ForEach @(
        'Invoke-HsmEnroll', 'Get-HsmModule', 'Test-HsmConnection', 'Update-HsmSshKey', 'Backup-HsmSshKey', 'Restore-HsmSshKey', 'Move-HsmModule', 'Reset-HsmModule'
    ) {
        $before = Get-StoreSnapshot $h; $audit = (Get-AuditLines $h).Count
        $err = Invoke-Bare (Get-KeyCommands)[$_] $vars
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike 'KeyPassphraseRequired*'
        $err.Exception.Message | Should -Match '-KeyPassphrase'
        Get-StoreSnapshot $h | Should -Be $before
        (Get-AuditLines $h).Count | Should -Be $audit
        Test-Path $newBackup | Should -BeFalse
    }

    It '<_> with a wrong passphrase: KeyWrongPassphrase, nothing changed' -ForEach @(
        'Invoke-HsmEnroll', 'Get-HsmModule', 'Test-HsmConnection', 'Update-HsmSshKey', 'Backup-HsmSshKey', 'Restore-HsmSshKey', 'Move-HsmModule', 'Reset-HsmModule'
    ) {
        $before = Get-StoreSnapshot $h; $audit = (Get-AuditLines $h).Count
        $err = Invoke-Bare ((Get-KeyCommands)[$_] + ' -KeyPassphrase $wrong') ($vars + @{ wrong = $wrong })
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike 'KeyWrongPassphrase*'
        Get-StoreSnapshot $h | Should -Be $before
        (Get-AuditLines $h).Count | Should -Be $audit
        Test-Path $newBackup | Should -BeFalse
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $first } | Should -BeTrue
    }

    It 'rolls every key with the passphrase, each keeping its protection' {
        $before = Fingerprints $h
        $r = Run { Update-HsmSshKey -HostPath $h -KeyPassphrase $first -Confirm:$false }
        $r.Status | Should -Be 'Completed'
        $after = Fingerprints $h
        for ($i = 0; $i -lt 6; $i++) { $after[$i] | Should -Not -Be $before[$i] }
        $p = Protections $h
        $p['sshadmin'] | Should -Be 'KFGP'; $p['setup'] | Should -Be 'KFGP'; $p['ncoreapi'] | Should -Be 'KFG'
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $first } | Should -BeTrue
    }

    It 'refuses, changing nothing, a passphrase change that would leave keys under the old one, and P on ncoreapi' {
        $before = Get-StoreSnapshot $h
        { Update-HsmSshKey -HostPath $h -Service sshadmin -KeyPassphrase $first -NewKeyPassphrase $changed -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidProtection*'
        { Update-HsmSshKey -HostPath $h -Service ncoreapi -Protection KFGP -KeyPassphrase $first -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidProtection*'
        { Update-HsmSshKey -HostPath $h -Protection KFG -KeyPassphrase $first -NewKeyPassphrase $changed -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidProtection*'
        Get-StoreSnapshot $h | Should -Be $before
    }

    It 'changes the passphrase with a roll (-NewKeyPassphrase): the old one no longer opens the keys, the new one does' {
        $r = Run { Update-HsmSshKey -HostPath $h -KeyPassphrase $first -NewKeyPassphrase $changed -Confirm:$false }
        $r.Status | Should -Be 'Completed'
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        { Test-HsmConnection -HostPath $h -KeyPassphrase $first -ErrorAction Stop } | Should -Throw -ErrorId 'KeyWrongPassphrase*'
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $changed } | Should -BeTrue
        (Protections $h)['sshadmin'] | Should -Be 'KFGP'
    }

    It 'backs up (portable, with the key passphrase) and restores a verbatim backup of the P key with -KeyPassphrase' {
        $portable = Join-Path $dir 'sshadmin.portable'
        $verbatim2 = Join-Path $dir 'sshadmin2.verbatim'
        Run { Backup-HsmSshKey -HostPath $h -Path $portable -Passphrase $backupPass -KeyPassphrase $changed } | Should -Not -BeNullOrEmpty
        $derived = ssh-keygen -y -P 'backup file passphrase' -f $portable
        $LASTEXITCODE | Should -Be 0
        ($derived -split ' ')[1] | Should -Be (((Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).PublicKey) -split ' ')[1]
        Run { Backup-HsmSshKey -HostPath $h -Path $verbatim2 -HostTied } | Should -Not -BeNullOrEmpty
        $sshadmin = (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint
        $r = Run { Restore-HsmSshKey -HostPath $h -Path $verbatim2 -KeyPassphrase $changed -Confirm:$false }
        $r.Status | Should -Be 'Completed'
        (Get-HsmSshKey -HostPath $h -Role Client -Service sshadmin).Fingerprint | Should -Be $sshadmin
        $p = Protections $h
        $p['sshadmin'] | Should -Be 'KFGP'; $p['monitor'] | Should -Be 'KFGP'; $p['ncoreapi'] | Should -Be 'KFG'
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $changed } | Should -BeTrue
        $r = Run { Restore-HsmSshKey -HostPath $h -Path $portable -Passphrase $backupPass -KeyPassphrase $changed -Confirm:$false }
        $r.Status | Should -Be 'Completed'
        Run { Test-HsmConnection -HostPath $h -KeyPassphrase $changed } | Should -BeTrue
    }

    It 'moves a module with the key passphrase' {
        $r = Run { Move-HsmModule -HostPath $h -Esn $m2 -PrivateKeyFile $destinationBackup -Passphrase $backupPass -KeyPassphrase $changed -Confirm:$false }
        $r.Status | Should -Be 'Released'
        Run { Test-HsmConnection -HostPath $h -Esn $m1 -KeyPassphrase $changed } | Should -BeTrue
    }

    It 'resets a module with the key passphrase' {
        $r = Run { Reset-HsmModule -HostPath $h -Esn $m1 -Timeout 10 -KeyPassphrase $changed -Confirm:$false }
        $r.Mode | Should -Be 'FactoryState'
    }

    It 'never shows a passphrase: not in output, errors, warnings, verbose text, the audit log or any store file' {
        $Seen.Count | Should -BeGreaterThan 20
        $text = $Seen -join "`n"
        $files = Get-ChildItem $h, $dir -Recurse -File | ForEach-Object { Get-Content -Raw $_.FullName }
        foreach ($secret in $Secrets) {
            $text | Should -Not -Match ([regex]::Escape($secret))
            foreach ($f in $files) { $f | Should -Not -Match ([regex]::Escape($secret)) }
        }
        (Get-AuditLines $h).Count | Should -BeGreaterThan 5
    }
}

Describe 'Key passphrase: an interactive host is asked once, never echoed' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        # A host whose UI answers every secure prompt with SecureDefault and records everything written to it.
        $testHost = New-TestPromptHost
        $ui = $testHost.Recorder
        $rs = [runspacefactory]::CreateRunspace($testHost)
        $rs.Open()
        $rs.SessionStateProxy.SetVariable('h', $h)
        function Invoke-Interactive([string] $script) {
            $ps = [powershell]::Create(); $ps.Runspace = $rs
            $null = $ps.AddScript("`$ErrorActionPreference = 'Stop'; try { $script -Verbose } catch { `$_ }")
            try { @($ps.Invoke()) } finally { $ps.Dispose() }
        }
        $null = Invoke-Interactive "Import-Module '$(Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1')'"
    }
    AfterAll { if ($rs) { $rs.Dispose() } }

    It 'enroll asks for a new passphrase (typed twice) when -Protection has P and none is given' {
        $ui.SecureDefault = $Secrets[0]
        $r = Invoke-Interactive 'Invoke-HsmEnroll -HostPath $h -Protection KFGP'
        $r[0].Action | Should -Be 'Enrolled'
        $ui.SecurePrompts.Count | Should -Be 2
        (Protections $h)['sshadmin'] | Should -Be 'KFGP'
    }

    It 'Test-HsmConnection asks once for the passphrase of the P keys and works with it' {
        $ui.SecurePrompts.Clear()
        Invoke-Interactive 'Test-HsmConnection -HostPath $h' | Should -BeTrue
        $ui.SecurePrompts.Count | Should -Be 1
    }

    It 'a wrong typed passphrase is KeyWrongPassphrase and nothing changes' {
        $ui.SecureDefault = $Secrets[2]; $ui.SecurePrompts.Clear()
        $before = Get-StoreSnapshot $h
        $r = Invoke-Interactive 'Update-HsmSshKey -HostPath $h -Confirm:$false'
        $r[0].FullyQualifiedErrorId | Should -BeLike 'KeyWrongPassphrase*'
        $ui.SecurePrompts.Count | Should -Be 1
        Get-StoreSnapshot $h | Should -Be $before
    }

    It 'never writes the typed passphrase to the host' {
        $ui.Written.Count | Should -BeGreaterThan 0
        foreach ($secret in $Secrets) { ($ui.Written -join "`n") | Should -Not -Match ([regex]::Escape($secret)) }
    }
}

Describe 'Key passphrase changes never lock a module out' {
    BeforeAll {
        $script:manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    }

    It 'a module excluded from a roll that changes the passphrase is brought up to date later with the new passphrase (archived keys follow it)' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath; $b = $sim.Modules[1].Esn
        Invoke-HsmEnroll -HostPath $h -Protection KFGP -KeyPassphrase $first -WarningAction SilentlyContinue | Out-Null
        Set-HsmSimulatedModule -Esn $b -Refuse $true -SimulatorPath $sim.Path | Out-Null
        $r = Update-HsmSshKey -HostPath $h -KeyPassphrase $first -NewKeyPassphrase $changed -ExcludeEsn $b -Confirm:$false -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        Set-HsmSimulatedModule -Esn $b -Refuse $false -SimulatorPath $sim.Path | Out-Null
        # Before the fix the archived keys stayed under the old passphrase and the host tried only the current one.
        (Invoke-HsmEnroll -HostPath $h -Esn $b -KeyPassphrase $changed).Action | Should -Be 'Repaired'
        Test-HsmConnection -HostPath $h -KeyPassphrase $changed | Should -BeTrue
        { Test-HsmConnection -HostPath $h -KeyPassphrase $first -ErrorAction Stop } | Should -Throw -ErrorId 'KeyWrongPassphrase*'
        Assert-ModulesHoldHostKeys $sim
        @(Get-ChildItem (Join-Path $h 'client-keys/archive') -Filter *.key -ErrorAction SilentlyContinue) | Should -BeNullOrEmpty
    }
    It 'a passphrase-changing roll killed mid-switch (roll.promoted-one) completes with one rerun given both passphrases' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h -Protection KFGP -KeyPassphrase $first -WarningAction SilentlyContinue | Out-Null
        $before = Get-HostKeys $h
        Invoke-Killed 'roll.promoted-one' ("Update-HsmSshKey -HostPath '$h' -KeyPassphrase (ConvertTo-SecureString '$($Secrets[0])' -AsPlainText -Force) " +
            "-NewKeyPassphrase (ConvertTo-SecureString '$($Secrets[1])' -AsPlainText -Force) -Confirm:`$false")
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeTrue
        # Before the fix the rerun stopped at KeyWrongPassphrase: the promoted key opens only under the new passphrase.
        $r = Update-HsmSshKey -HostPath $h -KeyPassphrase $first -NewKeyPassphrase $changed -Confirm:$false -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeFalse
        Test-HsmConnection -HostPath $h -KeyPassphrase $changed | Should -BeTrue
        (Get-HostKeys $h).sshadmin | Should -Not -Be $before.sshadmin
        Assert-ModulesHoldHostKeys $sim
    }
}
