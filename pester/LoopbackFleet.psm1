<#
    Several "HSM hosts" on one machine, reached by real PowerShell remoting over SSH (issue 14): one OpenSSH sshd
    listening on 127.0.0.1, 127.0.0.2, ... (the whole 127/8 is loopback on Linux), whose `Subsystem powershell` is a
    small wrapper around this repository's dotnet-tool pwsh. The wrapper tells the hosts apart by the address the client
    connected to (SSH_CONNECTION) and gives each its own host store (NSHIELD_HSMADMIN_HOME), machine folder
    (the host configuration's MachineFolder, which its simulator sets: the install identity behind the global nonce), HOME
    and module path. Each host has its
    own simulated modules, registered with its store and started in its own machine context. Login is key-only, the
    client checks the host key strictly against its own known_hosts file. Everything lives under -Work (made private:
    mode 700). The sshd runs as the current user (root in CI), so it is locked down: the key may only run the wrapper
    (`restrict` in authorized_keys, `ForceCommand`, no TTY, no user rc, no forwarding), and it runs under `timeout`, so
    a test run that is killed leaves no sshd listening for longer than -MaxMinutes.
    Used by pester/Remoting.Tests.ps1 and bench/Measure-FleetRemoting.ps1.
#>

function Get-FreeLoopbackPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

# Runs a script in a child pwsh (the dotnet-tool pwsh through dotnet when this one is); returns its output lines.
# A child still running after -TimeoutSeconds is stopped (coreutils timeout) and fails the caller.
function Invoke-FleetChild([string] $Work, [string] $Script, [hashtable] $Arguments = @{}, [hashtable] $Environment = @{}, [int] $TimeoutSeconds = 300) {
    $file = Join-Path $Work ('child-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
    Set-Content -Path $file -Value $Script
    $argList = foreach ($k in $Arguments.Keys) { "-$k"; $Arguments[$k] }
    $saved = @{}
    foreach ($k in $Environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
    try {
        $dll = Join-Path $PSHOME 'pwsh.dll'
        $command = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) { @((Get-Command dotnet -ErrorAction Stop).Source, $dll) } else { @(Join-Path $PSHOME 'pwsh') }
        $timeout = (Get-Command timeout -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
        $output = if ($timeout) { & $timeout -k 10 $TimeoutSeconds @command -NoProfile -NonInteractive -File $file @argList 2>&1 }
        else { & $command[0] @($command | Select-Object -Skip 1) -NoProfile -NonInteractive -File $file @argList 2>&1 }
    }
    finally { foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) } }
    $text = @($output | ForEach-Object { "$_" })
    if ($timeout -and $LASTEXITCODE -in 124, 137) { throw "child pwsh timed out after $TimeoutSeconds s:`n$($text -join "`n")" }
    if ($LASTEXITCODE -ne 0) { throw "child pwsh failed (exit $LASTEXITCODE):`n$($text -join "`n")" }
    $text
}

<#
.SYNOPSIS
    Starts the hosts. -Modules: a module folder holding NShield.HsmAdmin and NShield.HsmAdmin.Simulator (for example
    build.ps1 package's output); each host imports them by name from there. -BrokenModuleOn: host numbers (1-based) that
    also get a registered module nobody answers for (a module failure on that host).
#>
function Start-LoopbackFleet {
    param(
        [Parameter(Mandatory)] [string] $Work,
        [Parameter(Mandatory)] [string] $Modules,
        [int] $HostCount = 3,
        [int] $ModulesPerHost = 1,
        [int[]] $BrokenModuleOn = @(),
        # The sshd is stopped by then even if nobody calls Stop-LoopbackFleet (a killed test run).
        [int] $MaxMinutes = 20
    )
    $sshd = @('/usr/sbin/sshd', (Get-Command sshd -ErrorAction SilentlyContinue).Source) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1
    if (-not $sshd -or -not (Get-Command ssh-keygen -ErrorAction SilentlyContinue) -or -not (Get-Command ssh -ErrorAction SilentlyContinue)) {
        throw 'Remoting over SSH needs OpenSSH (sshd, ssh, ssh-keygen): apt-get install openssh-server openssh-client.'
    }
    if (-not $IsLinux) { throw 'The loopback fleet uses 127.0.0.2 and up, which only Linux answers without set-up.' }
    $timeout = (Get-Command timeout -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
    if (-not $timeout) { throw 'The loopback fleet bounds its sshd''s lifetime with coreutils timeout, which is missing.' }
    # Private before anything is written into it: sshd runs with StrictModes no (its files are not under a home).
    New-Item -ItemType Directory -Force $Work | Out-Null
    chmod 700 $Work
    $sshDir = Join-Path $Work 'ssh'
    New-Item -ItemType Directory -Force $sshDir | Out-Null
    chmod 700 $sshDir
    $user = [Environment]::UserName
    if ($user -eq 'root' -and -not (Test-Path /run/sshd)) {
        New-Item -ItemType Directory /run/sshd | Out-Null; chmod 755 /run/sshd
        Set-Content -Path (Join-Path $sshDir 'created-run-sshd') -Value 'Stop-LoopbackFleet removes /run/sshd'
    }
    $hostKey = Join-Path $sshDir 'host_ed25519'
    $clientKey = Join-Path $sshDir 'client_ed25519'
    ssh-keygen -q -t ed25519 -N '' -C 'loopback-fleet-host' -f $hostKey | Out-Null
    ssh-keygen -q -t ed25519 -N '' -C 'loopback-fleet-client' -f $clientKey | Out-Null
    $authorizedKeys = Join-Path $sshDir 'authorized_keys'
    # restrict: no forwarding, no TTY, no user rc; the command is forced in sshd_config.
    Set-Content -Path $authorizedKeys -Value ('restrict ' + (Get-Content "$clientKey.pub" -Raw).Trim())
    chmod 600 $authorizedKeys

    $addresses = @(1..$HostCount | ForEach-Object { "127.0.0.$_" })
    $hostsDir = Join-Path $Work 'hosts'
    foreach ($a in $addresses) { foreach ($d in 'store', 'machine', 'home', 'sim') { New-Item -ItemType Directory -Force (Join-Path $hostsDir "$a/$d") | Out-Null } }
    $dotnet = (Get-Process -Id $PID).Path
    if ([IO.Path]::GetFileNameWithoutExtension($dotnet) -ne 'dotnet') { $dotnet = (Get-Command dotnet -ErrorAction Stop).Source }
    $pwshDll = Join-Path $PSHOME 'pwsh.dll'
    $wrapper = Join-Path $sshDir 'pwsh-subsystem.sh'
    # sshd passes no environment; SSH_CONNECTION is "client_ip client_port server_ip server_port". The wrapper is the forced
# command of every session (SSH_ORIGINAL_COMMAND, the subsystem or command the client asked for, is ignored).
    Set-Content -Path $wrapper -Value @"
#!/bin/sh
set -- `$SSH_CONNECTION
case "`$3" in
  $($addresses -join '|')) ;;
  *) echo "no such loopback host: `$3" >&2; exit 1 ;;
esac
h='$hostsDir'/"`$3"
export NSHIELD_HSMADMIN_HOME="`$h/store" HOME="`$h/home"
export PSModulePath='$Modules' NO_COLOR=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 POWERSHELL_TELEMETRY_OPTOUT=1
exec '$dotnet' '$pwshDll' -sshs -NoLogo -NoProfile
"@
    chmod 700 $wrapper

    $config = Join-Path $sshDir 'sshd_config'
    $log = Join-Path $sshDir 'sshd.log'
    $process = $null
    foreach ($attempt in 1..5) {
        $port = Get-FreeLoopbackPort
        Set-Content -Path $config -Value (@(
                "Port $port"
                $addresses | ForEach-Object { "ListenAddress $_" }
                "HostKey $hostKey"
                "PidFile $(Join-Path $sshDir 'sshd.pid')"
                "AuthorizedKeysFile $(Join-Path $sshDir 'authorized_keys')"
                'AuthenticationMethods publickey'
                'PubkeyAuthentication yes'
                'PasswordAuthentication no'
                'KbdInteractiveAuthentication no'
                'PermitRootLogin prohibit-password'
                "AllowUsers $user"
                'UsePAM no'
                'StrictModes no'
                'DisableForwarding yes'
                'PermitTTY no'
                'PermitUserRC no'
                'PermitUserEnvironment no'
                "ForceCommand $wrapper"
                'MaxStartups 100'
                'MaxSessions 50'
                'KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org'
                "Subsystem powershell $wrapper"
            ) -join "`n")
        # Under timeout: gone after -MaxMinutes (TERM, then KILL 10 s later) whatever happens to this process.
        $psi = [System.Diagnostics.ProcessStartInfo]::new($timeout)
        foreach ($a in '-k', '10', "$($MaxMinutes)m", $sshd, '-D', '-e', '-f', $config) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $process = [System.Diagnostics.Process]::Start($psi)
        $lines = [System.Collections.Generic.List[string]]::new()
        $listening = 0
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ([DateTime]::UtcNow -lt $deadline -and $listening -lt $addresses.Count -and -not $process.HasExited) {
            $read = $process.StandardError.ReadLineAsync()
            if (-not $read.Wait(500)) { continue }
            if ($null -eq $read.Result) { break }
            $lines.Add($read.Result)
            if ($read.Result -match '^Server listening on 127\.') { $listening++ }
        }
        if ($listening -eq $addresses.Count) { break }
        if (-not $process.HasExited) { $process.Kill($true) }
        $process = $null
        if (-not ($lines -match 'Address already in use')) { throw "sshd did not start:`n$($lines -join "`n")" }
    }
    if (-not $process) { throw 'sshd found no free port in 5 attempts.' }
    Set-Content -Path (Join-Path $sshDir 'sshd.process') -Value $process.Id
    # Keep reading sshd's log so its pipe never fills.
    $drain = $process.StandardError.BaseStream.CopyToAsync([IO.File]::Open($log, 'Create', 'Write', 'Read'))

    $knownHosts = Join-Path $sshDir 'known_hosts'
    $pub = (Get-Content "$hostKey.pub" -Raw).Trim() -split ' '
    Set-Content -Path $knownHosts -Value ($addresses | ForEach-Object { "[$_]:$port $($pub[0]) $($pub[1])" })

    # Each host's simulated modules, set up in that host's machine context (its own install identity).
    try {
    $resultPath = Join-Path $Work 'fleet-setup.json'
    $setup = Invoke-FleetChild $Work @'
param([string] $HostsDir, [string] $Addresses, [int] $ModulesPerHost, [string] $Broken, [int] $ClosedPort, [string] $ResultPath, [int] $Owner)
$ErrorActionPreference = 'Stop'
Import-Module NShield.HsmAdmin.Simulator
$result = foreach ($a in $Addresses -split ',') {
    $store = Join-Path $HostsDir "$a/store"
    # They outlive this setup child and die with the process that runs the fleet (a killed test or bench included).
    $sim = Start-HsmSimulator -ModuleCount $ModulesPerHost -HostPath $store -SimulatorPath (Join-Path $HostsDir "$a/sim") -Transport Ssh `
        -OwnerProcessId $Owner
    $brokenEsn = $null
    if ($a -in ($Broken -split ',')) {
        # A module the host was told about but nobody answers for: every port closed.
        $brokenEsn = 'DEAD-0000-{0:X4}' -f [int]($a -split '\.')[-1]
        $ports = @{}; foreach ($s in 'sshadmin', 'ncoreapi', 'setup', 'updater', 'monitor', 'launcher') { $ports[$s] = $ClosedPort }
        Register-HsmModule -HostPath $store -Esn $brokenEsn -Address $a -Port $ports -Confirm:$false | Out-Null
    }
    [pscustomobject]@{ ComputerName = $a; Store = $store; Simulator = $sim.Path; Esns = @($sim.Modules.Esn); BrokenEsn = $brokenEsn }
}
Set-Content -Path $ResultPath -Value (ConvertTo-Json -InputObject @($result) -Depth 4)
'@ @{ HostsDir = $hostsDir; Addresses = ($addresses -join ','); ModulesPerHost = $ModulesPerHost; ClosedPort = (Get-FreeLoopbackPort)
        Broken = (($BrokenModuleOn | ForEach-Object { $addresses[$_ - 1] }) -join ','); ResultPath = $resultPath; Owner = $PID } @{ PSModulePath = $Modules }
    $hosts = @(Get-Content $resultPath -Raw | ConvertFrom-Json)
    }
    catch { Stop-LoopbackFleet -Work $Work -Modules $Modules; throw }

    [pscustomobject]@{
        PSTypeName = 'LoopbackFleet'
        Work       = $Work
        Modules    = $Modules
        Port       = $port
        UserName   = $user
        KeyFile    = $clientKey
        KnownHosts = $knownHosts
        # Everything that ~/.ssh/config or /etc/ssh/ssh_config could otherwise change about the connection.
        SshOption  = @{ UserKnownHostsFile = $knownHosts; GlobalKnownHostsFile = '/dev/null'; StrictHostKeyChecking = 'yes'; IdentitiesOnly = 'yes'; PasswordAuthentication = 'no'; BatchMode = 'yes'
            ControlMaster = 'no'; ControlPath = 'none'; ProxyCommand = 'none'; ForwardAgent = 'no' }
        Hosts      = $hosts
        Sshd       = $process
        SshdLog    = $log
        Drain      = $drain
    }
}

# Stops whatever a fleet under -Work runs (also after a start that failed half way): every host's simulator, then sshd.
function Stop-LoopbackFleet([Parameter(Mandatory)] [string] $Work, [string] $Modules) {
    $sims = @(Get-ChildItem (Join-Path $Work 'hosts/*/sim/simulator.json') -ErrorAction SilentlyContinue | ForEach-Object { $_.Directory.FullName })
    if ($sims -and $Modules) {
        $stop = ($sims | ForEach-Object { "Stop-HsmSimulator -Path '$_' -ErrorAction SilentlyContinue" }) -join '; '
        try { Invoke-FleetChild $Work "Import-Module NShield.HsmAdmin.Simulator; $stop" @{} @{ PSModulePath = $Modules } | Out-Null } catch { Write-Warning "$_" }
    }
    # sshd.process: the timeout process sshd runs under; sshd.pid: sshd's own.
    foreach ($name in 'sshd.pid', 'sshd.process') {
        $pidFile = Join-Path $Work "ssh/$name"
        if (-not (Test-Path $pidFile)) { continue }
        $p = Get-Process -Id ([int](Get-Content $pidFile -Raw).Trim()) -ErrorAction SilentlyContinue
        if ($p -and ($p.ProcessName -like '*sshd*' -or $p.ProcessName -eq 'timeout')) { $p.Kill($true); $p.WaitForExit(5000) | Out-Null }
    }
    # /run/sshd, if the fleet made it, once no sshd needs it any more.
    if ((Test-Path (Join-Path $Work 'ssh/created-run-sshd')) -and -not (Get-Process -Name sshd -ErrorAction SilentlyContinue)) {
        Remove-Item /run/sshd -Recurse -Force -ErrorAction SilentlyContinue
    }
}

Export-ModuleMember -Function Start-LoopbackFleet, Stop-LoopbackFleet, Invoke-FleetChild, Get-FreeLoopbackPort
