<#
    Module hygiene, as PSScriptAnalyzer and a reviewer would check it (PSScriptAnalyzer is not available
    here): approved verbs, ShouldProcess on changes, explicit exports, SecureString secrets, complete help,
    a format view for every output type. Data-driven: each cmdlet is its own test.
#>
BeforeDiscovery {
    $script:repo = Split-Path $PSScriptRoot
    $manifest = Import-PowerShellDataFile (Join-Path $repo 'NShield.HsmAdmin.psd1')
    $script:cmdletCases = @($manifest.CmdletsToExport | ForEach-Object { @{ Name = $_ } })
    $changeVerbs = 'Set', 'New', 'Remove', 'Add', 'Update', 'Invoke', 'Backup', 'Restore', 'Move', 'Reset', 'Restart', 'Start', 'Stop'
    $script:changingCases = @($cmdletCases | Where-Object { ($_.Name -split '-')[0] -in $changeVerbs })
}

BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $manifestPath = Join-Path $repo 'NShield.HsmAdmin.psd1'
    $manifest = Import-PowerShellDataFile $manifestPath
    $module = Import-Module $manifestPath -Force -PassThru
    $commonParameters = @([System.Management.Automation.PSCmdlet]::CommonParameters) + @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters)

    # Type names that have a view in any formats/*.ps1xml.
    $viewTypes = @(foreach ($file in Get-ChildItem (Join-Path $repo 'formats') -Filter *.ps1xml) {
            ([xml](Get-Content $file.FullName -Raw)).SelectNodes('//ViewSelectedBy/TypeName') | ForEach-Object { $_.InnerText.Trim() }
        })
    # Types PowerShell already formats well enough.
    $formatExempt = 'System.Boolean', 'System.IO.FileInfo'
}

Describe 'Module manifest' {
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
    It 'lists format files that exist' {
        $manifest.FormatsToProcess | Should -Not -BeNullOrEmpty
        foreach ($f in $manifest.FormatsToProcess) { Join-Path $repo $f | Should -Exist }
    }
}

Describe 'Cmdlet <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $command = Get-Command $Name -Module NShield.HsmAdmin
        $help = Get-Help $Name -Full
    }

    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $command.Verb
    }

    It 'takes every passphrase, password or secret as a SecureString' {
        $secrets = @($command.Parameters.Values | Where-Object { $_.Name -match 'Passphrase|Password|Secret' })
        foreach ($p in $secrets) { $p.ParameterType | Should -Be ([System.Security.SecureString]) -Because "-$($p.Name) is a secret" }
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
        foreach ($name in $command.Parameters.Keys | Where-Object { $_ -notin $commonParameters -or $_ -in 'WhatIf', 'Confirm' }) {
            if ($name -eq 'UseTransaction') { continue }
            $documented.ContainsKey($name) | Should -BeTrue -Because "-$name must be in the help"
            $documented[$name] | Should -Not -BeNullOrEmpty -Because "-$name needs a description"
        }
    }

    It 'has a format view for every output type' {
        foreach ($t in $command.OutputType) {
            $typeName = if ($t.Type) { $t.Type.FullName } else { $t.Name }
            if ($typeName -in $formatExempt) { continue }
            $viewTypes | Should -Contain $typeName -Because "[OutputType($typeName)] needs a view in formats/"
        }
    }
}

Describe 'State-changing cmdlet <Name>' -ForEach $changingCases {
    It 'supports ShouldProcess (-WhatIf and -Confirm)' {
        $command = Get-Command $Name -Module NShield.HsmAdmin
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.Parameters.Keys | Should -Contain 'Confirm'
    }
}

Describe 'About topic' {
    It 'is found by Get-Help about_NShield.HsmAdmin' {
        $about = Get-Help about_NShield.HsmAdmin
        ($about | Out-String) | Should -Match 'TRUST MODEL'
    }
}
