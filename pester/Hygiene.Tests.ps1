<#
    Module hygiene, as PSScriptAnalyzer and a reviewer would check it (PSScriptAnalyzer is not available
    here): approved verbs, ShouldProcess on changes, explicit exports, SecureString secrets, complete help,
    a format view for every output type. Data-driven: each cmdlet is its own test.
#>
BeforeDiscovery {
    $script:repo = Split-Path $PSScriptRoot
    # Both modules of the repository: the product and the simulator (a module of its own).
    $script:moduleCases = @(
        @{ ModuleName = 'NShield.HsmAdmin'; Path = (Join-Path $repo 'NShield.HsmAdmin.psd1') }
        @{ ModuleName = 'NShield.HsmAdmin.Simulator'; Path = (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1') }
    )
    $script:cmdletCases = @(foreach ($m in $moduleCases) { (Import-PowerShellDataFile $m.Path).CmdletsToExport | ForEach-Object { @{ Name = $_; Module = $m.ModuleName } } })
    $changeVerbs = 'Set', 'New', 'Remove', 'Add', 'Update', 'Invoke', 'Backup', 'Restore', 'Move', 'Reset', 'Restart', 'Start', 'Stop', 'Register', 'Unregister'
    $script:changingCases = @($cmdletCases | Where-Object { ($_.Name -split '-')[0] -in $changeVerbs })
    # Product cmdlets that support ShouldProcess must be marked IChangesHost (the up-front root/Administrators check),
    # except these, each with the reason it does not change the host.
    $script:notChangingHost = @{
        'Backup-HsmSshKey' = 'reads the sshadmin key (owner-only already) and writes only the backup file the caller names, plus its audit line; no key, pin, registry entry or module changes'
        'Export-HsmTrustReport' = 'reads pins and modules and writes only the report and signature files the caller names, plus its audit line'
        'Get-HsmLog' = 'reads module logs; -Path writes only the new file the caller names, and -Clear clears on the modules only the log entries saved there: no key, pin, registry entry or host setting changes'
    }
    # One test per secret parameter and per declared output type, so none passes by looping over nothing.
    $modules = foreach ($m in $moduleCases) { Import-Module $m.Path -Force -PassThru }
    $script:shouldProcessCases = @(foreach ($c in ($modules | Where-Object Name -EQ 'NShield.HsmAdmin').ExportedCmdlets.Values) {
            $attribute = $c.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) | Select-Object -First 1
            if ($attribute.SupportsShouldProcess) { @{ Name = $c.Name; Allowed = $notChangingHost[$c.Name] } }
        })
    $script:secretCases = @(foreach ($module in $modules) { foreach ($c in $module.ExportedCmdlets.Values) {
            foreach ($p in $c.Parameters.Values | Where-Object { $_.Name -match 'Passphrase|Password|Secret' }) { @{ Name = $c.Name; Module = $module.Name; Parameter = $p.Name } }
        } })
    $formatExempt = 'System.Boolean', 'System.IO.FileInfo'   # types PowerShell already formats well enough
    $script:outputCases = @(foreach ($module in $modules) { foreach ($c in $module.ExportedCmdlets.Values) {
            foreach ($t in $c.OutputType) {
                $type = if ($t.Type) { $t.Type.FullName } else { $t.Name }
                if ($type -notin $formatExempt) { @{ Name = $c.Name; Type = $type } }
            }
        } })
}

BeforeAll {
    $repo = Split-Path $PSScriptRoot
    foreach ($path in (Join-Path $repo 'NShield.HsmAdmin.psd1'), (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')) { Import-Module $path -Force }
    $commonParameters = @([System.Management.Automation.PSCmdlet]::CommonParameters) + @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters)

    # Type names that have a view in any formats/*.ps1xml.
    $viewTypes = @(foreach ($file in Get-ChildItem (Join-Path $repo 'formats') -Filter *.ps1xml) {
            ([xml](Get-Content $file.FullName -Raw)).SelectNodes('//ViewSelectedBy/TypeName') | ForEach-Object { $_.InnerText.Trim() }
        })
}

Describe 'Module manifest of <ModuleName>' -ForEach $moduleCases {
    BeforeAll {
        $manifest = Import-PowerShellDataFile $Path
        $module = Get-Module $ModuleName
    }
    It 'exports cmdlets explicitly (no wildcard)' {
        $manifest.CmdletsToExport | Should -Not -BeNullOrEmpty
        $manifest.CmdletsToExport | Should -Not -Contain '*'
        @($manifest.CmdletsToExport | Where-Object { $_ -match '[*?]' }) | Should -BeNullOrEmpty
    }
    It 'exports no <_>' -ForEach 'FunctionsToExport', 'VariablesToExport', 'AliasesToExport' {
        $manifest.ContainsKey($_) | Should -BeTrue -Because "an absent $_ means '*'"
        @($manifest[$_]) | Should -BeNullOrEmpty
    }
    It 'exports exactly the cmdlets the module defines' {
        # The root module is the loader script; the cmdlets' assembly is the one behind the exported cmdlets.
        $defined = (@($module.ExportedCmdlets.Values)[0]).ImplementingType.Assembly.GetTypes() |
            Where-Object { -not $_.IsAbstract -and [System.Management.Automation.Cmdlet].IsAssignableFrom($_) } |
            ForEach-Object { $a = $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false); if ($a) { "$($a[0].VerbName)-$($a[0].NounName)" } }
        @($defined | Sort-Object) | Should -Be @($manifest.CmdletsToExport | Sort-Object)
        @($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be @($manifest.CmdletsToExport | Sort-Object)
    }
    It 'finds what the data-driven tests below run over' {
        $cmdletCases.Count | Should -BeGreaterThan 0
        $changingCases.Count | Should -BeGreaterThan 0
        $secretCases.Count | Should -BeGreaterThan 0 -Because 'Backup-HsmSshKey and others take passphrases'
        $outputCases.Count | Should -BeGreaterThan 0
        @($cmdletCases | Where-Object Module -eq $ModuleName).Count | Should -Be @($manifest.CmdletsToExport).Count
    }
    It 'lists format files that exist' {
        $manifest.FormatsToProcess | Should -Not -BeNullOrEmpty
        foreach ($f in $manifest.FormatsToProcess) { Join-Path $repo $f | Should -Exist }
    }
}

Describe 'Cmdlet <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $command = Get-Command $Name -Module $Module
        $help = Get-Help $Name -Full
    }

    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $command.Verb
    }

    It 'has a written synopsis' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        # Without MAML, Get-Help makes the synopsis up from the syntax.
        $help.Synopsis.Trim() | Should -Not -BeLike "$Name *"
        $help.Synopsis.Trim() | Should -Not -Be $Name
    }

    It 'has a description' {
        ($help.Description.Text -join '').Trim() | Should -Not -BeNullOrEmpty
    }

    It 'has at least two examples, each with code and an explanation' {
        $examples = @($help.Examples.Example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) {
            $e.Code | Should -Not -BeNullOrEmpty
            ($e.Remarks.Text -join '').Trim() | Should -Not -BeNullOrEmpty
        }
    }

    It 'describes every parameter' {
        $documented = @{}
        foreach ($p in @($help.Parameters.Parameter)) { if ($p) { $documented[$p.Name] = ($p.Description.Text -join '').Trim() } }
        $own = @($command.Parameters.Keys | Where-Object { ($_ -notin $commonParameters -or $_ -in 'WhatIf', 'Confirm') -and $_ -ne 'UseTransaction' })
        $own.Count | Should -BeGreaterThan 0 -Because 'every cmdlet of this module takes parameters'
        foreach ($name in $own) {
            $documented.ContainsKey($name) | Should -BeTrue -Because "-$name must be in the help"
            $documented[$name] | Should -Not -BeNullOrEmpty -Because "-$name needs a description"
        }
    }
}

Describe 'Secret parameter -<Parameter> of <Name>' -ForEach $secretCases {
    It 'is a SecureString' {
        (Get-Command $Name -Module $Module).Parameters[$Parameter].ParameterType | Should -Be ([System.Security.SecureString])
    }
}

Describe 'Output type <Type> of <Name>' -ForEach $outputCases {
    It 'has a format view' {
        $viewTypes.Count | Should -BeGreaterThan 0
        $viewTypes | Should -Contain $Type -Because "[OutputType($Type)] needs a view in formats/"
    }
}

Describe 'State-changing cmdlet <Name>' -ForEach $changingCases {
    It 'supports ShouldProcess (-WhatIf and -Confirm)' {
        $command = Get-Command $Name -Module $Module
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.Parameters.Keys | Should -Contain 'Confirm'
    }
}

# Discovery-time data reaches the run phase only through -ForEach.
Describe 'Host-changing cmdlets' -ForEach @(@{ Cases = $shouldProcessCases; Allow = $notChangingHost }) {
    It 'finds the ShouldProcess cmdlets of the product, among them every enroll, restore, reset, move, register, trusted-root and pin command' {
        $names = $Cases.Name
        foreach ($n in 'Invoke-HsmEnroll', 'Restore-HsmSshKey', 'Reset-HsmModule', 'Move-HsmModule', 'Register-HsmModule', 'Unregister-HsmModule',
            'Add-HsmTrustedRoot', 'Remove-HsmTrustedRoot', 'Update-HsmServerKeyPin', 'Update-HsmSshKey') { $names | Should -Contain $n }
    }
    It 'allow-lists only ShouldProcess cmdlets, each with a reason' {
        $Allow.Count | Should -BeGreaterThan 0
        foreach ($n in $Allow.Keys) {
            $Cases.Name | Should -Contain $n
            $Allow[$n] | Should -Not -BeNullOrEmpty
        }
    }
}

Describe 'ShouldProcess cmdlet <Name>' -ForEach $shouldProcessCases {
    It 'is marked IChangesHost (checked for root/Administrators up front) unless allow-listed' {
        $type = (Get-Command $Name -Module NShield.HsmAdmin).ImplementingType
        $marked = @($type.GetInterfaces() | Where-Object Name -EQ 'IChangesHost').Count -eq 1
        if ($Allowed) { $marked | Should -BeFalse -Because "it is allow-listed as not changing the host: $Allowed" }
        else { $marked | Should -BeTrue -Because 'it supports ShouldProcess, so it changes the host' }
    }
}

Describe 'About topic' {
    It 'is found by Get-Help about_NShield.HsmAdmin' {
        $about = Get-Help about_NShield.HsmAdmin
        ($about | Out-String) | Should -Match 'TRUST MODEL'
    }
    It 'names every exported cmdlet (its table is where an administrator looks first)' {
        $text = Get-Content (Join-Path $repo 'docs/about_NShield.HsmAdmin.help.txt') -Raw
        $names = @((Get-Command -Module NShield.HsmAdmin -CommandType Cmdlet).Name)
        $names.Count | Should -BeGreaterThan 25 -Because 'the module exports its cmdlets'
        $missing = @($names | Where-Object { $text -notmatch "\b$_\b" })
        $missing | Should -BeNullOrEmpty -Because 'the about topic lists every cmdlet'
    }
}
