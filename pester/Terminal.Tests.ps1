# Issue 21: the product in a real terminal, as an operator sees it. pwsh runs in a tmux pane 120 columns wide (its own
# tmux server on a private socket); keys are typed into it and the screen is read back with capture-pane. Every wait
# polls the screen with a generous deadline: nothing here asserts how long anything takes.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force
    function Secure([string] $s) { ConvertTo-SecureString $s -AsPlainText -Force }

    $script:Tmux = Get-Command tmux -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $Tmux) { return }
    $script:Socket = "nshield-term-$PID-$([guid]::NewGuid().ToString('N').Substring(0, 6))"
    $script:Pane = 'term'

    function Invoke-Tmux { & $Tmux.Source -L $Socket @args }
    # The screen as shown: one line per terminal row, nothing joined, so a cut or a wrap is seen as the operator sees it.
    function Get-Screen { (Invoke-Tmux capture-pane -p -t $Pane -S -200) -join "`n" }
    # Polls the screen until $Pattern matches (a regex; (?m) for whole lines). Fails with the screen when the deadline passes.
    function Wait-Screen([string] $Pattern, [int] $Seconds = 240) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        do {
            $screen = Get-Screen
            if ($screen -match $Pattern) { return $screen }
            Start-Sleep -Milliseconds 300
        } while ([DateTime]::UtcNow -lt $deadline)
        throw "The terminal never showed /$Pattern/ within $Seconds s. Screen:`n$screen"
    }
    $script:Step = 0
    # Types a command at the prompt (after the previous one ended) and returns the marker line its end prints. The marker
    # is matched as a whole line, so the echoed command line (which contains it in quotes) never counts.
    function Send-Command([string] $Command, [switch] $NoMarker) {
        $script:Step++
        $marker = "END-OF-STEP-$Step"
        Invoke-Tmux send-keys -t $Pane -l ($NoMarker ? $Command : "$Command; '$marker'")
        Invoke-Tmux send-keys -t $Pane Enter
        "(?m)^$marker\s*$"
    }
    function Clear-Terminal {
        Wait-Screen (Send-Command 'Clear-Host') | Out-Null
        Invoke-Tmux clear-history -t $Pane
    }

    # Three simulated modules under this process (they stop with it), enrolled; the pane's pwsh uses them.
    $script:sim = Start-TestSimulator -ModuleCount 3
    $script:h = $sim.HostPath
    $script:esns = @($sim.Modules.Esn | Sort-Object)
    Invoke-HsmEnroll -HostPath $h -WarningAction SilentlyContinue | Out-Null
    $script:backup = Join-Path (New-TestHostPath 'vault') 'sshadmin.key'
    $script:pass = 'correct horse battery'
    # A fresh host for the restore: the configuration set again, the vendor root added, the modules registered.
    $script:fresh = New-TestHostPath 'fresh'
    Copy-Item (Join-Path $h 'host-config.json'), (Join-Path $h 'module-registry.json') $fresh
    Copy-Item (Join-Path $h 'trusted-roots') $fresh -Recurse

    $setup = Join-Path (New-TestHostPath 'term') 'setup.ps1'
    Set-Content $setup @"
Import-Module '$Manifest'
Import-Module '$(Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')'
`$h = '$h'; `$fresh = '$fresh'; `$backup = '$backup'
`$esns = '$($esns -join "','")'
"@
    $pwsh = "dotnet '$(Join-Path $PSHOME 'pwsh.dll')' -NoProfile"
    $envs = "env NO_COLOR=1 TERM=xterm-256color"
    Invoke-Tmux -f /dev/null new-session -d -s $Pane -x 120 -y 50 "$envs $pwsh"
    Wait-Screen '(?m)^PS .*> ?$' | Out-Null
    Wait-Screen (Send-Command ". '$setup'") | Out-Null
}
AfterAll {
    if ($Tmux) {
        # The pane's pwsh and anything it started end with the server; the simulator ends with this process.
        Invoke-Tmux kill-server 2>$null
        # The server leaves its socket file behind: remove it too.
        $socketDir = Join-Path ($env:TMUX_TMPDIR ? $env:TMUX_TMPDIR : '/tmp') "tmux-$(& id -u)"
        Remove-Item (Join-Path $socketDir $Socket) -Force -ErrorAction SilentlyContinue
    }
    Remove-TestHosts
}

Describe 'Terminal: the product in a real terminal (tmux, 120 columns)' {
    It 'shows "0 of 3 modules" progress before the first module finishes' {
        if (-not $Tmux) { Set-ItResult -Skipped -Because 'tmux is not installed (apt-get install tmux): no real terminal to drive'; return }
        Clear-Terminal
        # Slow modules: every firmware command waits, so the roll is long enough to be seen.
        foreach ($e in $esns) { Set-HsmSimulatedModule -HostPath $h -Esn $e -DelayMs 1500 }
        $done = Send-Command 'Update-HsmSshKey -HostPath $h -Service setup -Confirm:$false -WarningAction SilentlyContinue | Out-Null'
        $screen = Wait-Screen '0 of 3 modules'
        # What the count says: no module had finished when it was drawn (the roll result is not on the screen yet either).
        $screen | Should -Not -Match 'finished\)'
        $screen | Should -Not -Match $done
        Wait-Screen $done | Out-Null
    }

    It 'Ctrl+C during a roll prints the line naming the open roll and the command that finishes it' {
        if (-not $Tmux) { Set-ItResult -Skipped -Because 'tmux is not installed (apt-get install tmux): no real terminal to drive'; return }
        Clear-Terminal
        Send-Command 'Update-HsmSshKey -HostPath $h -Confirm:$false' -NoMarker | Out-Null
        # Stopped once the roll is under way on the modules (a module's step is on the progress line).
        Wait-Screen 'keys\.add' | Out-Null
        Invoke-Tmux send-keys -t $Pane C-c
        $screen = Wait-Screen '(?m)Stopped\. A key roll is open'
        ($screen -replace '\n', '') | Should -Match ([regex]::Escape("Finish it with: Update-HsmSshKey -HostPath '$h'"))
        Wait-Screen '(?m)^PS .*> ?$' | Out-Null
        Join-Path $h 'roll-journal.json' | Should -Exist
    }

    It 'the roll that finishes it shows its result whole at 120 columns: every header, service and ESN uncut' {
        if (-not $Tmux) { Set-ItResult -Skipped -Because 'tmux is not installed (apt-get install tmux): no real terminal to drive'; return }
        foreach ($e in $esns) { Set-HsmSimulatedModule -HostPath $h -Esn $e -DelayMs 0 }
        Clear-Terminal
        $screen = Wait-Screen (Send-Command 'Update-HsmSshKey -HostPath $h -Confirm:$false -WarningAction SilentlyContinue')
        $lines = $screen -split "`n"
        $header = $lines | Where-Object { $_ -match '^Operation\s+Status' } | Select-Object -First 1
        $header | Should -Not -BeNullOrEmpty -Because "the result table is on the screen:`n$screen"
        foreach ($column in 'Operation', 'Status', 'Services', 'ModulesUpdated', 'ModulesPending', 'ModulesExcluded', 'HardserverRestartNeeded') {
            $header | Should -Match "\b$column\b"
        }
        $screen | Should -Not -Match '…' -Because 'nothing is cut with an ellipsis'
        foreach ($service in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $screen | Should -Match "\b$service\b" }
        foreach ($e in $esns) { $screen | Should -Match ([regex]::Escape($e)) }
        $screen | Should -Match '\bCompleted\b'
        Join-Path $h 'roll-journal.json' | Should -Not -Exist
    }

    It 'Restore-HsmSshKey on a fresh host prompts for the passphrase, again after a typo, then restores' {
        if (-not $Tmux) { Set-ItResult -Skipped -Because 'tmux is not installed (apt-get install tmux): no real terminal to drive'; return }
        # A backup of the host's sshadmin key as it is now (the rolls above replaced the one made at the start).
        Backup-HsmSshKey -HostPath $h -Path $backup -Passphrase (Secure $pass) -Force | Out-Null
        Clear-Terminal
        $done = Send-Command 'Restore-HsmSshKey -HostPath $fresh -Path $backup'
        Wait-Screen '(?m)^Passphrase: ?$' | Out-Null
        Invoke-Tmux send-keys -t $Pane -l 'correct horse batery'
        Invoke-Tmux send-keys -t $Pane Enter
        Wait-Screen 'Try again \(2 more\)' | Out-Null
        Wait-Screen '(?m)^Passphrase: ?$' | Out-Null
        Invoke-Tmux send-keys -t $Pane -l $pass
        Invoke-Tmux send-keys -t $Pane Enter
        # The restore itself is confirmed (ConfirmImpact High): Y.
        Wait-Screen '\[Y\] Yes.*\(default is "Y"\)' | Out-Null
        Invoke-Tmux send-keys -t $Pane y Enter
        $screen = Wait-Screen $done
        $screen | Should -Not -Match ([regex]::Escape($pass)) -Because 'a typed passphrase is never echoed'
        $screen | Should -Match '(?m)^Restore\s+Completed'
        Test-HsmConnection -HostPath $fresh | Should -BeExactly $true
    }
}
