# Issue 22 item 4: logs the vendor's way, over real SSH: every entry numbered and signed by the module's log key (which
# chains to the trusted vendor root), verified by Get-HsmLog; a tampered entry shown as such, never dropped; -Clear clears
# on the module only what was read and saved to -Path; past its safe working capacity the module refuses changes
# (ModuleLogFull) until the log is retrieved and cleared. Also the ncoreapi interlock on log clearing (item 6).
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.psd1') -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    $sim = Start-TestSimulator -ModuleCount 1
    $h = $sim.HostPath
    $a = $sim.Modules[0].Esn
    Invoke-HsmEnroll -HostPath $h | Out-Null
    $out = New-TestHostPath 'saved'
    New-Item -ItemType Directory $out -Force | Out-Null
    $dir = $sim.Modules[0].ModuleDir
    function Get-ModuleLogFile { Get-Content (Join-Path $dir 'log.json') -Raw | ConvertFrom-Json }
}
AfterAll { Remove-TestHosts }

Describe 'Signed module logs' {
    It 'numbers every entry and verifies each signature against the module''s log key and the vendor root' {
        $log = @(Get-HsmLog -HostPath $h)
        $log.Count | Should -BeGreaterThan 5
        $log | ForEach-Object { $_.Verified | Should -BeTrue; $_.Status | Should -Be 'Verified'; $_.Sequence | Should -BeGreaterThan 0 }
        for ($i = 1; $i -lt $log.Count; $i++) { $log[$i].Sequence | Should -BeGreaterThan $log[$i - 1].Sequence }
        # The module side: every entry it served is stored with its number and signature; the read's own entry (the
        # newest, written after the reply) is signed when the log is next read.
        $stored = @((Get-ModuleLogFile).entries)
        $stored | Where-Object seq -le $log[-1].Sequence | ForEach-Object { $_.signature | Should -Not -BeNullOrEmpty }
        $stored[-1].verb | Should -Be 'logs'
        $stored[-1].signature | Should -BeNullOrEmpty
        $again = @(Get-HsmLog -HostPath $h)
        ($again | Where-Object Sequence -eq $stored[-1].seq).Status | Should -Be 'Verified'
        (@((Get-ModuleLogFile).entries) | Where-Object seq -eq $stored[-1].seq).signature | Should -Not -BeNullOrEmpty
    }

    It 'signs what was not read yet before a tamper fault or a factory reset changes it' {
        # A module of its own: the reset changes the log key of the file's shared module otherwise.
        $sim2 = Start-TestSimulator -ModuleCount 1
        Invoke-HsmEnroll -HostPath $sim2.HostPath | Out-Null
        # Nothing read yet: the fault changes an entry the module had to sign first, so the change shows.
        Set-HsmSimulatedModule -Esn $sim2.Modules[0].Esn -TamperLog -SimulatorPath $sim2.Path | Out-Null
        $file2 = Join-Path $sim2.Modules[0].ModuleDir 'log.json'
        (Get-Content $file2 -Raw | ConvertFrom-Json).entries | ForEach-Object { $_.signature | Should -Not -BeNullOrEmpty }
        $oldest = (Get-Content $file2 -Raw | ConvertFrom-Json).entries[0]
        (@(Get-HsmLog -HostPath $sim2.HostPath) | Where-Object Sequence -eq $oldest.seq).Status | Should -Be 'Tampered'
        Test-HsmConnection -HostPath $sim2.HostPath | Out-Null   # entries not read yet when the key changes
        Reset-HsmModule -HostPath $sim2.HostPath -Confirm:$false -WarningAction SilentlyContinue | Out-Null
        # The module side, before anything reads the log: all written before the key changed was signed (by the old key).
        $stored = @((Get-Content $file2 -Raw | ConvertFrom-Json).entries)
        $resetSeq = ($stored | Where-Object verb -eq 'factorystate').seq
        @($stored | Where-Object { $_.seq -lt $resetSeq -and -not $_.signature }).Count | Should -Be 0
        Invoke-HsmEnroll -HostPath $sim2.HostPath | Out-Null
        $log = @(Get-HsmLog -HostPath $sim2.HostPath)
        # The factorystate command changed the key; its own entry is written after it.
        $reset = @($log | Where-Object Verb -eq 'factorystate')
        $reset.Count | Should -Be 1
        @($log | Where-Object Sequence -lt $reset[0].Sequence).Count | Should -BeGreaterThan 6
        # Signed by the key in force when they were written: the new key verifies none before the reset, all after it.
        @($log | Where-Object { $_.Sequence -lt $reset[0].Sequence -and $_.Verified }).Count | Should -Be 0
        @($log | Where-Object { $_.Sequence -ge $reset[0].Sequence -and -not $_.Verified }).Count | Should -Be 0
        @($log | Where-Object Status -eq 'Unsigned').Count | Should -Be 0

        # An entry whose signature someone removed is never signed again: the host shows it Unsigned.
        $raw = Get-Content $file2 -Raw | ConvertFrom-Json -AsHashtable -DateKind String
        $victim = $raw.entries[1]
        $victim.signature | Should -Not -BeNullOrEmpty
        $victim.Remove('signature')
        $raw | ConvertTo-Json -Depth 10 | Set-Content $file2
        $again = @(Get-HsmLog -HostPath $sim2.HostPath)
        ($again | Where-Object Sequence -eq $victim.seq).Status | Should -Be 'Unsigned'
    }

    It 'shows a tampered entry as not verified, and never drops it' {
        $before = @(Get-HsmLog -HostPath $h -WarningVariable clean -WarningAction SilentlyContinue)
        @($clean) | Should -BeNullOrEmpty
        Set-HsmSimulatedModule -Esn $a -TamperLog -SimulatorPath $sim.Path | Out-Null
        $oldest = (Get-ModuleLogFile).entries[0]
        $after = @(Get-HsmLog -HostPath $h -WarningVariable warned -WarningAction SilentlyContinue)
        # A plain read says it too, once for the module: one Tampered row among many is easy to miss.
        @($warned) | Should -HaveCount 1
        "$warned" | Should -BeLike "1 log entry of module $a is not verified (Tampered)*Status*"
        $tampered = @($after | Where-Object Sequence -eq $oldest.seq)
        $tampered.Count | Should -Be 1
        $tampered[0].Verified | Should -BeFalse
        $tampered[0].Status | Should -Be 'Tampered'
        $tampered[0].Outcome | Should -Be $oldest.outcome
        $tampered[0].Outcome | Should -Not -Be ($before | Where-Object Sequence -eq $oldest.seq).Outcome
        # Every entry of the earlier read is still there; only the tampered one fails.
        foreach ($e in $before) { $after.Sequence | Should -Contain $e.Sequence }
        @($after | Where-Object { -not $_.Verified }).Count | Should -Be 1
        ($after | Format-Table | Out-String -Width 250) | Should -Match 'Tampered'
    }
}

Describe 'Get-HsmLog -Path -Clear' {
    It '-Clear needs -Path: clearing only what was saved' {
        $p = (Get-Command Get-HsmLog).Parameters
        $p['Clear'].ParameterSets.Keys | Should -Be @('Clear')
        $p['Path'].ParameterSets['Clear'].IsMandatory | Should -BeTrue
        $p['Path'].ParameterSets['Read'].IsMandatory | Should -BeFalse
    }

    It 'refuses an existing -Path before reading, and clears nothing' {
        $file = Join-Path $out 'exists.json'
        Set-Content $file 'keep me'
        $count = @((Get-ModuleLogFile).entries).Count
        { Get-HsmLog -HostPath $h -Path $file -Clear -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'FileExists,*'
        Get-Content $file | Should -Be 'keep me'
        @((Get-ModuleLogFile).entries).Count | Should -Be $count
    }

    It 'clears nothing when the log cannot be saved (LogSaveFailed)' {
        $count = @((Get-ModuleLogFile).entries).Count
        # /proc/self exists but takes no new file: the save fails after the read.
        $e = { Get-HsmLog -HostPath $h -Path '/proc/self/nshield-log.json' -Clear -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'LogSaveFailed,*' -PassThru
        $e.Exception.Message | Should -Match 'nothing was cleared'
        # The read itself was logged; nothing was removed.
        @((Get-ModuleLogFile).entries).Count | Should -BeGreaterThan $count
    }

    It 'saves what it read (owner-only), then clears exactly those entries on the module' {
        $file = Join-Path $out 'log-1.json'
        $read = @(Get-HsmLog -HostPath $h -Path $file -Clear -Confirm:$false)
        $read.Count | Should -BeGreaterThan 5
        $saved = Get-Content $file -Raw | ConvertFrom-Json
        $saved.Count | Should -Be $read.Count
        $saved.Sequence | Should -Be $read.Sequence
        ($saved | Where-Object Status -eq 'Tampered').Count | Should -Be 1
        (Get-Item $file).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
        # The module side: only entries written after the read remain (the read's own logs command, the clear).
        $left = @((Get-ModuleLogFile).entries)
        $left | ForEach-Object { $_.seq | Should -BeGreaterThan ($read.Sequence | Measure-Object -Maximum).Maximum }
        $left.verb | Should -Be @('logs', 'logs.clear')
        $next = @(Get-HsmLog -HostPath $h)
        $next[0].Sequence | Should -BeGreaterThan ($read.Sequence | Measure-Object -Maximum).Maximum
        $next | ForEach-Object { $_.Verified | Should -BeTrue }
    }

    It 'clears nothing on a module whose saved entries are not one unbroken run (LogClearNotContiguous)' {
        Test-HsmConnection -HostPath $h | Out-Null
        # A middle entry dated long ago: -Since then skips it while taking the entries on both sides of it.
        $path = Join-Path $dir 'log.json'
        $raw = Get-Content $path -Raw | ConvertFrom-Json -AsHashtable
        $raw.entries.Count | Should -BeGreaterThan 3
        $raw.entries[1].time = '2001-01-01T00:00:00+00:00'
        $raw | ConvertTo-Json -Depth 10 | Set-Content $path
        $before = @((Get-ModuleLogFile).entries).Count
        $file = Join-Path $out 'gap.json'
        $since = [DateTimeOffset]::UtcNow.AddDays(-1)
        $read = @(Get-HsmLog -HostPath $h -Since $since -Path $file -Clear -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue)
        $read.Count | Should -BeGreaterThan 1
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'LogClearNotContiguous*' }) | Should -HaveCount 1
        $file | Should -Exist
        # The module side: nothing was cleared (only the read's own logs entry was added).
        @((Get-ModuleLogFile).entries).Count | Should -BeGreaterOrEqual $before
        Get-Content $path -Raw | Should -Match '2001-01-01'
    }

    It 'asks before clearing, No by default: Enter keeps every entry on the module; the file is saved either way' {
        $file = Join-Path $out 'asked.json'
        $count = @((Get-ModuleLogFile).entries).Count
        $clears = @((Get-ModuleLogFile).entries | Where-Object verb -eq 'logs.clear').Count
        $promptHost = New-TestPromptHost
        $runspace = [runspacefactory]::CreateRunspace($promptHost)
        $runspace.Open()
        try {
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript('param($m, $h, $f) Import-Module $m; Get-HsmLog -HostPath $h -Path $f -Clear').AddParameters(
                @{ m = (Join-Path $repo 'NShield.HsmAdmin.psd1'); h = $h; f = $file })
            $read = @($ps.Invoke())
        }
        finally { $runspace.Dispose() }
        $prompts = @($promptHost.Recorder.Choices)
        $prompts | Should -HaveCount 1
        $prompts[0].Labels[$prompts[0].Default] | Should -Be '&No'
        $prompts[0].Answer | Should -Be $prompts[0].Default -Because 'no answer was queued: Enter'
        $prompts[0].Text | Should -Match ([regex]::Escape("module $a"))
        $read.Count | Should -BeGreaterThan 0
        (Get-Content $file -Raw | ConvertFrom-Json).Count | Should -Be $read.Count
        # The module side: nothing cleared; the read itself added its own entry.
        $entries = @((Get-ModuleLogFile).entries)
        $entries.Count | Should -BeGreaterThan $count
        $entries.seq | Should -Contain ($read.Sequence | Measure-Object -Minimum).Minimum
        @($entries | Where-Object verb -eq 'logs.clear').Count | Should -Be $clears
    }

    It 'a session that cannot prompt gets ConfirmationRequired and clears nothing (-Confirm:$false answers it)' {
        $file = Join-Path $out 'bare.json'
        $count = @((Get-ModuleLogFile).entries).Count
        $clears = @((Get-ModuleLogFile).entries | Where-Object verb -eq 'logs.clear').Count
        $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
        try {
            $ps = [powershell]::Create(); $ps.Runspace = $rs
            $null = $ps.AddScript('param($m, $h, $f) Import-Module $m; $ErrorActionPreference = "Stop"; ' +
                'try { Get-HsmLog -HostPath $h -Path $f -Clear | Out-Null } catch { $_ }').AddParameters(
                @{ m = (Join-Path $repo 'NShield.HsmAdmin.psd1'); h = $h; f = $file })
            $r = @($ps.Invoke())
        }
        finally { $rs.Dispose() }
        @($r | Where-Object { $_ -is [Management.Automation.ErrorRecord] }).FullyQualifiedErrorId | Should -BeLike 'ConfirmationRequired*'
        Test-Path $file | Should -BeTrue
        @((Get-ModuleLogFile).entries).Count | Should -BeGreaterThan $count
        @((Get-ModuleLogFile).entries | Where-Object verb -eq 'logs.clear').Count | Should -Be $clears
    }

    It '-WhatIf reads but neither saves nor clears' {
        $file = Join-Path $out 'whatif.json'
        $count = @((Get-ModuleLogFile).entries).Count
        @(Get-HsmLog -HostPath $h -Path $file -Clear -WhatIf).Count | Should -BeGreaterThan 0
        Test-Path $file | Should -BeFalse
        @((Get-ModuleLogFile).entries).Count | Should -BeGreaterThan $count
    }

    It 'is refused while ncoreapi is operational: the log is saved, nothing is cleared' {
        Set-HsmSimulatedModule -Esn $a -NCoreApiSession $true -SimulatorPath $sim.Path | Out-Null
        try {
            $file = Join-Path $out 'interlock.json'
            $count = @((Get-ModuleLogFile).entries).Count
            $err = $null
            Get-HsmLog -HostPath $h -Path $file -Clear -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $err[-1].FullyQualifiedErrorId | Should -BeLike 'NCoreApiOperational,*'
            $err[-1].Exception.Message | Should -Match 'Stop the hardserver'
            Test-Path $file | Should -BeTrue
            @((Get-ModuleLogFile).entries).Count | Should -BeGreaterThan $count
        }
        finally { Set-HsmSimulatedModule -Esn $a -NCoreApiSession $false -SimulatorPath $sim.Path | Out-Null }
    }
}

Describe 'Log capacity (firmware 13.5+)' {
    It 'refuses changes past the safe working capacity with ModuleLogFull, naming the way out; after -Clear they work' {
        $count = @((Get-ModuleLogFile).entries).Count
        Set-HsmSimulatedModule -Esn $a -LogCapacity ([Math]::Max(1, $count)) -SimulatorPath $sim.Path | Out-Null
        $state = (Get-FileHash (Join-Path $dir 'state.json')).Hash
        $err = $null
        Set-HsmMinimumVsn -HostPath $h -Esn $a -Vsn 4 -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ModuleLogFull,*'
        $err[0].Exception.Message | Should -Match 'Get-HsmLog -Esn .* -Path .* -Clear'
        (Get-FileHash (Join-Path $dir 'state.json')).Hash | Should -Be $state
        # Reads still work.
        Test-HsmConnection -HostPath $h -Esn $a | Should -BeTrue
        (Get-HsmModule -HostPath $h -Esn $a).MinimumVsn | Should -Be 3
        # The way out it names.
        Get-HsmLog -HostPath $h -Esn $a -Path (Join-Path $out 'full.json') -Clear -Confirm:$false | Out-Null
        (Set-HsmMinimumVsn -HostPath $h -Esn $a -Vsn 4 -Confirm:$false).MinimumVsn | Should -Be 4
    }
}
