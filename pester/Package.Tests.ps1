<#
    Issue 14: the published modules, as a user gets them.
    build.ps1 package (from the built ./bin, into a temporary folder) stages both modules and publishes them with
    PSResourceGet into a local file repository. A child pwsh whose HOME and XDG_DATA_HOME are temporary folders (so
    the repository registration, PSResourceGet's settings and the CurrentUser module path are all temporary: nothing
    reaches the user's configuration) registers that repository and runs Install-PSResource. A fresh pwsh with only
    that module path then imports NShield.HsmAdmin by name, reads the help, and enrolls simulated modules (the simulator
    installed the same way) over real SSH. Another fresh pwsh finds the DSC resource on that path by DSC v3's PowerShell
    adapter rules and drives Get/Test/Set through the class.
    Everything is written under one temporary folder.
    Linux only: PSResourceGet's settings are kept away from the user's own through XDG_DATA_HOME, which .NET honours
    only on Linux (build.ps1 package refuses elsewhere); on other systems every test here is skipped.
#>
BeforeDiscovery {
    $script:notLinux = -not $IsLinux
    if ($notLinux) { Write-Warning 'Package.Tests.ps1 skipped: Linux only (PSResourceGet''s settings can be redirected away from the user''s own only on Linux).' }
}

BeforeAll {
    if (-not $IsLinux) { return }
    $repo = Split-Path $PSScriptRoot
    $work = Join-Path ([IO.Path]::GetTempPath()) ('nshield-package-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $out = Join-Path $work 'out'
    $userHome = Join-Path $work 'home'
    # PSResourceGet installs CurrentUser modules under $HOME/.local/share/powershell/Modules and keeps its repository
    # list under the local application-data folder ($XDG_DATA_HOME): both point into the temporary home.
    $dataHome = Join-Path $userHome '.local/share'
    $installed = Join-Path $dataHome 'powershell/Modules'
    New-Item -ItemType Directory -Force $dataHome | Out-Null
    if (-not (Test-Path /usr/sbin/sshd) -and -not (Get-Command sshd -ErrorAction SilentlyContinue)) {
        throw 'The install test enrolls over real SSH and needs sshd: apt-get install openssh-server.'
    }
    $props = [xml](Get-Content -Raw (Join-Path $repo 'Directory.Build.props'))
    $version = [version]@($props.Project.PropertyGroup | ForEach-Object { $_.VersionPrefix } | Where-Object { $_ })[0]

    # A child pwsh (the dotnet-tool pwsh through dotnet when this one is); its last output line is JSON. A child still
    # running after -TimeoutSeconds is stopped (coreutils timeout) and fails the test.
    function Invoke-Child([string] $Script, [hashtable] $Arguments = @{}, [hashtable] $Environment = @{}, [int] $TimeoutSeconds = 300) {
        $file = Join-Path $work ('child-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        Set-Content -Path $file -Value $Script
        $argList = foreach ($k in $Arguments.Keys) { "-$k"; $Arguments[$k] }
        $saved = @{}
        foreach ($k in $Environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
        try {
            Push-Location $work
            $dll = Join-Path $PSHOME 'pwsh.dll'
            $command = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) { @((Get-Command dotnet -ErrorAction Stop).Source, $dll) } else { @(Join-Path $PSHOME 'pwsh') }
            $output = & timeout -k 10 $TimeoutSeconds @command -NoProfile -NonInteractive -File $file @argList 2>&1
        }
        finally {
            Pop-Location
            foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
        }
        $text = @($output | ForEach-Object { "$_" })
        if ($LASTEXITCODE -in 124, 137) { throw "child pwsh timed out after $TimeoutSeconds s:`n$($text -join "`n")" }
        if ($LASTEXITCODE -ne 0 -or -not $text) { throw "child pwsh failed (exit $LASTEXITCODE):`n$($text -join "`n")" }
        try { $text[-1] | ConvertFrom-Json } catch { throw "child pwsh printed no JSON result:`n$($text -join "`n")" }
    }
    $userSettings = @(
        Join-Path ([Environment]::GetFolderPath('LocalApplicationData')) 'PSResourceGet/PSResourceRepository.xml'
        Join-Path $HOME '.local/share/powershell/Modules'
    )
    $userSettingsBefore = @($userSettings | ForEach-Object { if (Test-Path $_) { (Get-ChildItem $_ -Recurse -Force | Select-Object FullName, Length, LastWriteTimeUtc | Out-String) } else { 'absent' } })

    # 1. Package, from the build the suite runs against, into the temporary folder.
    $packageLog = Invoke-Child @'
param([string] $Repo, [string] $Out)
$ErrorActionPreference = 'Stop'
$log = & (Join-Path $Repo 'build.ps1') package -NoBuild -OutputPath $Out *>&1 | ForEach-Object { "$_" }
[pscustomobject]@{ Log = @($log) } | ConvertTo-Json -Compress
'@ @{ Repo = $repo; Out = $out }
    $productStage = Join-Path $out "NShield.HsmAdmin/$version"
    $simStage = Join-Path $out "NShield.HsmAdmin.Simulator/$version"
    $repository = Join-Path $out 'repository'

    # 2. Register the local repository and install both modules, in a temporary user profile.
    $script:install = Invoke-Child @'
param([string] $Repository)
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name NShieldLocal -Uri $Repository -Trusted
Install-PSResource NShield.HsmAdmin -Repository NShieldLocal -Scope CurrentUser
Install-PSResource NShield.HsmAdmin.Simulator -Repository NShieldLocal -Scope CurrentUser
[pscustomobject]@{
    Installed    = @(Get-InstalledPSResource NShield.HsmAdmin* | ForEach-Object { [pscustomobject]@{ Name = $_.Name; Version = "$($_.Version)"; Location = $_.InstalledLocation } })
    Repositories = @(Get-PSResourceRepository | ForEach-Object Name)
} | ConvertTo-Json -Depth 4 -Compress
'@ @{ Repository = $repository } @{ HOME = $userHome; XDG_DATA_HOME = $dataHome }

    # Simulated modules are started by the product's own process below and keep running after it exits (their sshd
    # are separate processes); AfterAll stops them from another process.
    $script:sims = @((Join-Path $work 'sim-enroll'), (Join-Path $work 'sim-dsc'))
    $childEnv = @{ HOME = $userHome; XDG_DATA_HOME = $dataHome; PSModulePath = $installed; NSHIELD_HSMADMIN_HOME = (Join-Path $work 'no-default-store') }

    # 3. A fresh pwsh with only the installed module path (and PowerShell's own modules).
    $script:fresh = Invoke-Child @'
param([string] $Installed, [string] $Work, [int] $Owner)
$ErrorActionPreference = 'Stop'
$env:PSModulePath = $Installed + [IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
$r = [ordered]@{}
$r.Available = @(Get-Module -ListAvailable NShield.HsmAdmin* | ForEach-Object { [pscustomobject]@{ Name = $_.Name; Version = "$($_.Version)"; Base = $_.ModuleBase; Dsc = @($_.ExportedDscResources) } })
Import-Module NShield.HsmAdmin
$m = Get-Module NShield.HsmAdmin
$r.Imported = [pscustomobject]@{ Version = "$($m.Version)"; Base = $m.ModuleBase; Cmdlets = $m.ExportedCmdlets.Count; Dsc = @($m.ExportedDscResources) }
$help = Get-Help Invoke-HsmEnroll -Full
$r.Help = [pscustomobject]@{
    Synopsis = "$($help.Synopsis)".Trim(); Description = ($help.Description.Text -join ' ').Length
    Examples = @($help.Examples.Example).Count; Parameters = @($help.Parameters.Parameter | ForEach-Object Name)
    Text = ($help | Out-String).Length; About = ((Get-Help about_NShield.HsmAdmin | Out-String) -match 'TRUST MODEL') }
Import-Module NShield.HsmAdmin.Simulator
$r.Simulator = "$((Get-Module NShield.HsmAdmin.Simulator).ModuleBase)"
$firmware = Join-Path $r.Simulator 'bin/simulator/deps/firmware/nshield-sim-firmware'
$r.NativeFirmware = [pscustomobject]@{ Present = (Test-Path $firmware); Mode = if (Test-Path $firmware) { "$([IO.File]::GetUnixFileMode($firmware))" } }
$h = Join-Path $Work 'host-enroll'
$sim = Start-HsmSimulator -ModuleCount 2 -HostPath $h -SimulatorPath (Join-Path $Work 'sim-enroll') -Transport Ssh
$r.FirmwareUsed = (Get-Content (Join-Path $sim.Path 'simulator.json') -Raw | ConvertFrom-Json).firmwareDll
$r.Enroll = @(Invoke-HsmEnroll -HostPath $h | ForEach-Object { "$($_.Action)" })
$r.Connected = Test-HsmConnection -HostPath $h
$r.Keys = @(Get-HsmSshKey -HostPath $h -Role Client).Count
Stop-HsmSimulator -Path $sim.Path
# The DSC test's host: simulated modules registered with a host of their own, not enrolled (the vendor root trusted).
# It outlives this child (the DSC test uses it) and dies with the test process.
$null = Start-HsmSimulator -ModuleCount 1 -HostPath (Join-Path $Work 'host-dsc') -SimulatorPath (Join-Path $Work 'sim-dsc') -Transport Ssh `
    -OwnerProcessId $Owner
$r.Assemblies = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { -not $_.IsDynamic -and $_.GetName().Name -like 'NShield*' } | ForEach-Object { $_.Location })
[pscustomobject]$r | ConvertTo-Json -Depth 4 -Compress
'@ @{ Installed = $installed; Work = $work; Owner = $PID } $childEnv

    # 4. DSC v3's PowerShell adapter, step by step (PowerShell/DSC adapters/powershell/psDscAdapter/psDscAdapter.psm1:
    # Get-DSCResourceModules, LoadPowerShellClassResourcesFromModule, FindAndParseResourceDefinitions,
    # GetTypeInstanceFromModule, Invoke-DscOperation), in a fresh pwsh with only the installed module path.
    $script:dsc = Invoke-Child @'
param([string] $Installed, [string] $HostPath)
$ErrorActionPreference = 'Stop'
$env:PSModulePath = $Installed + [IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
$r = [ordered]@{}
# Discovery: every <folder>/<ModuleFolder>/**/<ModuleFolder>.psd1 (depth 2) with an uncommented DscResourcesToExport line.
$psd1s = foreach ($folder in $env:PSModulePath.Split([IO.Path]::PathSeparator)) {
    if (-not (Test-Path -LiteralPath $folder)) { continue }
    foreach ($moduleFolder in Get-ChildItem -LiteralPath $folder -Directory) {
        foreach ($psd1 in Get-ChildItem -Recurse -Filter "$($moduleFolder.Name).psd1" -LiteralPath $moduleFolder.FullName -Depth 2) {
            if (Select-String -LiteralPath $psd1 -Pattern '^[^#]*\bDscResourcesToExport\b.*') { $psd1.FullName }
        }
    }
}
$r.Manifests = @($psd1s)
# Resources: [DscResource()] classes in the RootModule file; the resource's module name is that file's base name.
$resources = foreach ($mod in Get-Module -ListAvailable -Name $psd1s) {
    $script = Join-Path $mod.ModuleBase $mod.RootModule
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($script, [ref]$null, [ref]$errors)
    if ($errors) { throw "parse errors in ${script}: $errors" }
    foreach ($type in $ast.FindAll({ $args[0] -is [System.Management.Automation.Language.TypeDefinitionAst] }, $false)) {
        if ($type.Attributes.TypeName.Name -contains 'DscResource') {
            [pscustomobject]@{
                Type = "$([IO.Path]::GetFileNameWithoutExtension($script))/$($type.Name)"; Name = $type.Name
                ModuleName = [IO.Path]::GetFileNameWithoutExtension($script); Version = "$($mod.Version)"
                Properties = @($type.Members | Where-Object { $_ -is [System.Management.Automation.Language.PropertyMemberAst] -and $_.Attributes.TypeName.Name -contains 'DscProperty' } | ForEach-Object Name)
            }
        }
    }
}
$r.Resources = @($resources | ForEach-Object Type)
$entry = $resources | Where-Object Type -eq 'NShield.HsmAdmin/HsmEnrollment'
$r.Properties = $entry.Properties
$r.LoadedBefore = @(Get-Module | ForEach-Object Name)
# Get the class: import the module by that name, resolve the class inside it.
Import-Module -Name $entry.ModuleName -Force
$module = Get-Module -Name $entry.ModuleName
$r.ImportedFrom = $module.ModuleBase
$class = $module.Invoke([scriptblock]::Create("'$($entry.Name)' -as 'type'"))
function Invoke-Operation([string] $Operation, [hashtable] $Desired) {
    $instance = $class::new()
    foreach ($p in $Desired.GetEnumerator()) { $instance.($p.Key) = $p.Value }
    switch ($Operation) {
        'Get' { $raw = $instance.Get(); $o = [ordered]@{}; foreach ($n in $entry.Properties) { $o[$n] = $raw.$n }; [pscustomobject]$o }
        'Test' { [pscustomobject]@{ InDesiredState = $instance.Test() } }
        'Set' { $instance.Set(); [pscustomobject]@{} }
    }
}
$desired = @{ HostPath = $HostPath; MaxClientKeyAgeDays = 30; RestartHardserver = $true }
$r.TestBefore = (Invoke-Operation Test $desired).InDesiredState
$r.GetBefore = Invoke-Operation Get $desired
Invoke-Operation Set $desired | Out-Null
$r.TestAfter = (Invoke-Operation Test $desired).InDesiredState
$r.GetAfter = Invoke-Operation Get $desired
# What the adapter prints as the resource's actual state.
$r.GetJson = $r.GetAfter | ConvertTo-Json -Depth 5 -Compress
[pscustomobject]$r | ConvertTo-Json -Depth 6 -Compress
'@ @{ Installed = $installed; HostPath = (Join-Path $work 'host-dsc') } $childEnv
}

AfterAll {
    if (-not $IsLinux) { return }
    if ($sims -and (Test-Path (Join-Path $installed 'NShield.HsmAdmin.Simulator'))) {
        $stop = ($sims | ForEach-Object { "Stop-HsmSimulator -Path '$_' -ErrorAction SilentlyContinue" }) -join '; '
        $env:PSModulePath, $savedPath = $installed, $env:PSModulePath
        try { & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module NShield.HsmAdmin.Simulator; $stop" | Out-Null }
        finally { $env:PSModulePath = $savedPath }
    }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'build.ps1 package' -Skip:$notLinux {
    It 'stages each module under <name>/<version>/ with only what runs' {
        $allowed = '^(NShield\.HsmAdmin\.psd1|LICENSE|bin/NShield\.HsmAdmin\.psm1|bin/loader/(Core|Desktop)/NShield\.HsmAdmin\.Loader\.dll|bin/deps/[^/]+\.dll|formats/NShield\.HsmAdmin\.Format\.ps1xml|en-US/NShield\.HsmAdmin\.dll-Help\.xml|en-US/about_NShield\.HsmAdmin\.help\.txt)$'
        $files = @(Get-ChildItem $productStage -Recurse -File | ForEach-Object { [IO.Path]::GetRelativePath($productStage, $_.FullName).Replace('\', '/') })
        $files | Where-Object { $_ -notmatch $allowed } | Should -BeNullOrEmpty
        foreach ($f in 'NShield.HsmAdmin.psd1', 'LICENSE', 'bin/NShield.HsmAdmin.psm1', 'bin/loader/Core/NShield.HsmAdmin.Loader.dll', 'bin/loader/Desktop/NShield.HsmAdmin.Loader.dll',
            'bin/deps/NShield.HsmAdmin.dll', 'bin/deps/NShield.HsmAdmin.Engine.dll', 'bin/deps/Renci.SshNet.dll', 'formats/NShield.HsmAdmin.Format.ps1xml',
            'en-US/NShield.HsmAdmin.dll-Help.xml', 'en-US/about_NShield.HsmAdmin.help.txt') { $files | Should -Contain $f }
        $files | Where-Object { $_ -like '*Simulator*' -or $_ -like '*TestHooks*' -or $_ -like '*.pdb' } | Should -BeNullOrEmpty

        $simAllowed = '^(NShield\.HsmAdmin\.Simulator\.psd1|LICENSE|bin/simulator/NShield\.HsmAdmin\.Simulator\.psm1|bin/simulator/deps/NShield\.HsmAdmin\.Simulator(\.Commands)?\.dll|bin/simulator/deps/firmware/[^/]+\.(dll|json)|bin/simulator/deps/firmware/nshield-sim-firmware|formats/NShield\.HsmAdmin\.Simulator\.Format\.ps1xml|en-US/NShield\.HsmAdmin\.Simulator\.Commands\.dll-Help\.xml)$'
        $simFiles = @(Get-ChildItem $simStage -Recurse -File | ForEach-Object { [IO.Path]::GetRelativePath($simStage, $_.FullName).Replace('\', '/') })
        $simFiles | Where-Object { $_ -notmatch $simAllowed } | Should -BeNullOrEmpty
        $simFiles | Should -Contain 'bin/simulator/deps/firmware/nshield-sim-firmware.dll'
        $simFiles | Should -Contain 'bin/simulator/deps/NShield.HsmAdmin.Simulator.Commands.dll'
        # Native AOT firmware: staged whenever the build made one (not with -NoAot or off Linux).
        if (Test-Path (Join-Path $repo 'bin/simulator/deps/firmware/nshield-sim-firmware')) { $simFiles | Should -Contain 'bin/simulator/deps/firmware/nshield-sim-firmware' }
    }
    It 'publishes both as .nupkg files into the local repository' {
        (Get-ChildItem $repository -Filter *.nupkg).Name | Sort-Object | Should -Be @("NShield.HsmAdmin.$version.nupkg", "NShield.HsmAdmin.Simulator.$version.nupkg")
        ($packageLog.Log -join "`n") | Should -Match 'Published .*NShield\.HsmAdmin\.Simulator\.'
    }
    It 'stamps the one version (Directory.Build.props) into manifests, assemblies and release notes' {
        foreach ($m in (Join-Path $repo 'NShield.HsmAdmin.psd1'), (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1'), (Join-Path $productStage 'NShield.HsmAdmin.psd1'), (Join-Path $simStage 'NShield.HsmAdmin.Simulator.psd1')) {
            [version](Import-PowerShellDataFile $m).ModuleVersion | Should -Be $version -Because $m
        }
        foreach ($dll in (Join-Path $productStage 'bin/deps/NShield.HsmAdmin.dll'), (Join-Path $productStage 'bin/deps/NShield.HsmAdmin.Engine.dll'),
            (Join-Path $productStage 'bin/loader/Core/NShield.HsmAdmin.Loader.dll'), (Join-Path $simStage 'bin/simulator/deps/NShield.HsmAdmin.Simulator.Commands.dll')) {
            $name = [Reflection.AssemblyName]::GetAssemblyName($dll)
            $name.Version | Should -Be ([version]"$version.0") -Because $dll
            [Diagnostics.FileVersionInfo]::GetVersionInfo($dll).ProductVersion | Should -BeLike "$version*"
        }
        $changelog = Get-Content (Join-Path $repo 'CHANGELOG.md') -Raw
        $changelog | Should -Match "(?m)^## \[$([regex]::Escape("$version"))\] - \d{4}-\d{2}-\d{2}$"
        $changelog | Should -Match '(?m)^## \[Unreleased\]$'
        $section = [regex]::Match($changelog, "(?ms)^## \[$([regex]::Escape("$version"))\][^\n]*\n(.*?)(?=^## |\z)").Groups[1].Value.Trim()
        foreach ($m in (Join-Path $productStage 'NShield.HsmAdmin.psd1'), (Join-Path $simStage 'NShield.HsmAdmin.Simulator.psd1')) {
            (Import-PowerShellDataFile $m).PrivateData.PSData.ReleaseNotes.Trim() -replace "`r" | Should -Be ($section -replace "`r")
        }
    }
    It 'has a licence, platform tags and no made-up URLs' {
        Join-Path $repo 'LICENSE' | Should -FileContentMatch 'MIT License'
        foreach ($m in (Join-Path $productStage 'NShield.HsmAdmin.psd1'), (Join-Path $simStage 'NShield.HsmAdmin.Simulator.psd1')) {
            $data = Import-PowerShellDataFile $m
            foreach ($t in 'Windows', 'Linux', 'PSEdition_Core', 'PSEdition_Desktop') { $data.PrivateData.PSData.Tags | Should -Contain $t }
            foreach ($u in 'ProjectUri', 'LicenseUri', 'IconUri') { $data.PrivateData.PSData.ContainsKey($u) | Should -BeFalse -Because 'no public URL exists' }
            $data.ContainsKey('HelpInfoURI') | Should -BeFalse
            Join-Path (Split-Path $m) 'LICENSE' | Should -Exist
        }
        # No cmdlet help points online.
        ([xml](Get-Content (Join-Path $productStage 'en-US/NShield.HsmAdmin.dll-Help.xml') -Raw)).OuterXml | Should -Not -Match 'https?://(?!schemas\.microsoft\.com|msh)'
    }
    It 'makes the packaged simulator require the product at the same version' {
        # PowerShell imports it first; PSResourceGet installs it along.
        $required = @((Import-PowerShellDataFile (Join-Path $simStage 'NShield.HsmAdmin.Simulator.psd1')).RequiredModules)
        $required.Count | Should -Be 1
        $required[0].ModuleName | Should -Be 'NShield.HsmAdmin'
        $required[0].RequiredVersion | Should -Be "$version"
        (Import-PowerShellDataFile (Join-Path $repo 'NShield.HsmAdmin.Simulator.psd1')).ContainsKey('RequiredModules') | Should -BeFalse -Because 'the repository copy imports the product beside it by path'
    }
}

Describe 'Install-PSResource from the local repository' -Skip:$notLinux {
    It 'installs both modules into the temporary user module path only, leaving the user''s settings alone' {
        @($install.Installed.Name | Sort-Object) | Should -Be @('NShield.HsmAdmin', 'NShield.HsmAdmin.Simulator')
        foreach ($i in $install.Installed) { $i.Version | Should -Be "$version"; $i.Location | Should -Be $installed }
        Join-Path $dataHome 'PSResourceGet/PSResourceRepository.xml' | Should -FileContentMatch 'NShieldLocal'
        $after = @($userSettings | ForEach-Object { if (Test-Path $_) { (Get-ChildItem $_ -Recurse -Force | Select-Object FullName, Length, LastWriteTimeUtc | Out-String) } else { 'absent' } })
        $after | Should -Be $userSettingsBefore
        Join-Path $work 'PSResourceGet' | Should -Not -Exist -Because 'PSResourceGet writes into the current folder when its settings folder is missing'
    }
    It 'imports NShield.HsmAdmin by name in a fresh pwsh with only that path' {
        @($fresh.Available | ForEach-Object Name | Sort-Object) | Should -Be @('NShield.HsmAdmin', 'NShield.HsmAdmin.Simulator')
        foreach ($a in $fresh.Available) { $a.Base | Should -BeLike "$installed*" }
        $fresh.Imported.Version | Should -Be "$version"
        $fresh.Imported.Base | Should -Be (Join-Path $installed "NShield.HsmAdmin/$version")
        $fresh.Imported.Cmdlets | Should -Be @((Import-PowerShellDataFile (Join-Path $repo 'NShield.HsmAdmin.psd1')).CmdletsToExport).Count
        $fresh.Imported.Dsc | Should -Be @('HsmEnrollment')
        foreach ($a in $fresh.Assemblies) { $a | Should -BeLike "$installed*" -Because 'nothing loads from the repository' }
    }
    It 'shows the full help of Invoke-HsmEnroll and the about topic' {
        $fresh.Help.Synopsis | Should -Not -BeNullOrEmpty
        $fresh.Help.Synopsis | Should -Not -BeLike 'Invoke-HsmEnroll *' -Because 'without MAML Get-Help makes the synopsis up from the syntax'
        $fresh.Help.Description | Should -BeGreaterThan 100
        $fresh.Help.Examples | Should -BeGreaterOrEqual 2
        $fresh.Help.Parameters | Should -Contain 'HostPath'
        $fresh.Help.About | Should -BeTrue
    }
    It 'enrolls simulated modules over real SSH with the installed simulator (its Native AOT firmware executable again)' {
        $fresh.Simulator | Should -Be (Join-Path $installed "NShield.HsmAdmin.Simulator/$version")
        $fresh.FirmwareUsed | Should -BeLike "$($fresh.Simulator)*"
        if ($fresh.NativeFirmware.Present) {
            $fresh.NativeFirmware.Mode | Should -Match 'UserExecute' -Because 'a .nupkg keeps no file modes; the simulator gives the execute bit back'
            $fresh.FirmwareUsed | Should -BeLike '*/nshield-sim-firmware'
        }
        $fresh.Enroll | Should -Be @('Enrolled', 'Enrolled')
        $fresh.Connected | Should -BeExactly $true
        $fresh.Keys | Should -Be 6
    }
}

Describe 'DSC v3 adapter discovery on the installed copy' -Skip:$notLinux {
    It 'finds the manifest exporting the resource on the module path, and the class in its root module' {
        $dsc.Manifests | Should -Be @((Join-Path $installed "NShield.HsmAdmin/$version/NShield.HsmAdmin.psd1"))
        $dsc.Resources | Should -Be @('NShield.HsmAdmin/HsmEnrollment')
        foreach ($p in 'HostPath', 'MaxClientKeyAgeDays', 'RestartHardserver', 'EnrolledEsns', 'Reasons') { $dsc.Properties | Should -Contain $p }
        $dsc.LoadedBefore | Should -Not -Contain 'NShield.HsmAdmin'
        $dsc.ImportedFrom | Should -Be (Join-Path $installed "NShield.HsmAdmin/$version")
    }
    It 'Test, Get and Set through the class: out of state with Reasons, then enrolled with none' {
        $dsc.TestBefore | Should -BeFalse
        $dsc.GetBefore.EnrolledModuleCount | Should -Be 0
        @($dsc.GetBefore.Reasons.Code) | Should -Contain 'HsmEnrollment:HsmEnrollment:NotEnrolled'
        foreach ($reason in $dsc.GetBefore.Reasons) { $reason.Phrase | Should -Not -BeNullOrEmpty }
        $dsc.TestAfter | Should -BeTrue
        $dsc.GetAfter.EnrolledModuleCount | Should -Be 1
        $dsc.GetAfter.ChannelsHealthy | Should -BeTrue
        @($dsc.GetAfter.Reasons).Count | Should -Be 0
        $dsc.GetJson | Should -Match '"Reasons":\[\]'
    }
}

Describe 'PowerShell version check of the product''s loader' -Skip:$notLinux {
    BeforeDiscovery {
        $script:versionCases = @(
            @{ Edition = 'Core'; Version = '7.0.3'; Stops = $true }
            @{ Edition = 'Core'; Version = '7.3.12'; Stops = $true }
            @{ Edition = 'Core'; Version = '7.4.0'; Stops = $false }
            @{ Edition = 'Core'; Version = '7.6.9'; Stops = $false }
            @{ Edition = 'Desktop'; Version = '5.1.19041.1'; Stops = $false }
        )
    }
    BeforeAll {
        # The check's own statements from the shipped root module, run with a stand-in $PSVersionTable.
        $psm1 = Join-Path $productStage 'bin/NShield.HsmAdmin.psm1'
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($psm1, [ref]$null, [ref]$null)
        $statements = @($ast.EndBlock.Statements)
        $ifIndex = @(0..($statements.Count - 1) | Where-Object { $statements[$_] -is [System.Management.Automation.Language.IfStatementAst] -and $statements[$_].Extent.Text -match 'PSVersion' })[0]
        $checkText = ($statements[0..$ifIndex] | ForEach-Object { $_.Extent.Text }) -join "`n"
    }
    It 'PowerShell <Edition> <Version>: stops = <Stops>' -ForEach $versionCases {
        # $PSVersionTable cannot be shadowed (it is read-only): the check's text reads a stand-in instead.
        $checkText | Should -Match '\$PSVersionTable\.PSEdition'
        $check = [scriptblock]::Create("param(`$e, `$v) `$standIn = @{ PSEdition = `$e; PSVersion = [version]`$v }`n" + ($checkText -replace '\$PSVersionTable\b', '$standIn'))
        if ($Stops) { { & $check $Edition $Version } | Should -Throw "*PowerShell 7.4 or later*$Version*" }
        else { { & $check $Edition $Version } | Should -Not -Throw }
    }
    It 'comes before anything is loaded' {
        $ifIndex | Should -Not -BeNullOrEmpty -Because 'the root module has an if statement reading PSVersion'
        $ifIndex | Should -BeOfType [int]
        $ifIndex | Should -BeLessThan 4
        $checkText | Should -Not -Match 'LoadFrom|ModuleLoader|Import-Module'
    }
}
