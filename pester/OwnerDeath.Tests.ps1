<#
    Simulated modules die with their owner (issue 23 item 11): a simulator's sshd endpoints, the firmware running its
    commands and its stand-in hardservers end within 10 s of the death of the process that started it, SIGKILL included,
    and a folder Start-HsmSimulator created is deleted; -Persistent keeps them alive until Stop-HsmSimulator.
    The owner is a child pwsh that this test kills; every process is found by pid and checked in /proc.
#>
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')
    $script:work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-ownerdeath-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force $work | Out-Null
    if (-not $IsWindows) { chmod 700 $work }
    $script:children = [Collections.Generic.List[Diagnostics.Process]]::new()

    # A child pwsh that runs $Script, prints one JSON line prefixed READY, then waits to be killed.
    function Start-Owner([string] $Script) {
        $file = Join-Path $work ('owner-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        Set-Content -Path $file -Value ("`$ErrorActionPreference = 'Stop'`nImport-Module '$(Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')'`n" +
            $Script + "`nStart-Sleep -Seconds 600")
        $psi = [Diagnostics.ProcessStartInfo]::new('dotnet')
        foreach ($a in (Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-File', $file) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
        $p = [Diagnostics.Process]::Start($psi)
        $children.Add($p)
        $errors = $p.StandardError.ReadToEndAsync()
        while ($null -ne ($line = $p.StandardOutput.ReadLine())) {
            if ($line.StartsWith('READY ')) { return [pscustomobject]@{ Process = $p; Info = ($line.Substring(6) | ConvertFrom-Json) } }
        }
        $p.WaitForExit()
        throw "The owner pwsh ended before it was ready: $($errors.Result)"
    }

    # Alive: in /proc and not a zombie (a zombie has exited; only its parent's wait is missing).
    function Test-Alive([int] $ProcessId) {
        $stat = Get-Content "/proc/$ProcessId/stat" -Raw -ErrorAction SilentlyContinue
        if (-not $stat) { return $false }
        $state = $stat.Substring($stat.LastIndexOf(')') + 2, 1)
        $state -notin 'Z', 'X'
    }

    # Every process whose command line names a file under the simulator's modules folder (sshd, firmware).
    function Get-SimulatorProcess([string] $Root) {
        $marker = (Join-Path $Root 'modules') + '/'
        foreach ($d in Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue) {
            if ($d.Name -notmatch '^\d+$') { continue }
            $cmd = (Get-Content "/proc/$($d.Name)/cmdline" -Raw -ErrorAction SilentlyContinue) -replace "`0", ' '
            if ($cmd -and $cmd.Contains($marker) -and -not $cmd.Contains('--owner-watch') -and (Test-Alive $d.Name)) {
                [pscustomobject]@{ Id = [int]$d.Name; CommandLine = $cmd }
            }
        }
    }

    # Bounded wait (the requirement is "within 10 s"), then the caller asserts the state it waited for.
    function Wait-Until([scriptblock] $Condition, [int] $Seconds = 10) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
    }
}

AfterAll {
    foreach ($p in $children) { if (-not $p.HasExited) { $p.Kill($true); $p.WaitForExit(5000) | Out-Null } }
    $persistent = Join-Path $work 'persistent'
    if (Test-Path (Join-Path $persistent 'simulator.json')) { Stop-HsmSimulator -Path $persistent -ErrorAction SilentlyContinue }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Simulated modules die with their owner' -Skip:(-not $IsLinux) {
    It 'stops every sshd, firmware and stand-in hardserver within 10 s of a SIGKILL of the starting process, and deletes its folders' {
        # One SSH simulator (a firmware command in flight, held by a delay fault) and one in-process simulator, both in
        # folders Start-HsmSimulator makes under the temp directory.
        $owner = Start-Owner @'
$ssh = Start-HsmSimulator -ModuleCount 2
$inproc = Start-HsmSimulator -ModuleCount 1 -Transport InProcess
$m = $ssh.Modules[0]
$null = Set-HsmSimulatedModule -Esn $m.Esn -SimulatorPath $ssh.Path -DelayMs 600000
$port = ($m.Endpoints | Where-Object Service -eq 'sshadmin').Port
$null = Start-Process ssh -ArgumentList @('-i', $ssh.FactoryCredentialPath, '-p', $port, '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', "$([Environment]::UserName)@127.0.0.1", 'identity') `
    -RedirectStandardOutput (Join-Path $ssh.Path 'ssh.out') -RedirectStandardError (Join-Path $ssh.Path 'ssh.err') -PassThru
$json = @{ Ssh = $ssh.Path; InProcess = $inproc.Path; Sshd = @($ssh.Modules.Endpoints.Pid); Pid = $PID } | ConvertTo-Json -Compress
"READY $json"
'@
        $info = $owner.Info
        $roots = @($info.Ssh, $info.InProcess)
        $state = foreach ($r in $roots) { Get-Content (Join-Path $r 'simulator.json') -Raw | ConvertFrom-Json }
        $watchers = @($state.watcher)
        $watchers | ForEach-Object { Test-Alive $_ | Should -BeTrue -Because 'each simulator has its watcher' }
        $state.owner | Should -Be @($info.Pid, $info.Pid)
        $hardservers = @(foreach ($r in $roots) { Get-ChildItem (Join-Path $r 'hardservers') -Recurse -Filter hardserver.pid | ForEach-Object { [int](Get-Content $_.FullName) } })
        $hardservers.Count | Should -Be 2 -Because 'each simulated host runs a stand-in hardserver'
        @($info.Sshd).Count | Should -Be 12
        # The firmware command held by the delay fault.
        Wait-Until { @(Get-SimulatorProcess $info.Ssh | Where-Object CommandLine -like '*--module-dir*').Count -gt 0 }
        $firmware = @(Get-SimulatorProcess $info.Ssh | Where-Object CommandLine -like '*--module-dir*')
        $firmware.Count | Should -BeGreaterThan 0 -Because 'a firmware command is in flight when the owner dies'
        $all = @($info.Sshd) + $hardservers + @($firmware.Id) + $watchers
        $all | ForEach-Object { Test-Alive $_ | Should -BeTrue }

        $owner.Process.Kill()   # SIGKILL: no cleanup code of the owner runs
        $owner.Process.WaitForExit()

        Wait-Until { -not ($all | Where-Object { Test-Alive $_ }) -and -not ($roots | Where-Object { Test-Path $_ }) }
        @($all | Where-Object { Test-Alive $_ }) | Should -BeNullOrEmpty -Because 'sshd, firmware, hardservers and watchers end within 10 s'
        @(foreach ($r in $roots) { Get-SimulatorProcess $r }) | Should -BeNullOrEmpty
        $roots | ForEach-Object { Test-Path $_ | Should -BeFalse -Because "the folder $_ (host keys included) was made by Start-HsmSimulator" }
    }

    It 'keeps a -Persistent simulator after its owner is killed, until Stop-HsmSimulator' {
        $path = Join-Path $work 'persistent'
        $owner = Start-Owner @"
`$s = Start-HsmSimulator -ModuleCount 1 -Persistent -SimulatorPath '$path'
`$json = @{ Sshd = @(`$s.Modules.Endpoints.Pid); Ports = @(`$s.Modules.Endpoints.Port); Persistent = `$s.Persistent } | ConvertTo-Json -Compress
"READY `$json"
"@
        $owner.Info.Persistent | Should -BeTrue
        $state = Get-Content (Join-Path $path 'simulator.json') -Raw | ConvertFrom-Json
        $state.watcher | Should -Be 0 -Because 'a persistent simulator has no watcher'
        $hardserver = [int](Get-Content (Get-ChildItem (Join-Path $path 'hardservers') -Recurse -Filter hardserver.pid).FullName)
        $owner.Process.Kill()
        $owner.Process.WaitForExit()
        # Nothing waits for this owner's death (no watcher exists): the endpoints still serve afterwards.
        @(Get-SimulatorProcess $path).Count | Should -Be 6
        foreach ($p in @($owner.Info.Sshd) + $hardserver) { Test-Alive $p | Should -BeTrue }
        foreach ($port in $owner.Info.Ports) {
            $c = [Net.Sockets.TcpClient]::new()
            try { $c.Connect('127.0.0.1', $port); $c.Connected | Should -BeTrue } finally { $c.Dispose() }
        }
        Stop-HsmSimulator -Path $path
        foreach ($p in @($owner.Info.Sshd) + $hardserver) { Test-Alive $p | Should -BeFalse }
        Test-Path $path | Should -BeTrue -Because 'a persistent simulator''s folder stays until Stop-HsmSimulator -Remove'
    }

    It 'ends the watcher with a normal Stop-HsmSimulator' {
        $sim = Start-HsmSimulator -ModuleCount 0 -NoHost -Transport InProcess
        $watcher = (Get-Content (Join-Path $sim.Path 'simulator.json') -Raw | ConvertFrom-Json).watcher
        $sim.OwnerProcessId | Should -Be $PID
        Test-Alive $watcher | Should -BeTrue
        Stop-HsmSimulator -Path $sim.Path -Remove
        Wait-Until { -not (Test-Alive $watcher) }
        Test-Alive $watcher | Should -BeFalse
    }
}

Describe 'A killed test run leaves nothing for the next one' -Skip:(-not $IsLinux) {
    It 'Invoke-PesterSuite removes the per-process folders of test processes that no longer exist, and keeps live ones' {
        # A process that has exited: its pid names no process now (folders as a SIGKILLed run would leave them).
        $gone = Start-Process -FilePath /bin/true -PassThru
        $gone.WaitForExit()
        $temp = [IO.Path]::GetTempPath()
        $dead = foreach ($kind in 'pester', 'pester-machine', 'xunit-machine') { Join-Path $temp "nshield-$kind-$($gone.Id)" }
        foreach ($d in $dead) { New-Item -ItemType Directory -Force (Join-Path $d 'host/client-keys') | Out-Null }
        $live = Join-Path $temp "nshield-xunit-machine-$PID"
        $made = -not (Test-Path $live)
        New-Item -ItemType Directory -Force $live | Out-Null
        try {
            $fixture = Join-Path $repo 'tests/runner/pester-fixture/Empty.Fixture.ps1'
            $null = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'Invoke-PesterSuite.ps1') `
                -SummaryPath (Join-Path $work 'sweep.json') -Path $fixture 2>&1
            foreach ($d in $dead) { Test-Path $d | Should -BeFalse -Because "$d belonged to a process that no longer exists" }
            Test-Path $live | Should -BeTrue -Because 'a running process''s folder is never touched'
        }
        finally {
            foreach ($d in $dead) { Remove-Item $d -Recurse -Force -ErrorAction SilentlyContinue }
            if ($made) { Remove-Item $live -Recurse -Force -ErrorAction SilentlyContinue }
        }
    }
}
