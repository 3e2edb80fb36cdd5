<#
    build.ps1's decision about sshd and ssh-keygen (build/Prerequisites.psm1), made before anything is built, against
    a folder of stub tools: this machine's own sshd is never looked at, and nothing is installed on it.
#>
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $repo 'build/Prerequisites.psm1') -Force
    $script:work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-prereq-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force $work | Out-Null

    # A folder of stub tools. -Tools: the ones present at the start. An apt-get stub records its arguments in apt.log;
    # with -InstallWorks its 'install' also creates sshd and ssh-keygen stubs, as the real package would.
    function New-StubPath([string] $Name, [string[]] $Tools = @(), [switch] $InstallWorks, [int] $AptExit = 0) {
        $dir = Join-Path $work $Name
        New-Item -ItemType Directory -Force $dir | Out-Null
        foreach ($t in $Tools) {
            $body = if ($t -eq 'apt-get') {
                $create = if ($InstallWorks) {
                    "printf '#!/bin/sh\n' > '$dir/sshd'; printf '#!/bin/sh\n' > '$dir/ssh-keygen'; chmod +x '$dir/sshd' '$dir/ssh-keygen'"
                }
                "echo `"`$*`" >> '$dir/apt.log'`ncase `"`$1`" in install) $create ;; esac`nexit $AptExit"
            }
            else { 'exit 0' }
            Set-Content -Path (Join-Path $dir $t) -Value "#!/bin/sh`n$body"
            chmod +x (Join-Path $dir $t)
        }
        $dir
    }
    function Get-AptCalls([string] $dir) { @(if (Test-Path "$dir/apt.log") { Get-Content "$dir/apt.log" }) }
}

AfterAll { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'build.ps1 prerequisites (sshd, ssh-keygen) decided before the build' -Skip:(-not $IsLinux) {
    It 'does nothing when both are present (the installer is never called)' {
        $dir = New-StubPath 'present' 'sshd', 'ssh-keygen', 'apt-get'
        $d = Get-PrerequisiteDecision -SearchPath $dir -IsRoot $true
        $d.Action | Should -Be 'None'
        @($d.Missing).Count | Should -Be 0
        $said = Install-Prerequisite -SearchPath $dir -IsRoot $true 6>&1
        $said | Should -BeNullOrEmpty
        Get-AptCalls $dir | Should -BeNullOrEmpty
    }

    It 'installs with the package manager as root when sshd is missing, and says so in one line' {
        $dir = New-StubPath 'installable' 'apt-get' -InstallWorks
        $d = Get-PrerequisiteDecision -SearchPath $dir -IsRoot $true
        $d.Action | Should -Be 'Install'
        @($d.Missing) | Should -Be @('sshd', 'ssh-keygen')
        $out = @(Install-Prerequisite -SearchPath $dir -IsRoot $true 6>&1 | ForEach-Object { "$_" })
        Get-AptCalls $dir | Should -Be @('update -qq', 'install -y -qq openssh-server openssh-client')
        $out.Count | Should -Be 1 -Because 'one line says what was installed; nothing is returned as a stop'
        $out[0] | Should -BeExactly ('Installed OpenSSH (sshd, ssh-keygen was missing): ' +
            'apt-get update && apt-get install -y openssh-server openssh-client')
        Test-Path (Join-Path $dir 'sshd') | Should -BeTrue
        (Get-PrerequisiteDecision -SearchPath $dir -IsRoot $true).Action | Should -Be 'None'
    }

    It 'stops with one line naming the exact command when it is not root (nothing is installed)' {
        $dir = New-StubPath 'not-root' 'apt-get', 'ssh-keygen'
        $line = Install-Prerequisite -SearchPath $dir -IsRoot $false
        $line | Should -BeExactly ("build.ps1 test: needs OpenSSH's sshd (not found in PATH or /usr/sbin); run: " +
            'sudo apt-get update && sudo apt-get install -y openssh-server openssh-client - then run build.ps1 test again.')
        Get-AptCalls $dir | Should -BeNullOrEmpty -Because 'an ordinary account is never made to run the installer'
    }

    It 'stops with one line when no known package manager exists, and when the installer fails' {
        $none = New-StubPath 'no-manager' 'ssh-keygen'
        Install-Prerequisite -SearchPath $none -IsRoot $true |
            Should -BeExactly ("build.ps1 test: needs OpenSSH's sshd (not found in PATH or /usr/sbin); run: install OpenSSH server " +
                "and client (sshd, ssh-keygen) with your system's package manager - then run build.ps1 test again.")
        $failing = New-StubPath 'failing' 'apt-get' -AptExit 100
        $line = Install-Prerequisite -SearchPath $failing -IsRoot $true
        $line | Should -Match ("^build\.ps1 test: '.*/apt-get update -qq' failed \(exit 100\); " +
            'run: apt-get update && apt-get install -y openssh-server openssh-client$')
        Get-AptCalls $failing | Should -Be @('update -qq') -Because 'after a failed update, install is not attempted'
    }

    It 'says the demo runs in-process when sshd cannot be installed' {
        $dir = New-StubPath 'demo' 'apt-get', 'ssh-keygen'
        Install-Prerequisite -SearchPath $dir -IsRoot $false -Task demo |
            Should -BeExactly ("build.ps1 demo: OpenSSH's sshd (not found in PATH or /usr/sbin), so the demo runs in-process; " +
                'for SSH run: sudo apt-get update && sudo apt-get install -y openssh-server openssh-client')
    }

    It 'build.ps1 test stops before building: one line, exit 2, no build output' {
        # A copy of build.ps1 and what it imports: had the check not stopped it, the build there would fail at once
        # (no sources) instead of rebuilding the modules this suite is running against.
        $copy = Join-Path $work 'repo'
        New-Item -ItemType Directory -Force "$copy/build", "$copy/pester" | Out-Null
        Copy-Item (Join-Path $repo 'build.ps1') $copy
        Copy-Item (Join-Path $repo 'build/Prerequisites.psm1') "$copy/build"
        Copy-Item (Join-Path $repo 'pester/TestRunner.psm1') "$copy/pester"
        $dir = New-StubPath 'e2e' 'apt-get'
        $saved = $env:NSHIELD_PREREQ_SEARCH_PATH, $env:NSHIELD_PREREQ_AS_ROOT
        $env:NSHIELD_PREREQ_SEARCH_PATH = $dir; $env:NSHIELD_PREREQ_AS_ROOT = '0'
        $pwsh = Join-Path $PSHOME 'pwsh.dll'
        try { $out = @(& dotnet $pwsh -NoProfile -NonInteractive -File "$copy/build.ps1" test 2>&1 | ForEach-Object { "$_" }) }
        finally { $env:NSHIELD_PREREQ_SEARCH_PATH, $env:NSHIELD_PREREQ_AS_ROOT = $saved }
        $LASTEXITCODE | Should -Be 2
        @($out | Where-Object { $_.Trim() }) | Should -Be @(("build.ps1 test: needs OpenSSH's sshd and ssh-keygen " +
                '(not found in PATH or /usr/sbin); run: sudo apt-get update && sudo apt-get install -y openssh-server openssh-client' +
                ' - then run build.ps1 test again.'))
        Test-Path "$copy/bin" | Should -BeFalse -Because 'nothing was built'
        Get-AptCalls $dir | Should -BeNullOrEmpty
    }
}
