# Issue 23 (items 5, 8, 10, 12) and issue 20 item 4 (questions): questions whose Yes changes trust or destroys state
# default to No and are asked by the engine; a re-pin reads keys only over a trusted channel; -Esn is validated when
# bound; no store lock is held while a person is asked. Built module against simulated modules over real SSH.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $script:Manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
    Import-Module $script:Manifest -Force
    Import-Module (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') -Force
    Import-Module (Join-Path $PSScriptRoot 'TestSupport.psm1') -Force

    # Runs $Script in a runspace of its own on a recording host (New-TestPromptHost): each choice prompt gets the next of
    # $Answers, or its own default (what Enter gives) when none is left. $During: command lines run while a prompt waits.
    function Invoke-WithPromptHost([int[]] $Answers, [string] $Script, [hashtable] $Parameters, [object[]] $During = @()) {
        $promptHost = New-TestPromptHost -Choices $Answers
        foreach ($d in $During) { $promptHost.Recorder.DuringPrompt.Enqueue([string[]]$d) }
        $runspace = [runspacefactory]::CreateRunspace($promptHost)
        $runspace.Open()
        try {
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript("param(`$Manifest, `$h, `$esn, `$extra) Import-Module `$Manifest; $Script").AddParameters($Parameters + @{ Manifest = $script:Manifest })
            $output = @($ps.Invoke())
            [pscustomobject]@{
                Output  = $output
                Errors  = @($ps.Streams.Error) + @($(if ($ps.HadErrors -and $ps.InvocationStateInfo.Reason) { $ps.InvocationStateInfo.Reason.ErrorRecord }))
                Prompts = @($promptHost.Recorder.Choices)
                During  = @($promptHost.Recorder.DuringPromptResults)
            }
        }
        catch [System.Management.Automation.RuntimeException] {
            [pscustomobject]@{ Output = @(); Errors = @($_.Exception.ErrorRecord); Prompts = @($promptHost.Recorder.Choices)
                During = @($promptHost.Recorder.DuringPromptResults) }
        }
        finally { $runspace.Dispose() }
    }
    # A runspace without a host UI: what a scheduled task or a service sees.
    function Invoke-Bare([string] $Script, [hashtable] $Vars) {
        $rs = [runspacefactory]::CreateRunspace(); $rs.Open()
        try {
            foreach ($k in $Vars.Keys) { $rs.SessionStateProxy.SetVariable($k, $Vars[$k]) }
            $ps = [powershell]::Create(); $ps.Runspace = $rs
            $null = $ps.AddScript("Import-Module '$script:Manifest'; `$ErrorActionPreference = 'Stop'; try { $Script } catch { `$_ }")
            @($ps.Invoke())
        }
        finally { $rs.Dispose() }
    }
    # Another process running one command against the module (a second administrator at another console).
    function ChildCommand([string] $Command) {
        , @('dotnet', (Join-Path $PSHOME 'pwsh.dll'), '-NoProfile', '-NonInteractive', '-Command',
            "`$ErrorActionPreference = 'Stop'; Import-Module '$script:Manifest'; $Command")
    }
    function Registration($h, $esn) {
        $m = Get-HsmModule -HostPath $h -Offline | Where-Object Esn -eq $esn
        "-Esn $esn -Address $($m.Address) -User '$($m.User)' -Port @{ " + (($m.Ports.GetEnumerator() | ForEach-Object { "$($_.Key) = $($_.Value)" }) -join '; ') + ' }'
    }
}
AfterAll { Remove-TestHosts }

Describe 'Questions whose Yes changes trust or destroys state: Enter says No and changes nothing' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        $esns = @($sim.Modules.Esn | Sort-Object)
        Invoke-HsmEnroll -HostPath $h | Out-Null
        $root = Get-HsmTrustedRoot -HostPath $h | Select-Object -First 1
        $root | Should -Not -BeNullOrEmpty
        $keyFile = Join-Path (New-TestHostPath 'root') 'second'
        ssh-keygen -q -t ed25519 -N '' -C second-root -f $keyFile | Out-Null
        $extra = (Get-Content "$keyFile.pub" -Raw).Trim()
        Set-HsmSimulatedModule -Esn $esns[0] -ReplaceServerKey ncoreapi -SimulatorPath $sim.Path | Out-Null
    }
    It '<Name>: every question defaults to No, Enter answers it, nothing changes on the host or the modules' -ForEach @(
        @{ Name = 'Add-HsmTrustedRoot'; Script = 'Add-HsmTrustedRoot -HostPath $h -Name second -PublicKey $extra -Force'; Questions = 1 }
        @{ Name = 'Remove-HsmTrustedRoot'; Script = 'Remove-HsmTrustedRoot -HostPath $h -Name $esn'; Questions = 1; UsesRoot = $true }
        @{ Name = 'Reset-HsmModule without -Esn'; Script = 'Reset-HsmModule -HostPath $h -Timeout 10 -WarningAction SilentlyContinue'; Questions = 1; Lists = $true }
        @{ Name = 'Reset-HsmModule -Esn (two modules)'; Script = 'Reset-HsmModule -HostPath $h -Esn $extra -Timeout 10 -WarningAction SilentlyContinue'
            Questions = 2; ToAll = $true; Both = $true }
        @{ Name = 'Update-HsmServerKeyPin, first question'; Script = 'Update-HsmServerKeyPin -HostPath $h -Esn $esn'; Questions = 1 }
        @{ Name = 'Update-HsmServerKeyPin, second question (Yes to the first)'; Script = 'Update-HsmServerKeyPin -HostPath $h -Esn $esn'
            Answers = @(0); Questions = 2 }
    ) {
        $before = Get-StoreSnapshot $h
        $pins = Get-PinLines $h
        $parameters = @{ h = $h; esn = $(if ($UsesRoot) { $root.Name } else { $esns[0] }); extra = $(if ($Both) { $esns } else { $extra }) }
        $run = Invoke-WithPromptHost -Answers $(if ($null -ne $Answers) { $Answers } else { @() }) -Script $Script -Parameters $parameters
        $run.Prompts | Should -HaveCount $Questions -Because ($run.Errors | Out-String)
        foreach ($p in $run.Prompts) {
            $p.Labels[$p.Default] | Should -Be '&No'
            if ($ToAll) { $p.Labels | Should -Contain 'Yes to &All' } else { $p.Labels | Should -Contain '&Yes' }
        }
        $run.Prompts[-1].Answer | Should -Be $run.Prompts[-1].Default -Because 'nothing was queued for the last question: Enter'
        if ($Lists) { foreach ($e in $esns) { $run.Prompts[0].Text | Should -Match ([regex]::Escape($e)) } }
        @($run.Output | Where-Object { $_.PSObject.Properties['Repinned'] -and $_.Repinned }) | Should -HaveCount 0
        @($run.Output | Where-Object { $_.PSObject.Properties['Mode'] -and $_.Mode -eq 'FactoryState' }) | Should -HaveCount 0
        Get-StoreSnapshot $h | Should -Be $before
        Get-PinLines $h | Should -Be $pins
        (Get-HsmTrustedRoot -HostPath $h).Name | Should -Be @($root.Name)
        Assert-ModulesHoldHostKeys $sim $h
    }
    It 'a session that cannot prompt gets ConfirmationRequired for <Name> and nothing changes' -ForEach @(
        @{ Name = 'Add-HsmTrustedRoot'; Script = 'Add-HsmTrustedRoot -HostPath $h -Name second -PublicKey $extra -Force' }
        @{ Name = 'Reset-HsmModule'; Script = 'Reset-HsmModule -HostPath $h -Timeout 10 -WarningAction SilentlyContinue' }
    ) {
        $before = Get-StoreSnapshot $h
        $r = Invoke-Bare $Script @{ h = $h; extra = $extra }
        @($r | Where-Object { $_ -is [Management.Automation.ErrorRecord] }).FullyQualifiedErrorId | Should -BeLike 'ConfirmationRequired*'
        Get-StoreSnapshot $h | Should -Be $before
        Assert-ModulesHoldHostKeys $sim $h
    }
    It '-Confirm:$false keeps scripts working: a root is added and removed, a changed key re-pinned, without a question' {
        $added = Add-HsmTrustedRoot -HostPath $h -Name second -PublicKey $extra -Force -Confirm:$false
        $added.Name | Should -Be 'second'
        Remove-HsmTrustedRoot -HostPath $h -Name second -Confirm:$false
        (Get-HsmTrustedRoot -HostPath $h).Name | Should -Be @($root.Name)
        $rows = Update-HsmServerKeyPin -HostPath $h -Esn $esns[0] -Confirm:$false
        @($rows | Where-Object Repinned).Service | Should -Be 'ncoreapi'
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
    }
}

Describe 'Update-HsmServerKeyPin reads new keys only over a channel it trusts' {
    BeforeAll {
        $sim = Start-TestSimulator -ModuleCount 1
        $h = $sim.HostPath
        $esn = $sim.Modules[0].Esn
        Invoke-HsmEnroll -HostPath $h | Out-Null
        Get-HsmTrustedRoot -HostPath $h | Remove-HsmTrustedRoot -HostPath $h -Confirm:$false
        $pinned = (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint
        $replaced = Set-HsmSimulatedModule -Esn $esn -ReplaceServerKey sshadmin, ncoreapi -SimulatorPath $sim.Path
        $presented = $replaced.Endpoint('sshadmin').ServerKeyFingerprint
        $newCore = $replaced.Endpoint('ncoreapi').ServerKeyFingerprint
    }
    It 'refuses keys read over an sshadmin channel that is neither pinned nor vouched for: RepinChannelUnverified names the channel' {
        $before = Get-StoreSnapshot $h
        $rows = Update-HsmServerKeyPin -HostPath $h -Esn $esn -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        $rows | Should -BeNullOrEmpty
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'RepinChannelUnverified*'
        $errs[0].CategoryInfo.Category | Should -Be 'SecurityError'
        $errs[0].TargetObject | Should -Be $esn
        $errs[0].Exception.Message | Should -Match 'sshadmin channel'
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($presented))
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($pinned))
        $errs[0].Exception.Message | Should -Match ([regex]::Escape("Update-HsmServerKeyPin -Esn $esn -Service sshadmin"))
        Get-StoreSnapshot $h | Should -Be $before
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service ncoreapi).Fingerprint | Should -Not -Be $newCore
    }
    It 're-pins sshadmin alone (its key is the handshake''s, compared by the person), then the rest over the re-pinned channel' {
        $first = Update-HsmServerKeyPin -HostPath $h -Esn $esn -Service sshadmin -Confirm:$false
        @($first | Where-Object Repinned).Service | Should -Be 'sshadmin'
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service ncoreapi).Fingerprint | Should -Not -Be $newCore
        $second = Update-HsmServerKeyPin -HostPath $h -Esn $esn -Confirm:$false
        @($second | Where-Object Repinned).Service | Should -Be 'ncoreapi'
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service sshadmin).Fingerprint | Should -Be $presented
        (Get-HsmSshKey -HostPath $h -Esn $esn -Service ncoreapi).Fingerprint | Should -Be $newCore
        Test-HsmConnection -HostPath $h | Should -BeExactly $true
    }
}

Describe '-Esn is validated when bound, on every cmdlet that takes ESNs' {
    BeforeDiscovery {
        Import-Module (Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1') -Force
        $esnCmdlets = @(Get-Command -Module NShield.HsmAdmin -CommandType Cmdlet | ForEach-Object {
                $c = $_
                foreach ($p in $c.Parameters.Keys | Where-Object { $_ -like '*Esn' }) { @{ Name = $c.Name; Parameter = $p } }
            })
    }
    BeforeAll {
        $missing = Join-Path (New-TestHostPath 'never') 'store'
        $key = Join-Path (New-TestHostPath 'key') 'none.key'
        # What each cmdlet needs besides its ESN to get as far as binding; a new cmdlet with an -Esn must be added here.
        $script:Extra = @{
            'Get-HsmModule' = @{ Offline = $true }; 'Get-HsmSshKey' = @{}; 'Get-HsmLog' = @{}; 'Test-HsmConnection' = @{}
            'Invoke-HsmEnroll' = @{}; 'Reset-HsmModule' = @{ Confirm = $false }; 'Update-HsmServerKeyPin' = @{ Confirm = $false }
            'Move-HsmModule' = @{ PrivateKeyFile = $key; Passphrase = (ConvertTo-SecureString 'x' -AsPlainText -Force); Confirm = $false }; 'Register-HsmModule' = @{ Address = '127.0.0.1'; Confirm = $false }
            'Unregister-HsmModule' = @{ Confirm = $false }; 'Update-HsmSshKey' = @{ Confirm = $false }
            'Export-HsmTrustReport' = @{ Path = (Join-Path (New-TestHostPath 'report') 'r.json') }; 'Restart-HsmModule' = @{ Confirm = $false }
            'Set-HsmMinimumVsn' = @{ Vsn = 4; Confirm = $false }; 'Set-HsmModuleTime' = @{ Confirm = $false }
            'Update-HsmFirmware' = @{ Path = $key; Confirm = $false }
        }
    }
    It '<Name> -<Parameter> is marked [EsnParameter] (validated in one place, HsmCmdlet)' -ForEach $esnCmdlets {
        $type = (Get-Command $Name -Module NShield.HsmAdmin).ImplementingType
        $property = $type.GetProperties() | Where-Object Name -eq $Parameter | Select-Object -First 1
        $marker = [Attribute]::GetCustomAttribute($property, [NShield.HsmAdmin.Commands.EsnParameterAttribute], $true)
        $marker | Should -Not -BeNullOrEmpty
    }
    It '<Name> -<Parameter> <Bad>: InvalidEsn before anything is read or created' -ForEach @(
        foreach ($c in $esnCmdlets) { foreach ($bad in 'DA2A-1164-CE2', '12345', 'zz*') { @{ Name = $c.Name; Parameter = $c.Parameter; Bad = $bad } } }
    ) {
        $script:Extra.Keys | Should -Contain $Name -Because 'every cmdlet with an ESN parameter is in the table above'
        $arguments = @{ HostPath = $missing; $Parameter = @($Bad) } + $script:Extra[$Name]
        if ($Name -eq 'Register-HsmModule') { $arguments[$Parameter] = $Bad }
        $err = $null
        try { & $Name @arguments -ErrorAction Stop | Out-Null } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'InvalidEsn*'
        $err.Exception.Message | Should -Match ([regex]::Escape($Bad))
        Test-Path $missing | Should -BeFalse
    }
    It 'wildcards still work where documented: Get-HsmModule and Get-HsmSshKey take ESN patterns' {
        $sim = Start-TestSimulator -ModuleCount 1
        Invoke-HsmEnroll -HostPath $sim.HostPath | Out-Null
        $esn = $sim.Modules[0].Esn
        (Get-HsmModule -HostPath $sim.HostPath -Offline -Esn ($esn.Substring(0, 5) + '*')).Esn | Should -Be $esn
        (Get-HsmModule -HostPath $sim.HostPath -Offline -Esn $esn.ToLowerInvariant()).Esn | Should -Be $esn
        @(Get-HsmSshKey -HostPath $sim.HostPath -Role Server -Esn '*').Count | Should -Be 6
        @(Get-HsmSshKey -HostPath $sim.HostPath -Role Server -Esn ('[' + $esn[0] + ']*')).Count | Should -Be 6
    }
}

Describe 'No store lock is held while a person is asked' {
    It 'first contact: another process unregisters a module while the prompt waits; after Yes to All it is re-checked (StateChangedWhileAsked), the other enrolled' {
        $sim = Start-TestSimulator -ModuleCount 2
        $h = $sim.HostPath
        Get-HsmTrustedRoot -HostPath $h | Remove-HsmTrustedRoot -HostPath $h -Confirm:$false
        $first, $second = @($sim.Modules.Esn | Sort-Object)
        $run = Invoke-WithPromptHost -Answers @(1) -Script 'Invoke-HsmEnroll -HostPath $h' -Parameters @{ h = $h } `
            -During @(, (ChildCommand "Unregister-HsmModule -HostPath '$h' -Esn $second -Confirm:`$false"))
        $run.During | Should -HaveCount 1
        $run.During[0] | Should -Match '^exit 0' -Because 'the store was not locked while the question waited'
        @($run.Output | Where-Object Action -eq 'Enrolled').Esn | Should -Be $first
        $changed = @($run.Errors | Where-Object { $_.FullyQualifiedErrorId -like 'StateChangedWhileAsked*' })
        $changed.TargetObject | Should -Be $second
        Get-HsmSshKey -HostPath $h -Role Server | Where-Object Esn -eq $second | Should -BeNullOrEmpty
        Test-HsmConnection -HostPath $h -Esn $first | Should -BeExactly $true
    }
    Context 'forgetting a module' {
        BeforeAll {
            $sim = Start-TestSimulator -ModuleCount 2
            $h = $sim.HostPath
            $b = $sim.Modules[1].Esn
            Invoke-HsmEnroll -HostPath $h | Out-Null
            Unregister-HsmModule -HostPath $h -Esn $b -Confirm:$false | Out-Null
        }
        It 'Enter says No, nothing is forgotten' {
            $before = Get-StoreSnapshot $h
            $run = Invoke-WithPromptHost -Answers @() -Script 'Invoke-HsmEnroll -HostPath $h -Esn $esn -Forget' -Parameters @{ h = $h; esn = $b }
            $run.Prompts | Should -HaveCount 1
            $run.Prompts[0].Answer | Should -Be $run.Prompts[0].Default
            $run.Prompts[0].Labels[$run.Prompts[0].Default] | Should -Be '&No'
            Get-StoreSnapshot $h | Should -Be $before
            (Get-HsmModule -HostPath $h -Offline).Esn | Should -Contain $b
        }
        It 'another process forgets the module while the question waits; after Yes the forget is re-checked and changes nothing more' {
            $auditBefore = Get-AuditLines $h
            $run = Invoke-WithPromptHost -Answers @(0) -Script 'Invoke-HsmEnroll -HostPath $h -Esn $esn -Forget' -Parameters @{ h = $h; esn = $b } `
                -During @(, (ChildCommand "Invoke-HsmEnroll -HostPath '$h' -Esn $b -Forget -Force -Confirm:`$false"))
            $run.Prompts | Should -HaveCount 1
            $run.During[0] | Should -Match '^exit 0' -Because 'the store was not locked while the question waited'
            $run.Output | Should -BeNullOrEmpty
            @($run.Errors | Where-Object { $_.FullyQualifiedErrorId -like 'StateChangedWhileAsked*' }).TargetObject | Should -Be $b
            @(Get-AuditLines $h | Select-Object -Skip $auditBefore.Count | Where-Object { $_ -match '"enroll\.drop"' }) |
                Should -HaveCount 1 -Because 'only the other process forgot it'
            (Get-HsmModule -HostPath $h -Offline).Esn | Should -Not -Contain $b
            Test-HsmConnection -HostPath $h | Should -BeExactly $true
        }
    }
}
