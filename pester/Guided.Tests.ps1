# Issue 21: the guided commands an operator meets first: Restore-HsmSshKey on a fresh host (says when nothing is
# registered, asks for the passphrase and at first contact, succeeds in one try), the passphrase policy for new
# passphrases, and the refusal a non-root account sees.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }

    # A command in a fresh runspace on a scripted host (New-TestPromptHost): each masked prompt is answered with the next
    # of -SecureAnswers, each choice with the next of -Choices (-1: the default); every question is recorded.
    function Invoke-Scripted([string] $Script, [hashtable] $Vars = @{}, [string[]] $SecureAnswers = @(), [int[]] $Choices = @()) {
        $scripted = New-TestPromptHost -SecureAnswers $SecureAnswers -Choices $Choices
        $runspace = [runspacefactory]::CreateRunspace($scripted)
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        try {
            foreach ($k in $Vars.Keys) { $runspace.SessionStateProxy.SetVariable($k, $Vars[$k]) }
            $null = $ps.AddScript("Import-Module '$Manifest'; try { $Script } catch { `$stop = `$_ }; `$stop")
            $out = @($ps.Invoke())
            [pscustomobject]@{
                Output = @($out | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] })
                Stop = $out | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | Select-Object -First 1
                Errors = @($ps.Streams.Error); Warnings = @($ps.Streams.Warning.Message)
                SecurePrompts = @($scripted.Recorder.SecurePrompts); Choices = @($scripted.Recorder.Choices)
            }
        }
        finally { $ps.Dispose(); $runspace.Dispose() }
    }
    function Get-ErrorId($record) { if ($record) { ($record.FullyQualifiedErrorId -split ',')[0] } }
}
AfterAll { Remove-TestHosts }

Describe 'Guided: Restore-HsmSshKey on a fresh host' {
    BeforeAll {
        # The old host: two modules enrolled without a vendor root (fingerprints confirmed), and its portable backup.
        $script:sim = Start-TestSimulator -ModuleCount 2
        $script:old = $sim.HostPath
        Get-HsmTrustedRoot -HostPath $old | Remove-HsmTrustedRoot -HostPath $old -Confirm:$false
        $script:fingerprints = @($sim.Modules | Sort-Object Esn | ForEach-Object { $_.Endpoint('sshadmin').ServerKeyFingerprint })
        Invoke-HsmEnroll -HostPath $old -AcceptFingerprint $fingerprints -WarningAction SilentlyContinue | Out-Null
        $script:backup = Join-Path (New-TestHostPath 'vault') 'sshadmin.key'
        $script:pass = 'correct horse battery'
        Backup-HsmSshKey -HostPath $old -Path $backup -Passphrase (Secure $pass) | Out-Null
        $script:sshadmin = (Get-HsmSshKey -HostPath $old -Role Client -Service sshadmin).Fingerprint
        $script:oldPins = @(Get-PinLines $old | Sort-Object)
        $script:registry = @(Get-Content (Join-Path $old 'module-registry.json') -Raw | ConvertFrom-Json)
        # The fresh host: a reinstalled machine with only the host configuration set again (hardserver, machine folder).
        $script:fresh = New-TestHostPath 'fresh'
        Copy-Item (Join-Path $old 'host-config.json') $fresh
        function Register-All {
            foreach ($m in $registry) {
                $ports = @{}; $m.ports.PSObject.Properties | ForEach-Object { $ports[$_.Name] = [int]$_.Value }
                Register-HsmModule -HostPath $fresh -Esn $m.esn -Address $m.address -User $m.user -Port $ports -Confirm:$false | Out-Null
            }
        }
    }

    It 'says that nothing is registered, before it asks anything, and changes nothing' {
        $before = Get-StoreSnapshot $fresh
        $r = Invoke-Scripted 'Restore-HsmSshKey -HostPath $fresh -Path $backup' @{ fresh = $fresh; backup = $backup } -SecureAnswers $pass
        Get-ErrorId $r.Stop | Should -Be 'NoModulesToRestore'
        $r.Stop.Exception.Message | Should -BeLike "*$fresh has no registered modules*Register-HsmModule*"
        $r.Stop.Exception.Message | Should -Not -BeLike '*No attached module accepts*'
        $r.SecurePrompts.Count | Should -Be 0 -Because 'no passphrase is asked for when there is nothing to restore'
        $r.Choices.Count | Should -Be 0
        Get-StoreSnapshot $fresh | Should -Be $before
        # The module side: each module still accepts exactly the old host's keys (nothing was installed or removed).
        Assert-ModulesHoldHostKeys $sim $old
    }

    It 'in a session that cannot ask: KeyPassphraseRequired naming -Passphrase, nothing changed' {
        Register-All
        $before = Get-StoreSnapshot $fresh
        $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
        try {
            $ps = [powershell]::Create(); $ps.Runspace = $rs
            $null = $ps.AddScript("Import-Module '$Manifest'; try { Restore-HsmSshKey -HostPath '$fresh' -Path '$backup' -Confirm:`$false -ErrorAction Stop } catch { `$_ }")
            $stop = @($ps.Invoke()) | Select-Object -Last 1
        }
        finally { $rs.Dispose() }
        Get-ErrorId $stop | Should -Be 'KeyPassphraseRequired'
        $stop.Exception.Message | Should -BeLike '*cannot ask for its passphrase*-Passphrase*'
        Get-StoreSnapshot $fresh | Should -Be $before
        # The module side: each module still accepts exactly the old host's keys (nothing was installed or removed).
        Assert-ModulesHoldHostKeys $sim $old
    }

    It 'No at the first-contact question pins nothing: FingerprintNotConfirmed for each module, nothing changed' {
        $before = Get-StoreSnapshot $fresh
        # Choice 3 is "No to All" on the first question.
        $r = Invoke-Scripted 'Restore-HsmSshKey -HostPath $fresh -Path $backup' @{ fresh = $fresh; backup = $backup } -SecureAnswers $pass -Choices 3
        $r.Choices.Count | Should -Be 1
        Get-ErrorId $r.Stop | Should -Be 'RestoreKeyNotAccepted'
        $r.Stop.Exception.Message | Should -BeLike '*No registered module could be checked*'
        @($r.Errors | ForEach-Object { Get-ErrorId $_ }) | Should -Be @('FingerprintNotConfirmed', 'FingerprintNotConfirmed')
        Get-StoreSnapshot $fresh | Should -Be $before
        # The module side: each module still accepts exactly the old host's keys (nothing was installed or removed).
        Assert-ModulesHoldHostKeys $sim $old
    }

    It 'restores in one try: asks the passphrase (again after a typo), shows every fingerprint, asks, then completes' {
        # Answers: a mistyped passphrase, the right one; "Yes to All" (1) at first contact; Yes (0) to the restore itself.
        $r = Invoke-Scripted 'Restore-HsmSshKey -HostPath $fresh -Path $backup' @{ fresh = $fresh; backup = $backup } `
            -SecureAnswers 'correct horse batery', $pass -Choices 1, 0
        $r.Stop | Should -BeNullOrEmpty
        $r.Errors | Should -BeNullOrEmpty
        $r.Output.Status | Should -Be 'Completed'
        @($r.Output.ModulesUpdated | Sort-Object) | Should -Be @($sim.Modules.Esn | Sort-Object)
        $r.SecurePrompts.Count | Should -Be 2
        $r.SecurePrompts[0] | Should -BeLike "Backup passphrase*$backup*portable backup*"
        $r.Warnings | Should -Contain "That passphrase does not open '$backup'. Try again (2 more)."
        # The first-contact question lists every module's fingerprint, defaults to No, offers Yes to All.
        $firstContact = $r.Choices[0]
        $firstContact.Caption | Should -Be 'Confirm module server keys (1 of 2)'
        foreach ($fp in $fingerprints) { $firstContact.Message | Should -BeLike "*$fp*" }
        $firstContact.Labels[$firstContact.Default] | Should -Be '&No'
        $r.Choices[1].Message | Should -BeLike '*Restore the sshadmin key*'
        # The host is back: the backup's sshadmin key, the old host's pins, every channel works, the modules hold its keys.
        (Get-HsmSshKey -HostPath $fresh -Role Client -Service sshadmin).Fingerprint | Should -Be $sshadmin
        @(Get-PinLines $fresh | Sort-Object) | Should -Be $oldPins
        Test-HsmConnection -HostPath $fresh | Should -BeExactly $true
        Assert-ModulesHoldHostKeys $sim $fresh
    }
}

Describe 'Guided: the passphrase policy: new passphrases need 12 characters, not one repeated' {
    BeforeAll {
        $script:sim = Start-TestSimulator -ModuleCount 1
        $script:h = $sim.HostPath
        Invoke-HsmEnroll -HostPath $h -WarningAction SilentlyContinue | Out-Null
        $script:dir = New-TestHostPath 'backups'
    }

    It 'Backup-HsmSshKey -Passphrase <Why> is refused with PassphraseTooWeak naming the rule; nothing written' -ForEach @(
        @{ Why = 'of 11 characters'; Text = 'eleven-char' }
        @{ Why = 'of one character repeated'; Text = 'aaaaaaaaaaaaaaaa' }
    ) {
        $file = Join-Path $dir 'weak.key'
        $before = Get-StoreSnapshot $h
        $stop = $null
        try { Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure $Text) -ErrorAction Stop } catch { $stop = $_ }
        Get-ErrorId $stop | Should -Be 'PassphraseTooWeak'
        $stop.Exception.Message | Should -BeLike '*at least 12 characters, not all the same character*Nothing was written*'
        $stop.Exception.Message | Should -Not -BeLike "*$Text*" -Because 'a passphrase never appears in a message'
        $file | Should -Not -Exist
        Get-StoreSnapshot $h | Should -Be $before
    }

    It 'accepts exactly 12 characters' {
        $file = Join-Path $dir 'twelve.key'
        Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'twelve-chars') | Out-Null
        $file | Should -Exist
    }

    It 'the built-in prompt says the rule and refuses a weak passphrase before asking it again; nothing written' {
        $file = Join-Path $dir 'typed.key'
        $r = Invoke-Scripted 'Backup-HsmSshKey -HostPath $h -Path $file' @{ h = $h; file = $file } -SecureAnswers 'short', 'short'
        Get-ErrorId $r.Stop | Should -Be 'PassphraseTooWeak'
        $r.SecurePrompts.Count | Should -Be 1
        $r.SecurePrompts[0] | Should -BeLike '*at least 12 characters*'
        $file | Should -Not -Exist
    }

    It 'a passphrase that only opens an existing backup is never refused: a weak one restores, with a warning to make a new backup' {
        # A backup made before the policy: the same key re-encrypted by ssh-keygen under a short passphrase.
        $file = Join-Path $dir 'old-weak.key'
        Backup-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'correct horse battery') | Out-Null
        & ssh-keygen -p -q -P 'correct horse battery' -N 'pw' -f $file | Out-Null
        $LASTEXITCODE | Should -Be 0
        $r = Restore-HsmSshKey -HostPath $h -Path $file -Passphrase (Secure 'pw') -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        ($w -join ' ') | Should -BeLike '*weaker than new passphrases may be*Backup-HsmSshKey*'
    }

    It 'a new P passphrase is held to it too: Update-HsmSshKey -NewKeyPassphrase, and the one typed at the prompt' {
        $before = Get-StoreSnapshot $h
        $stop = $null
        try { Update-HsmSshKey -HostPath $h -Service setup -Protection KFGP -NewKeyPassphrase (Secure 'short') -Confirm:$false -ErrorAction Stop }
        catch { $stop = $_ }
        Get-ErrorId $stop | Should -Be 'PassphraseTooWeak'
        $stop.Exception.Message | Should -BeLike '*-NewKeyPassphrase*at least 12 characters*'
        $r = Invoke-Scripted 'Update-HsmSshKey -HostPath $h -Service setup -Protection KFGP -Confirm:$false' @{ h = $h } -SecureAnswers 'short', 'short'
        Get-ErrorId $r.Stop | Should -Be 'PassphraseTooWeak'
        $r.SecurePrompts.Count | Should -Be 1
        Get-StoreSnapshot $h | Should -Be $before
    }

    It 'Invoke-HsmEnroll -Protection KFGP with a weak -KeyPassphrase on a new host creates no key' {
        $empty = New-TestHostPath 'empty'
        $stop = $null
        try { Invoke-HsmEnroll -HostPath $empty -Protection KFGP -KeyPassphrase (Secure 'short') -WarningAction SilentlyContinue -ErrorAction Stop }
        catch { $stop = $_ }
        Get-ErrorId $stop | Should -Be 'PassphraseTooWeak'
        Join-Path $empty 'client-keys' | Should -Not -Exist
    }

}

Describe 'Guided: a non-root account is told how to work on a store of its own' {
    BeforeAll {
        $script:CanRun = (-not $IsWindows) -and ((id -u) -eq '0') -and [bool](Get-Command setpriv -ErrorAction SilentlyContinue)
        if (-not $CanRun) { return }
        # Everything nobody (65534) runs or reads lives under a folder it may enter; pwsh lives under /root (0700 here).
        $script:base = Join-Path ([IO.Path]::GetTempPath()) "nshield-nonroot-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
        New-Item -ItemType Directory $base | Out-Null; chmod 755 $base
        $script:pwshDir = Join-Path $base 'pwsh'
        cp -al $PSHOME $pwshDir 2>$null; if ($LASTEXITCODE -ne 0) { cp -r $PSHOME $pwshDir }
        $script:userHome = Join-Path $base 'home'; New-Item -ItemType Directory $userHome | Out-Null; chown 65534:65534 $userHome
        $script:store = Join-Path $base 'store'; New-Item -ItemType Directory $store | Out-Null; chmod 755 $store
    }
    AfterAll { if ($CanRun) { Remove-Item $base -Recurse -Force -ErrorAction SilentlyContinue } }

    It 'Invoke-HsmEnroll on root''s store: the message as shown names -HostPath and NSHIELD_HSMADMIN_HOME, the command once' {
        if (-not $CanRun) { Set-ItResult -Skipped -Because "needs root and setpriv to run a process as nobody (65534)"; return }
        # The error as PowerShell shows it (its default ConciseView), rendered to text by the child itself.
        $script = "Import-Module '$Manifest'; try { Invoke-HsmEnroll -HostPath '$store' -ErrorAction Stop } " +
            "catch { 'ID=' + `$_.FullyQualifiedErrorId; `$_ | Out-String -Width 400 }"
        $out = & setpriv --reuid 65534 --regid 65534 --clear-groups env "HOME=$userHome" "DOTNET_CLI_HOME=$userHome" `
            dotnet (Join-Path $pwshDir 'pwsh.dll') -NoProfile -NonInteractive -Command $script 2>&1
        $text = ($out | Out-String)
        $text | Should -BeLike '*ID=PrivilegeRequired*'
        $text | Should -BeLike '*-HostPath*'
        $text | Should -BeLike '*NSHIELD_HSMADMIN_HOME*'
        $text | Should -BeLike '*nobody*'
        ([regex]::Matches($text, 'Invoke-HsmEnroll')).Count | Should -Be 1 -Because 'the command name is said once, in front of the message'
        @(Get-ChildItem $store) | Should -BeNullOrEmpty -Because 'nothing was read or changed'
    }
}
