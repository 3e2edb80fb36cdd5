# Issue 21: what an operator meets in the first hour: progress, open operations, pipelines that keep their host, views
# that are not cut, messages that point to the fix.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }
    $script:sim = Start-TestSimulator -ModuleCount 3
    $script:h = $sim.HostPath
    $script:esns = @($sim.Modules.Esn | Sort-Object)
    $script:enrolled = @(Invoke-HsmEnroll -HostPath $h -WarningVariable enrollWarnings -WarningAction SilentlyContinue)
    $script:enrollWarnings = @($enrollWarnings)

    # A command in a fresh runspace whose progress, verbose and warning streams are kept in order of arrival.
    function Invoke-Recorded([string] $Script, [hashtable] $Parameters = @{}, [string[]] $SecureAnswers = @()) {
        $recordingHost = New-TestPromptHost -SecureAnswers $SecureAnswers
        $runspace = [runspacefactory]::CreateRunspace($recordingHost)
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        try {
            $events = [Collections.Generic.List[object]]::new()
            $ps.Streams.Progress.add_DataAdded({ param($s, $e) $events.Add($s[$e.Index]) }.GetNewClosure())
            $ps.Streams.Verbose.add_DataAdded({ param($s, $e) $events.Add($s[$e.Index]) }.GetNewClosure())
            $null = $ps.AddScript("param(`$Manifest, `$h, `$extra) Import-Module `$Manifest; $Script").AddParameters(@{ Manifest = $Manifest } + $Parameters)
            $output = @($ps.Invoke())
            [pscustomobject]@{
                Output = $output; Errors = @($ps.Streams.Error); Warnings = @($ps.Streams.Warning.Message); Events = $events.ToArray()
                Written = $recordingHost.Recorder.Text; SecurePrompts = @($recordingHost.Recorder.SecurePrompts)
            }
        }
        finally { $ps.Dispose(); $runspace.Dispose() }
    }
}
AfterAll { Remove-TestHosts }

Describe 'Views' {
    BeforeAll {
        $formats = [xml](Get-Content -Raw (Join-Path $repo 'formats/NShield.HsmAdmin.Format.ps1xml'))
        $assemblies = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -like 'NShield.HsmAdmin*' }
        function Find-Type([string] $name) { foreach ($a in $assemblies) { $t = $a.GetType($name); if ($t) { return $t } } }
    }
    It 'label every column and list item with a property name of its type, so Sort-Object <header> works' {
        $checked = 0
        foreach ($view in $formats.Configuration.ViewDefinitions.View) {
            $type = Find-Type $view.ViewSelectedBy.TypeName
            $type | Should -Not -BeNullOrEmpty -Because "view $($view.Name) selects a type the module has"
            $properties = $type.GetProperties().Name
            if ($view.TableControl) {
                $labels = @($view.TableControl.TableHeaders.TableColumnHeader | ForEach-Object { $_.Label })
                $items = @($view.TableControl.TableRowEntries.TableRowEntry.TableColumnItems.TableColumnItem)
                for ($i = 0; $i -lt $labels.Count; $i++) {
                    $labels[$i] | Should -BeIn $properties -Because "column '$($labels[$i])' of view $($view.Name)"
                    if ($items[$i].PropertyName) { $items[$i].PropertyName | Should -Be $labels[$i] }
                    $checked++
                }
                $view.TableControl.SelectSingleNode('TableRowEntries/TableRowEntry/Wrap') | Should -Not -BeNullOrEmpty -Because "$($view.Name) wraps instead of cutting"
            }
            foreach ($item in @($view.ListControl.ListEntries.ListEntry.ListItems.ListItem)) {
                if (-not $item) { continue }
                $name = if ($item.Label) { $item.Label } else { $item.PropertyName }
                $name | Should -BeIn $properties -Because "list item '$name' of view $($view.Name)"
                $checked++
            }
        }
        $checked | Should -BeGreaterThan 50
    }
    It 'enroll results come sorted by ESN' {
        @($enrolled.Esn) | Should -Be $esns
    }
    It 'Test-HsmConnection -Detailed comes sorted by ESN, then service' {
        $r = Test-HsmConnection -HostPath $h -Detailed
        $order = 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher'
        $expected = foreach ($e in $esns) { foreach ($s in $order) { "$e $s" } }
        @($r | ForEach-Object { "$($_.Esn) $($_.Service)" }) | Should -Be $expected
    }
    It 'cut nothing at 120 columns: <Command>' -ForEach @(
        @{ Command = 'Get-HsmModule' }, @{ Command = 'Get-HsmSshKey' }, @{ Command = 'Test-HsmConnection -Detailed' },
        @{ Command = 'Get-HsmSshKey -Module' }, @{ Command = 'Get-HsmHostConfiguration' }, @{ Command = 'Get-HsmTrustedRoot' }
    ) {
        $text = Invoke-Expression "$Command -HostPath '$h' -WarningAction SilentlyContinue" | Out-String -Width 120
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match '…'
        foreach ($line in $text -split "`n") { $line.TrimEnd().Length | Should -BeLessOrEqual 120 }
        # No column pushed off the screen either: every header of the module table on its one header line.
        if ($Command -eq 'Get-HsmModule') {
            $text | Should -Match '(?m)^Esn\s+Mode\s+Status\s+FirmwareVersion\s+FirmwareVsn\s+KeyDrift\s+ClockOffsetSeconds\s+OpenOperation\s*$'
        }
        if ($Command -eq 'Get-HsmSshKey') {
            $text | Should -Match '(?m)^Role\s+Esn\s+Service\s+Algorithm\s+Fingerprint\s+Protection\s+Age\s*$'
            $text | Should -Match '(?m)^Client\s.*SHA256:\S{43}\s'
        }
    }
    It 'the enroll view is not cut at 120 columns' {
        $text = $enrolled | Out-String -Width 120
        $text | Should -Not -Match '…'
        foreach ($e in $esns) { $text | Should -Match $e }
    }
}

Describe 'Open operations and the roll view' {
    BeforeAll {
        # One module refuses keys.add: the roll stops before the switch with its journal open.
        Set-HsmSimulatedModule -Esn $esns[1] -FailAt keys.add -SimulatorPath $sim.Path | Out-Null
        $script:incomplete = Update-HsmSshKey -HostPath $h -Service setup -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable rollErrors -WarningAction SilentlyContinue
        $script:rollErrors = @($rollErrors)
    }
    AfterAll {
        Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue | Out-Null
    }
    It 'the fault fired and the roll stopped Incomplete with its journal open' {
        $incomplete.Status | Should -Be 'Incomplete'
        @($rollErrors | ForEach-Object { $_.FullyQualifiedErrorId.Split(',')[0] }) | Should -Be @('ModuleError', 'RollIncomplete')
        Test-Path (Join-Path $h 'roll-journal.json') | Should -BeTrue
    }
    It 'lists each module in exactly one outcome list' {
        $all = @($incomplete.ModulesUpdated) + @($incomplete.ModulesPending) + @($incomplete.ModulesExcluded)
        @($all | Sort-Object) | Should -Be $esns
        @($all | Sort-Object -Unique) | Should -HaveCount $all.Count
    }
    It 'shows the roll result whole at 120 columns' {
        $text = $incomplete | Out-String -Width 120
        $text | Should -Not -Match '…'
        foreach ($e in $esns) { $text | Should -Match $e }
        $text | Should -Match 'HardserverRestartNeeded'
        $text | Should -Match 'ModulesPending'
    }
    It 'Get-HsmModule warns with the command that finishes it and marks the modules' {
        $m = Get-HsmModule -HostPath $h -WarningVariable w -WarningAction SilentlyContinue
        @($w) | Should -HaveCount 1
        $w[0].Message | Should -Match ([regex]::Escape("Update-HsmSshKey -HostPath '$h'"))
        $w[0].Message | Should -Match ([regex]::Escape("Update-HsmSshKey -HostPath '$h' -Revert"))
        @($m.OpenOperation | Sort-Object -Unique) | Should -Be @('Roll (Installing)')
    }
    It 'Test-HsmConnection warns and marks its results' {
        $r = Test-HsmConnection -HostPath $h -Detailed -WarningVariable w -WarningAction SilentlyContinue
        $w[0].Message | Should -Match 'key roll is open'
        @($r.OpenOperation | Sort-Object -Unique) | Should -Be @('Roll (Installing)')
        @($r.HostPath | Sort-Object -Unique) | Should -Be @($h)
    }
    It 'Backup-HsmSshKey warns that the open roll replaces the key it backs up' {
        $file = Join-Path (New-TestHostPath 'bak') 'sshadmin.bak'
        # The roll covers only setup: the sshadmin key is not replaced, so no warning.
        Backup-HsmSshKey -HostPath $h -Path $file -HostTied -WarningVariable w -WarningAction SilentlyContinue | Out-Null
        @($w | Where-Object Message -Match 'open key roll') | Should -HaveCount 0
        Remove-Item $file
        $journal = Join-Path $h 'roll-journal.json'
        $saved = Get-Content -Raw $journal
        try {
            $doc = $saved | ConvertFrom-Json
            $doc.services = @('sshadmin', 'setup')
            [IO.File]::WriteAllText($journal, ($doc | ConvertTo-Json -Depth 5))
            Backup-HsmSshKey -HostPath $h -Path $file -HostTied -WarningVariable w -WarningAction SilentlyContinue | Out-Null
            @($w | Where-Object Message -Match 'open key roll replaces') | Should -HaveCount 1
        }
        finally { [IO.File]::WriteAllText($journal, $saved) }
    }
}

Describe 'Progress and -Verbose' {
    It 'writes "0 of N" before the first module finishes, each module''s step under it, and completes the record' {
        $run = Invoke-Recorded 'Update-HsmSshKey -HostPath $h -Service setup -Confirm:$false -Verbose -WarningAction SilentlyContinue' @{ h = $h }
        $run.Errors | Should -BeNullOrEmpty
        $progress = @($run.Events | Where-Object { $_ -is [System.Management.Automation.ProgressRecord] })
        $first = $progress | Where-Object StatusDescription -Like '0 of 3 modules' | Select-Object -First 1
        $first | Should -Not -BeNullOrEmpty
        $firstFinished = [array]::IndexOf($progress, ($progress | Where-Object StatusDescription -Match 'finished\)' | Select-Object -First 1))
        [array]::IndexOf($progress, $first) | Should -BeLessThan $firstFinished
        $steps = @($progress | Where-Object { $_.ParentActivityId -eq $first.ActivityId })
        @($steps.Activity | Sort-Object -Unique) | Should -Be @($esns | ForEach-Object { "Module $_" })
        $steps.StatusDescription | Should -Contain 'sshadmin: keys.add (installs a new client key for setup)'
        @($progress | Where-Object { $_.ActivityId -eq $first.ActivityId -and $_.RecordType -eq 'Completed' }) | Should -HaveCount 1
        $verbose = @($run.Events | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message
        foreach ($e in $esns) {
            $verbose | Should -Contain "Installing new setup keys: module ${e}: sshadmin: keys.add (installs a new client key for setup)"
            $verbose | Should -Contain "Removing the old keys from the modules: module ${e}: sshadmin: keys.remove (removes an old client key for setup)"
        }
    }
}

Describe 'Pipelines keep their host' {
    BeforeAll {
        $script:sim2 = Start-TestSimulator -ModuleCount 1
        $script:h2 = $sim2.HostPath
        $script:e2 = $sim2.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h2 -WarningAction SilentlyContinue | Out-Null
    }
    It 'Get-HsmModule -HostPath B | Get-HsmSshKey -Module asks host B' {
        $keys = Get-HsmModule -HostPath $h2 -WarningAction SilentlyContinue | Get-HsmSshKey -Module -ErrorVariable errs
        $errs | Should -BeNullOrEmpty
        @($keys.Esn | Sort-Object -Unique) | Should -Be @($e2)
        @($keys.HostPath | Sort-Object -Unique) | Should -Be @($h2)
    }
    It 'Get-HsmModule -HostPath B | Update-HsmSshKey -WhatIf rolls on host B' {
        $run = Invoke-Recorded 'Get-HsmModule -HostPath $h -WarningAction SilentlyContinue | Update-HsmSshKey -WhatIf' @{ h = $h2 }
        $run.Errors | Should -BeNullOrEmpty
        $run.Written | Should -Match ([regex]::Escape("What if: Performing the operation ""Roll the client keys for sshadmin, ncoreapi, setup, " +
            "updater, monitor, launcher on 1 module(s)"" on target ""$h2"""))
    }
    It 'objects from two hosts reach each their own host' {
        $r = @(@(Get-HsmModule -HostPath $h -Offline) + @(Get-HsmModule -HostPath $h2 -Offline) | Test-HsmConnection -Detailed -Service sshadmin)
        @($r | ForEach-Object { "$($_.HostPath) $($_.Esn)" }) | Should -Be (@($esns | ForEach-Object { "$h $_" }) + "$h2 $e2")
    }
    It 'every output object of a host carries HostPath (<Command>)' -ForEach @(
        @{ Command = 'Get-HsmSshKey' }, @{ Command = 'Get-HsmSshKey -Module' }, @{ Command = 'Get-HsmModule' },
        @{ Command = 'Test-HsmConnection -Detailed' }, @{ Command = 'Get-HsmTrustedRoot' }, @{ Command = 'Get-HsmHostConfiguration' }
    ) {
        $out = @(Invoke-Expression "$Command -HostPath '$h2' -WarningAction SilentlyContinue")
        $out | Should -Not -BeNullOrEmpty
        foreach ($o in $out) { $o.HostPath | Should -Be $h2 }
    }
    It 'every per-module or per-host cmdlet binds -HostPath and -Esn by property name' {
        foreach ($command in Get-Command -Module NShield.HsmAdmin -CommandType Cmdlet) {
            foreach ($name in 'HostPath', 'Esn') {
                $p = $command.Parameters[$name]
                if (-not $p) { continue }
                @($p.ParameterSets.Values | Where-Object ValueFromPipelineByPropertyName) | Should -Not -BeNullOrEmpty -Because "$($command.Name) -$name"
            }
        }
        (Get-Command Update-HsmSshKey).Parameters['Esn'] | Should -Not -BeNullOrEmpty
    }
    It 'an error about a module names the store it looked in' {
        Get-HsmModule -HostPath $h -Esn $e2 -Offline -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($h))
        Get-HsmSshKey -HostPath $h -Esn $e2 -Module -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($h))
        Test-HsmConnection -HostPath $h -Esn $e2 -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($h))
        { [pscustomobject]@{ Esn = $e2; HostPath = $h } | Update-HsmSshKey -WhatIf -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnknownModule*' -ExpectedMessage "*$h*"
    }
}

Describe 'An unreachable module' {
    BeforeAll { Set-HsmSimulatedModule -Esn $esns[2] -Refuse $true -SimulatorPath $sim.Path | Out-Null }
    AfterAll { Set-HsmSimulatedModule -Esn $esns[2] -Refuse $false -SimulatorPath $sim.Path | Out-Null }
    It 'is Status Unreachable in Get-HsmModule, with one error' {
        $m = Get-HsmModule -HostPath $h -Esn $esns[2] -ErrorVariable errs -ErrorAction SilentlyContinue
        $m.Status | Should -Be 'Unreachable'
        @($errs) | Should -HaveCount 1
    }
    It 'gets one error from Test-HsmConnection, without a recovery-mode hint' {
        Test-HsmConnection -HostPath $h -Esn $esns[2] -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeFalse
        @($errs) | Should -HaveCount 1
        $errs[0].TargetObject | Should -Be $esns[2]
        $errs[0].Exception.Message | Should -Not -Match 'recovery'
    }
}

Describe 'Messages point to the fix' {
    It 'a host name with a port says to give the port with -Port' {
        { Register-HsmModule -HostPath $h -Esn AAAA-BBBB-CCCC -Address hsm3.example.net:22 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidAddress*' -ExpectedMessage "*give 'hsm3.example.net' as the address and the ports with -Port*"
    }
    It 'a restart command with its arguments in one string names -HardserverRestartArguments' {
        $before = Get-StoreSnapshot $h
        { Set-HsmHostConfiguration -HostPath $h -HardserverRestartCommand 'systemctl restart nc_hardserver' -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*-HardserverRestartArguments 'restart nc_hardserver'*"
        Get-StoreSnapshot $h | Should -Be $before
    }
    It 'a file that is no key at all is not sent to ssh-keygen' {
        $err = { Restore-HsmSshKey -HostPath $h -Path (Join-Path $repo 'README.md') -Passphrase (Secure 'x') -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotAnOpenSshKey*' -PassThru
        $err.Exception.Message | Should -Not -Match 'ssh-keygen'
        $err.Exception.Message | Should -Match 'Backup-HsmSshKey wrote'
    }
    It 'Format-List * shows the configured settings, not a type name' {
        $text = Get-HsmHostConfiguration -HostPath $h | Format-List * | Out-String -Width 200
        $text | Should -Not -Match 'NShield\.HsmAdmin\.Store\.HostConfiguration'
        $text | Should -Match 'Configured\s+: FactoryCredentialPath='
    }
    It 'Invoke-HsmEnroll -WhatIf mentions dropping modules only when some would be dropped' {
        $run = Invoke-Recorded 'Invoke-HsmEnroll -HostPath $h -WhatIf' @{ h = $h }
        $run.Written | Should -Match 'What if: .*Enroll'
        $run.Written | Should -Not -Match 'Drop'
    }
    It 'the enroll that made the ncoreapi key warns that the hardserver has not loaded it' {
        @($enrollWarnings | Where-Object { $_.Message -match 'Restart-HsmHardserver' }) | Should -HaveCount 1
        # Nothing new: no warning.
        Invoke-HsmEnroll -HostPath $h -WarningVariable w -WarningAction SilentlyContinue | Out-Null
        @($w | Where-Object { $_.Message -match 'hardserver has not loaded' }) | Should -HaveCount 0
    }
    It 'Backup-HsmSshKey returns the file as it is now: mode, size, provider path' {
        $file = Join-Path (New-TestHostPath 'bak') 'fresh.bak'
        $f = Backup-HsmSshKey -HostPath $h -Path $file -HostTied -WarningAction SilentlyContinue
        $f.Length | Should -Be (Get-Item $file).Length
        $f.Length | Should -BeGreaterThan 0
        $f.PSPath | Should -Not -BeNullOrEmpty
        if (-not $IsWindows) { $f.UnixMode | Should -Be '-rw-------' }
        $f.BackupKind | Should -Not -BeNullOrEmpty
    }
    It 'a changed server key keeps one line of message; what to check is in RecommendedAction' {
        $e = $esns[0]
        Set-HsmSimulatedModule -Esn $e -ReplaceServerKey sshadmin -SimulatorPath $sim.Path | Out-Null
        try {
            Test-HsmConnection -HostPath $h -Esn $e -Service sshadmin -ErrorVariable errs -ErrorAction SilentlyContinue | Out-Null
            $errs[0].FullyQualifiedErrorId | Should -BeLike 'ServerKeyChanged*'
            $errs[0].ErrorDetails.RecommendedAction | Should -Match "Update-HsmServerKeyPin -Esn $e"
            $errs[0].Exception.Message | Should -Not -Match 'Update-HsmServerKeyPin'
        }
        finally { Update-HsmServerKeyPin -HostPath $h -Esn $e -Confirm:$false -WarningAction SilentlyContinue | Out-Null }
    }
}
