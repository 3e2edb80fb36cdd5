<#
    What build.ps1 test, bench and demo need from the machine before anything is built: OpenSSH's sshd and
    ssh-keygen (the simulator's endpoints are real sshd processes). Decided in seconds, before the build:
    - present: nothing is done, nothing is said;
    - missing, and the machine can install it (root plus apt-get, dnf, zypper or apk; on Windows an elevated
      session, through the OpenSSH.Server capability): installed, and one line says so;
    - missing, and it cannot: one line naming the exact command to run (the caller then exits non-zero).
    Every input is a parameter so that pester/Prerequisites.Tests.ps1 can run the decision against a folder of
    stub tools (no sshd, a recording apt-get or none, root or not) without touching this machine.
#>

# The packages that bring sshd and ssh-keygen, per package manager (the first one found on the search path wins).
$script:Installers = [ordered]@{
    'apt-get' = @{ Update = @('update', '-qq'); Install = @('install', '-y', '-qq', 'openssh-server', 'openssh-client') }
    'dnf'     = @{ Install = @('install', '-y', 'openssh-server', 'openssh-clients') }
    'zypper'  = @{ Install = @('--non-interactive', 'install', 'openssh-server', 'openssh-clients') }
    'apk'     = @{ Install = @('add', '--no-progress', 'openssh-server', 'openssh-keygen') }
}

# The folders searched: the PATH plus the sbin folders, where sshd lives but which an ordinary user's PATH often lacks.
# NSHIELD_PREREQ_SEARCH_PATH replaces both (a test points build.ps1 at a folder of stub tools with it).
function Get-PrerequisiteSearchPath {
    if ($env:NSHIELD_PREREQ_SEARCH_PATH) { return @($env:NSHIELD_PREREQ_SEARCH_PATH -split [IO.Path]::PathSeparator | Where-Object { $_ }) }
    $dirs = @($env:PATH -split [IO.Path]::PathSeparator) + @('/usr/sbin', '/sbin', '/usr/local/sbin')
    @($dirs | Where-Object { $_ } | Select-Object -Unique)
}

function Find-Tool([string] $Name, [string[]] $SearchPath) {
    $names = if ($IsWindows) { "$Name.exe", $Name } else { $Name }
    foreach ($dir in $SearchPath) {
        foreach ($n in $names) {
            $candidate = Join-Path $dir $n
            if ([IO.File]::Exists($candidate)) { return $candidate }
        }
    }
    $null
}

# NSHIELD_PREREQ_AS_ROOT=0/1 overrides (tests simulate an ordinary account or root with it).
function Test-IsAdministrator {
    if ($env:NSHIELD_PREREQ_AS_ROOT) { return $env:NSHIELD_PREREQ_AS_ROOT -eq '1' }
    if ($IsWindows) {
        $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
        return ([Security.Principal.WindowsPrincipal]$identity).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
    }
    (id -u) -eq '0'
}

# The command line a person would type (sudo when not root), for the one-line stop.
function Format-InstallCommand([string] $Manager, [bool] $IsRoot) {
    $sudo = if ($IsRoot) { '' } else { 'sudo ' }
    $spec = $script:Installers[$Manager]
    $parts = @()
    if ($spec.Update) { $parts += "$sudo$Manager update" }
    $parts += "$sudo$Manager " + (($spec.Install | Where-Object { $_ -ne '-qq' -and $_ -ne '--no-progress' }) -join ' ')
    $parts -join ' && '
}

<#
.SYNOPSIS
    The decision alone: what is missing and what to do about it. Returns an object with Missing (tool names),
    Action ('None', 'Install', 'Stop'), Manager (the package manager's path, when installing), Command (what a
    person would type) and Message (the one line to print).
#>
function Get-PrerequisiteDecision {
    param(
        [string[]] $SearchPath = (Get-PrerequisiteSearchPath),
        [bool] $IsRoot = (Test-IsAdministrator),
        [bool] $OnWindows = [bool]$IsWindows,
        [string] $Task = 'test'
    )
    $missing = @(foreach ($tool in 'sshd', 'ssh-keygen') { if (-not (Find-Tool $tool $SearchPath)) { $tool } })
    $decision = [pscustomobject]@{ Missing = $missing; Action = 'None'; Manager = $null; Arguments = $null; Command = $null; Message = $null }
    if ($missing.Count -eq 0) { return $decision }
    $what = "OpenSSH's $($missing -join ' and ') (not found in PATH or /usr/sbin)"
    if ($OnWindows) {
        $decision.Command = "Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0 (in an elevated PowerShell)"
        if ($IsRoot) { $decision.Action = 'Install'; $decision.Manager = 'Add-WindowsCapability' }
    }
    else {
        foreach ($manager in $script:Installers.Keys) {
            $path = Find-Tool $manager $SearchPath
            if (-not $path) { continue }
            $decision.Command = Format-InstallCommand $manager $IsRoot
            if ($IsRoot) { $decision.Action = 'Install'; $decision.Manager = $path; $decision.Arguments = $script:Installers[$manager] }
            break
        }
        if (-not $decision.Command) { $decision.Command = 'install OpenSSH server and client (sshd, ssh-keygen) with your system''s package manager' }
    }
    if ($decision.Action -eq 'Install') { return $decision }
    $decision.Action = 'Stop'
    $decision.Message = if ($Task -eq 'demo') {
        "build.ps1 demo: $what, so the demo runs in-process; for SSH run: $($decision.Command)"
    }
    else { "build.ps1 ${Task}: needs $what; run: $($decision.Command) - then run build.ps1 $Task again." }
    $decision
}

<#
.SYNOPSIS
    Applies the decision: installs when it can (one line says so), or returns the one-line stop. Returns
    nothing when everything is there (also after an install that worked), else the line to print before exiting
    non-zero. Never prompts; the installer's own output is kept out of the way unless it fails.
#>
function Install-Prerequisite {
    param(
        [string[]] $SearchPath = (Get-PrerequisiteSearchPath),
        [bool] $IsRoot = (Test-IsAdministrator),
        [bool] $OnWindows = [bool]$IsWindows,
        [string] $Task = 'test'
    )
    $d = Get-PrerequisiteDecision -SearchPath $SearchPath -IsRoot $IsRoot -OnWindows $OnWindows -Task $Task
    switch ($d.Action) {
        'None' { return }
        'Stop' { return $d.Message }
    }
    $log = [Collections.Generic.List[string]]::new()
    if ($OnWindows) {
        try { Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0 -ErrorAction Stop | Out-Null }
        catch { return "build.ps1 ${Task}: installing OpenSSH Server failed ($($_.Exception.Message)); run: $($d.Command)" }
    }
    else {
        $env:DEBIAN_FRONTEND = 'noninteractive'
        foreach ($step in 'Update', 'Install') {
            if (-not $d.Arguments[$step]) { continue }
            $out = & $d.Manager @($d.Arguments[$step]) 2>&1
            foreach ($line in $out) { $log.Add("$line") }
            if ($LASTEXITCODE -ne 0) {
                $last = $log | Where-Object { $_.Trim() } | Select-Object -Last 1
                $detail = if ($last) { ": $last" } else { '' }
                return "build.ps1 ${Task}: '$($d.Manager) $($d.Arguments[$step] -join ' ')' failed (exit $LASTEXITCODE$detail); run: $($d.Command)"
            }
        }
    }
    $after = Get-PrerequisiteDecision -SearchPath $SearchPath -IsRoot $IsRoot -OnWindows $OnWindows -Task $Task
    if ($after.Missing.Count -gt 0) {
        return "build.ps1 ${Task}: installed with '$($d.Command)', but $($after.Missing -join ' and ') still not found in PATH or /usr/sbin."
    }
    Write-Host "Installed OpenSSH ($($d.Missing -join ', ') was missing): $($d.Command -replace 'sudo ', '')"
}

Export-ModuleMember -Function Get-PrerequisiteDecision, Install-Prerequisite, Get-PrerequisiteSearchPath
