<#
    Issue 14: examples/Invoke-HsmFleetAcrossHosts.ps1 across three hosts, for real: PowerShell remoting over SSH to an
    OpenSSH sshd on loopback (127.0.0.1-3, `Subsystem powershell` = a wrapper around this repository's pwsh), key-only
    login, strict host-key checking against the test's own known_hosts. Each host is a separate store with its own
    machine folder and its own simulated modules, and imports the packaged NShield.HsmAdmin by name
    (pester/LoopbackFleet.psm1). Host 3 also lists a module nobody answers for; 127.0.0.4 has no sshd at all.
    One scenario: the example on host 1 alone, then on all hosts, timed (the times are printed; bench/README.md).
#>
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    Import-Module (Join-Path $PSScriptRoot 'LoopbackFleet.psm1') -Force
    $work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-remoting-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force $work | Out-Null
    chmod 700 $work
    # The default machine folder (the install identity of this machine) must not be touched: each host has its own.
    $machineDefault = '/etc/opt/nfast/hsmadmin'
    function Get-FolderState([string] $Path) {
        if (-not (Test-Path $Path)) { return 'absent' }
        ((@(Get-Item $Path -Force) + @(Get-ChildItem $Path -Recurse -Force)) | ForEach-Object { "$($_.FullName) $($_.LastWriteTimeUtc.Ticks) $(if (-not $_.PSIsContainer) { $_.Length })" }) -join "`n"
    }
    $script:machineBefore = Get-FolderState $machineDefault
    # The modules as shipped (build.ps1 package from the suite's build), staged into the temporary folder. Not shared
    # with Package.Tests.ps1: staging takes about 8 s, less than sharing it safely would cost in complexity.
    $out = Join-Path $work 'modules'
    Invoke-FleetChild $work @'
param([string] $Repo, [string] $Out)
$ErrorActionPreference = 'Stop'
& (Join-Path $Repo 'build.ps1') package -NoBuild -OutputPath $Out *>&1 | Out-Null
'@ @{ Repo = $repo; Out = $out } | Out-Null
    $script:fleet = Start-LoopbackFleet -Work $work -Modules $out -HostCount 3 -ModulesPerHost 1 -BrokenModuleOn 3
    $addresses = @($fleet.Hosts.ComputerName)
    $emptyKnownHosts = Join-Path $work 'empty_known_hosts'
    New-Item -ItemType File $emptyKnownHosts | Out-Null

    # The administrator's session: NShield.HsmAdmin imported locally for its views, the example run against the hosts.
    $lines = Invoke-FleetChild $work @'
param([string] $Example, [string] $FleetJson, [string] $EmptyKnownHosts, [string] $ResultPath)
$ErrorActionPreference = 'Stop'
$f = $FleetJson | ConvertFrom-Json -AsHashtable
Import-Module NShield.HsmAdmin
$ssh = @{ Port = $f.Port; UserName = $f.UserName; KeyFilePath = $f.KeyFile; SshOption = $f.SshOption; ThrottleLimit = 8 }
function Run([string[]] $Hosts, [hashtable] $Extra = @{}) {
    $ErrorActionPreference = 'Continue'
    $sw = [Diagnostics.Stopwatch]::StartNew()
    # The error stream, as a user sees it (-ErrorVariable would also hold PowerShell's silenced transport errors).
    $all = @(& $Example -HostName $Hosts @ssh @Extra 2>&1)
    $sw.Stop()
    $errs = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
    $items = @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] })
    [pscustomobject]@{
        Seconds = [math]::Round($sw.Elapsed.TotalSeconds, 2)
        Items   = @($items | ForEach-Object { [pscustomobject]@{
                    Type = $_.PSObject.TypeNames[0]; PSComputerName = $_.PSComputerName; Operation = $_.Operation; Esn = $_.Esn
                    Action = "$($_.Action)"; Status = "$($_.Status)"; Success = $_.Success; Service = $_.Service; Mode = "$($_.Mode)" } })
        Errors  = @($errs | ForEach-Object { [pscustomobject]@{ Id = $_.FullyQualifiedErrorId; Message = $_.Exception.Message; Target = $_.TargetObject } })
        Raw     = $items
    }
}
$one = Run @($f.Addresses[0])
$all = Run @($f.Addresses + '127.0.0.4')
$strangerSsh = $ssh.Clone(); $strangerSsh.SshOption = @{} + $ssh.SshOption; $strangerSsh.SshOption.UserKnownHostsFile = $EmptyKnownHosts
$ssh = $strangerSsh
$stranger = Run @($f.Addresses[0]) @{ SkipRoll = $true }
# Formats: the live type's table view applied to what came back deserialized.
$views = foreach ($group in $all.Raw | Group-Object { $_.PSObject.TypeNames[0] }) {
    $type = $group.Name -replace '^Deserialized\.', ''
    $view = (Get-FormatData -TypeName $type).FormatViewDefinition | Where-Object { $_.Control -is [System.Management.Automation.TableControl] } | Select-Object -First 1
    $labels = if ($view) { for ($i = 0; $i -lt $view.Control.Headers.Count; $i++) {
            $l = $view.Control.Headers[$i].Label; if ($l) { $l } else { $view.Control.Rows[0].Columns[$i].DisplayEntry.Value } } }
    [pscustomobject]@{
        Type = $group.Name; HasView = [bool]$view; Labels = @($labels)
        Table = ($group.Group | Format-Table | Out-String -Width 400)
        Default = ($group.Group | Out-String -Width 400)
    }
}
[pscustomobject]@{
    One = $one | Select-Object Seconds, Items, Errors; All = $all | Select-Object Seconds, Items, Errors
    Stranger = $stranger | Select-Object Seconds, Items, Errors; Views = @($views)
} | ConvertTo-Json -Depth 6 | Set-Content -Path $ResultPath
'@ @{ ResultPath = (Join-Path $work 'client-result.json'); Example = (Join-Path $repo 'examples/Invoke-HsmFleetAcrossHosts.ps1'); EmptyKnownHosts = $emptyKnownHosts
        FleetJson = (@{ Port = $fleet.Port; UserName = $fleet.UserName; KeyFile = $fleet.KeyFile; SshOption = $fleet.SshOption; Addresses = $addresses } | ConvertTo-Json -Compress) } @{ PSModulePath = $out }
    try { $script:run = Get-Content (Join-Path $work 'client-result.json') -Raw | ConvertFrom-Json } catch { throw "the client wrote no result:`n$($lines -join "`n")" }
    $broken = ($fleet.Hosts | Where-Object BrokenEsn).BrokenEsn

    # Login without the fleet's key, with plain ssh and no configuration file: refused whatever the client offers.
    $otherKey = Join-Path $work 'ssh/other_ed25519'
    ssh-keygen -q -t ed25519 -N '' -C 'not-authorized' -f $otherKey | Out-Null
    $sshBase = @('-F', '/dev/null', '-p', "$($fleet.Port)", '-o', "UserKnownHostsFile=$($fleet.KnownHosts)", '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=10', '-l', $fleet.UserName)
    $script:login = foreach ($case in @(
            @{ Name = 'other key'; Options = @('-i', $otherKey) }
            @{ Name = 'no key'; Options = @('-o', 'IdentityFile=none', '-o', 'PasswordAuthentication=yes', '-o', 'KbdInteractiveAuthentication=yes') })) {
        $text = @(& timeout 30 ssh @sshBase @($case.Options) 127.0.0.1 exit 2>&1 | ForEach-Object { "$_" }) -join "`n"
        [pscustomobject]@{ Name = $case.Name; ExitCode = $LASTEXITCODE; Text = $text }
    }
    # The fleet's own key asking for a command: the forced command (the pwsh wrapper) runs instead, never a shell.
    $forced = @(& timeout 30 ssh -n @sshBase -i $fleet.KeyFile 127.0.0.1 'echo forced-command-bypassed' 2>&1 | ForEach-Object { "$_" }) -join "`n"
    $script:forcedCommand = [pscustomobject]@{ ExitCode = $LASTEXITCODE; Text = $forced }
    Write-Host ("Remoting wall time: 1 host {0:n1} s, 3 hosts (+1 unreachable) {1:n1} s" -f $run.One.Seconds, $run.All.Seconds)
}

AfterAll {
    if ($fleet -or (Test-Path (Join-Path $work 'ssh'))) { Stop-LoopbackFleet -Work $work -Modules $out }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Invoke-HsmFleetAcrossHosts over PowerShell remoting (SSH, loopback)' {
    It 'runs status, enroll, roll with hardserver restart and a connection test on one host' {
        $run.One.Errors | Should -BeNullOrEmpty
        $items = @($run.One.Items)
        $items.PSComputerName | Sort-Object -Unique | Should -Be @('127.0.0.1')
        ($items | Where-Object Operation -eq 'status').Type | Should -Be 'Deserialized.NShield.HsmAdmin.Operations.HsmModuleInfo'
        ($items | Where-Object Operation -eq 'enroll').Action | Should -Be @('Enrolled')
        ($items | Where-Object Operation -eq 'roll').Status | Should -Be @('Completed')
        @($items | Where-Object Operation -eq 'test').Count | Should -Be 6
        @(($items | Where-Object Operation -eq 'test').Success) | Should -Be (@($true) * 6)
    }
    It 'runs every host; a failing module and an unreachable host do not stop the others' {
        $items = @($run.All.Items)
        $items.PSComputerName | Sort-Object -Unique | Should -Be $addresses
        foreach ($a in $addresses) {
            $mine = @($items | Where-Object PSComputerName -eq $a)
            $esn = ($fleet.Hosts | Where-Object ComputerName -eq $a).Esns[0]
            ($mine | Where-Object { $_.Operation -eq 'enroll' -and $_.Esn -eq $esn }).Action | Should -BeIn @('Enrolled', 'NoAction') -Because "$a enrolls its module"
            $tests = @($mine | Where-Object { $_.Operation -eq 'test' -and $_.Esn -eq $esn })
            $tests.Count | Should -Be 6 -Because "$a tests every service of $esn"
            @($tests.Success) | Should -Be (@($true) * 6) -Because "$a's own module works"
        }
        ($items | Where-Object { $_.PSComputerName -eq '127.0.0.2' -and $_.Operation -eq 'enroll' }).Action | Should -Be @('Enrolled')
        ($items | Where-Object { $_.PSComputerName -eq '127.0.0.1' -and $_.Operation -eq 'enroll' }).Action | Should -Be @('NoAction')
        foreach ($a in '127.0.0.1', '127.0.0.2') { ($items | Where-Object { $_.PSComputerName -eq $a -and $_.Operation -eq 'roll' }).Status | Should -Be @('Completed') }
    }
    It 'reports one error per failing module and per failing host, naming both' {
        $errors = @($run.All.Errors)
        $module = @($errors | Where-Object Id -like 'NShield.HsmAdmin.Fleet.ModuleFailed*')
        $module.Count | Should -Be 1
        $module[0].Message | Should -BeLike "*'127.0.0.3'*$broken*"
        $module[0].Target.ComputerName | Should -Be '127.0.0.3'
        $module[0].Target.Esn | Should -Be $broken
        $module[0].Target.Operations | Should -Contain 'enroll'
        $hostErrors = @($errors | Where-Object Id -like 'NShield.HsmAdmin.Fleet.HostFailed*')
        $hostErrors.Count | Should -Be 1
        $hostErrors[0].Target.ComputerName | Should -Be '127.0.0.4'
        $hostErrors[0].Message | Should -BeLike "*'127.0.0.4'*"
        $hostErrors[0].Message | Should -Match 'Connection refused' -Because 'nothing listens on 127.0.0.4: the reason is the connection''s'
        $hostErrors[0].Target.Port | Should -Be $fleet.Port
        $errors.Count | Should -Be 2
        $errors.Message | Should -Not -Match "Host ''" -Because 'every error names its host'
    }
    It 'refuses a host whose key is not in known_hosts (strict host-key checking)' {
        $run.Stranger.Items | Should -BeNullOrEmpty
        @($run.Stranger.Errors).Count | Should -Be 1
        $run.Stranger.Errors[0].Id | Should -BeLike 'NShield.HsmAdmin.Fleet.HostFailed*'
        $run.Stranger.Errors[0].Target.ComputerName | Should -Be '127.0.0.1'
        $run.Stranger.Errors[0].Message | Should -Match 'Host key verification failed' -Because 'the host key is unknown to the client, not the connection refused'
    }
    It 'runs only the wrapper for the authorised key, whatever command the client asks for (ForceCommand, restrict)' {
        $forcedCommand.Text | Should -Not -Match 'forced-command-bypassed'
        $forcedCommand.ExitCode | Should -Not -BeIn @(0, 124, 255) -Because "logged in (not 255), the wrapper's pwsh ended (not 124), the command never ran: $($forcedCommand.Text)"
        (Get-Item $work).UnixMode | Should -Be 'drwx------'
        (Get-Item (Join-Path $work 'ssh')).UnixMode | Should -Be 'drwx------'
        (Get-Item (Join-Path $work 'ssh/authorized_keys')).UnixMode | Should -Be '-rw-------'
        (Get-Item (Join-Path $work 'ssh/pwsh-subsystem.sh')).UnixMode | Should -Be '-rwx------'
        Get-Content (Join-Path $work 'ssh/authorized_keys') | Should -Match '^restrict ssh-ed25519 '
    }
    It 'refuses login without the authorised key (<Name>)' -ForEach @(@{ Name = 'other key' }, @{ Name = 'no key' }) {
        $case = $login | Where-Object Name -eq $Name
        $case.ExitCode | Should -Be 255 -Because $case.Text
        $case.Text | Should -Match 'Permission denied \(publickey\)'
    }
    It 'applies the product''s table views to the deserialized <_> objects' -ForEach @('HsmModuleInfo', 'HsmEnrollResult', 'HsmKeyRollResult', 'HsmConnectionTestResult') {
        $view = @($run.Views | Where-Object Type -eq "Deserialized.NShield.HsmAdmin.Operations.$_")
        $view.Count | Should -Be 1
        $view[0].HasView | Should -BeTrue
        # The column headers of the view in formats/ (not the property names PowerShell would print without it).
        $xml = [xml](Get-Content -Raw (Join-Path $repo 'formats/NShield.HsmAdmin.Format.ps1xml'))
        $expected = @($xml.SelectNodes("/Configuration/ViewDefinitions/View[ViewSelectedBy/TypeName='NShield.HsmAdmin.Operations.$_'][TableControl]")[0].TableControl.TableHeaders.TableColumnHeader.Label)
        $expected | Should -Not -BeNullOrEmpty
        $view[0].Labels | Should -Be $expected
        $header = @($view[0].Table -split "`n" | Where-Object { $_.Trim() })[0]
        ($header -split '\s+' | Where-Object { $_ }) | Should -Be (@($expected) + 'PSComputerName') -Because 'the view''s columns, in its order, then the host'
        $header | Should -Match 'PSComputerName' -Because 'remoting adds the host column to remote objects'
        @($view[0].Default -split "`n" | Where-Object { $_.Trim() })[0] | Should -Be $header -Because 'Out-Default picks the same table view'
    }
    It 'keeps every host''s store and machine identity apart' {
        # Each store has its own G input (issue 23): <machine folder>/stores/<store id>/global.nonce, the machine folder being
        # the one the simulator gave the host (host configuration MachineFolder), never this machine's.
        function NonceOf($store) {
            $folder = (Get-Content (Join-Path $store 'host-config.json') -Raw | ConvertFrom-Json).MachineFolder
            $folder | Should -Not -BeLike '/etc/opt/nfast*'
            Join-Path $folder "stores/$((Get-Content (Join-Path $store 'store-id') -Raw).Trim())/global.nonce"
        }
        foreach ($h in $fleet.Hosts) {
            Join-Path $h.Store 'client-keys' | Should -Exist
            NonceOf $h.Store | Should -Exist -Because 'each host makes its own install identity'
        }
        $keys = foreach ($h in $fleet.Hosts) { Get-FileHash (Get-ChildItem (Join-Path $h.Store 'client-keys') -File | Sort-Object Name | Select-Object -First 1).FullName }
        @($keys.Hash | Sort-Object -Unique).Count | Should -Be 3
        $nonces = foreach ($h in $fleet.Hosts) { (Get-FileHash (NonceOf $h.Store)).Hash }
        @($nonces | Sort-Object -Unique).Count | Should -Be 3
    }
    It 'leaves the default machine folder /etc/opt/nfast/hsmadmin as it was' {
        Get-FolderState $machineDefault | Should -Be $machineBefore
    }
    It 'measures the wall time of 3 hosts against 1' {
        # The two timed runs are the complete ones checked above: 1 host, 9 objects; 3 hosts, 27 for their own modules.
        @($run.One.Items).Count | Should -Be 9
        @($run.All.Items | Where-Object { $_.Esn -ne $broken }).Count | Should -Be 27
        Write-Host ("Remoting over SSH: 1 host {0:n1} s; 3 hosts + 1 unreachable {1:n1} s (ratio {2:n2}); 2 cores shared" -f $run.One.Seconds, $run.All.Seconds, ($run.All.Seconds / $run.One.Seconds))
    }
}
