<#
.SYNOPSIS
    Turns the platyPS-layout markdown in docs/help into MAML (NShield.HsmAdmin.dll-Help.xml) for Get-Help.
.DESCRIPTION
    platyPS is not available on the build machines, so this reads the same markdown layout that
    platyPS's New-MarkdownHelp writes (a Windows maintainer can still use platyPS on these files)
    and writes the MAML that Get-Help reads for the module's binary cmdlets. It also copies the
    about topic. Pure PowerShell, no modules: runs on Windows PowerShell 5.1 and PowerShell 7.
.PARAMETER OutputPath
    The folder to write NShield.HsmAdmin.dll-Help.xml and about_NShield.HsmAdmin.help.txt into
    (a culture folder such as <module>/en-US).
.PARAMETER SourcePath
    The folder holding <Cmdlet-Name>.md files. Default: this script's folder.
.EXAMPLE
    ./docs/help/Build-Help.ps1 -OutputPath ./en-US
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $OutputPath,
    [string] $SourcePath = $PSScriptRoot,
    # The cmdlets' assembly: the MAML file is <AssemblyName>.dll-Help.xml (the simulator's cmdlets have their own).
    [string] $AssemblyName = 'NShield.HsmAdmin'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2

$nsMaml = 'http://schemas.microsoft.com/maml/2004/10'
$nsCommand = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$nsDev = 'http://schemas.microsoft.com/maml/dev/2004/10'

function Split-Sections([string[]] $lines, [string] $prefix) {
    # Splits lines into an ordered map heading -> body lines, on lines that start with $prefix
    # (outside code fences, so '#' comments in examples are not headings).
    $sections = [System.Collections.Specialized.OrderedDictionary]::new()
    $current = $null; $body = $null; $fence = $false
    foreach ($line in $lines) {
        if ($line.TrimStart().StartsWith('```', [StringComparison]::Ordinal)) { $fence = -not $fence }
        if (-not $fence -and $line.StartsWith($prefix, [StringComparison]::Ordinal) -and -not $line.StartsWith($prefix + '#', [StringComparison]::Ordinal)) {
            if ($null -ne $current) { $sections[$current] = $body.ToArray() }
            $current = $line.Substring($prefix.Length).Trim()
            $body = [System.Collections.Generic.List[string]]::new()
        }
        elseif ($null -ne $current) { $body.Add($line) }
    }
    if ($null -ne $current) { $sections[$current] = $body.ToArray() }
    $sections
}

function Get-Paragraphs([string[]] $lines) {
    # Prose paragraphs (blank-line separated, joined into one line each); code fences kept whole.
    $paras = [System.Collections.Generic.List[string]]::new()
    $buf = [System.Collections.Generic.List[string]]::new()
    $fence = $false
    foreach ($line in $lines) {
        if ($line -match '^\s*```') {
            if ($fence) { $buf.Add($line); $paras.Add(($buf -join "`n")); $buf.Clear(); $fence = $false; continue }
            if ($buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }
            $fence = $true; $buf.Add($line); continue
        }
        if ($fence) { $buf.Add($line); continue }
        if ($line.Trim() -eq '') { if ($buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }; continue }
        # List items start their own line so Get-Help keeps them apart.
        if ($line -match '^\s*([-*]|\d+\.)\s' -and $buf.Count) { $paras.Add(($buf -join ' ')); $buf.Clear() }
        $buf.Add($line.Trim())
    }
    if ($buf.Count) { $paras.Add(($buf -join ' ')) }
    # Markdown emphasis and code spans read as noise in a console.
    $out = foreach ($p in $paras) {
        if ($p.StartsWith('```', [StringComparison]::Ordinal)) { $l = $p -split "`n"; if ($l.Count -gt 2) { $l[1..($l.Count - 2)] -join "`n" } else { '' } }
        else { $p -replace '`', '' -replace '\*\*', '' }
    }
    @($out)
}

function Get-Fences([string[]] $lines) {
    # Returns @{ Code = @(blocks); Rest = lines outside blocks }.
    $blocks = [System.Collections.Generic.List[string]]::new(); $rest = [System.Collections.Generic.List[string]]::new()
    $buf = $null
    foreach ($line in $lines) {
        if ($line -match '^\s*```') {
            if ($null -eq $buf) { $buf = [System.Collections.Generic.List[string]]::new(); continue }
            $blocks.Add(($buf -join "`n")); $buf = $null; continue
        }
        if ($null -ne $buf) { $buf.Add($line) } else { $rest.Add($line) }
    }
    @{ Code = $blocks.ToArray(); Rest = $rest.ToArray() }
}

function Read-HelpMarkdown([string] $path) {
    $lines = [System.IO.File]::ReadAllLines($path)
    $i = 0
    if ($lines.Count -and $lines[0].Trim() -eq '---') { $i = 1; while ($i -lt $lines.Count -and $lines[$i].Trim() -ne '---') { $i++ }; $i++ }
    $lines = $lines[$i..($lines.Count - 1)]
    $nameLine = $null
    foreach ($line in $lines) { if ($line.StartsWith('# ', [StringComparison]::Ordinal)) { $nameLine = $line; break } }
    if (-not $nameLine) { throw "$path has no '# Name' heading." }
    $sections = Split-Sections $lines '## '
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS') {
        if (-not $sections.Contains($required)) { throw "$path has no '## $required' section." }
    }
    $help = [ordered]@{
        Name        = $nameLine.Substring(2).Trim()
        Synopsis    = (Get-Paragraphs $sections['SYNOPSIS']) -join ' '
        Description = @(Get-Paragraphs $sections['DESCRIPTION'])
        Notes       = @(Get-Paragraphs $sections['NOTES'])
        Sets        = @()
        Parameters  = @()
        Examples    = @()
        Inputs      = @()
        Outputs     = @()
        Links       = @()
    }
    foreach ($set in (Split-Sections $sections['SYNTAX'] '### ').GetEnumerator()) {
        $code = (Get-Fences $set.Value).Code -join ' '
        $order = foreach ($m in [regex]::Matches($code, '(?<=[\s\[])-(\w+)')) { $m.Groups[1].Value }
        $help.Sets += [pscustomobject]@{ Name = ($set.Key -replace '\s*\(Default\)\s*$', ''); Order = $order }
    }
    foreach ($p in (Split-Sections $sections['PARAMETERS'] '### ').GetEnumerator()) {
        if ($p.Key -eq 'CommonParameters') { continue }
        $fences = Get-Fences $p.Value
        $yaml = @{}
        foreach ($y in ($fences.Code -join "`n") -split "`n") { if ($y -match '^([^:]+):\s*(.*)$') { $yaml[$Matches[1].Trim()] = $Matches[2].Trim() } }
        foreach ($key in 'Type', 'Parameter Sets', 'Required', 'Position', 'Accept pipeline input', 'Accept wildcard characters') {
            if (-not $yaml.ContainsKey($key)) { throw "$path, parameter $($p.Key): the yaml block has no '$key'." }
        }
        $help.Parameters += [pscustomobject]@{
            Name        = $p.Key.TrimStart('-')
            Description = @(Get-Paragraphs $fences.Rest)
            Type        = $yaml['Type']
            Sets        = @($yaml['Parameter Sets'] -split '\s*,\s*')
            Aliases     = if ($yaml['Aliases']) { $yaml['Aliases'] } else { 'none' }
            Required    = $yaml['Required']
            Position    = $yaml['Position']
            Default     = if ($yaml['Default value']) { $yaml['Default value'] } else { 'None' }
            Pipeline    = $yaml['Accept pipeline input']
            Globbing    = $yaml['Accept wildcard characters']
        }
    }
    foreach ($e in (Split-Sections $sections['EXAMPLES'] '### ').GetEnumerator()) {
        $fences = Get-Fences $e.Value
        $help.Examples += [pscustomobject]@{ Title = $e.Key; Code = ($fences.Code -join "`n`n"); Remarks = @(Get-Paragraphs $fences.Rest) }
    }
    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        $items = foreach ($t in (Split-Sections $sections[$kind] '### ').GetEnumerator()) {
            [pscustomobject]@{ Type = $t.Key; Description = @(Get-Paragraphs $t.Value) }
        }
        $help[$(if ($kind -eq 'INPUTS') { 'Inputs' } else { 'Outputs' })] = @($items)
    }
    foreach ($line in $sections['RELATED LINKS']) {
        foreach ($m in [regex]::Matches($line, '\[([^\]]+)\]\(([^)]*)\)')) { $help.Links += [pscustomobject]@{ Text = $m.Groups[1].Value; Uri = $m.Groups[2].Value } }
    }
    [pscustomobject]$help
}

function Write-Paras($w, [string[]] $paras) {
    if (-not $paras -or $paras.Count -eq 0) { $paras = @('') }
    foreach ($p in $paras) { $w.WriteElementString('para', $nsMaml, $p) }
}

function Write-Description($w, [string[]] $paras) {
    $w.WriteStartElement('description', $nsMaml); Write-Paras $w $paras; $w.WriteEndElement()
}

function Write-Parameter($w, $p, [bool] $inSyntax) {
    $isSwitch = $p.Type -match '^(System\.Management\.Automation\.)?SwitchParameter$'
    $w.WriteStartElement('parameter', $nsCommand)
    $w.WriteAttributeString('required', $p.Required.ToLowerInvariant())
    $w.WriteAttributeString('variableLength', $(if ($p.Type -match '\[\]$') { 'true' } else { 'false' }))
    $w.WriteAttributeString('globbing', $p.Globbing.ToLowerInvariant())
    $w.WriteAttributeString('pipelineInput', $p.Pipeline)
    $w.WriteAttributeString('position', $(if ($p.Position -match '^\d+$') { $p.Position } else { 'named' }))
    $w.WriteAttributeString('aliases', $p.Aliases)
    $w.WriteElementString('name', $nsMaml, $p.Name)
    Write-Description $w $p.Description
    if (-not ($isSwitch -and $inSyntax)) {
        $w.WriteStartElement('parameterValue', $nsCommand)
        $w.WriteAttributeString('required', $(if ($isSwitch) { 'false' } else { 'true' }))
        $w.WriteAttributeString('variableLength', 'false')
        $w.WriteString($p.Type); $w.WriteEndElement()
    }
    $w.WriteStartElement('type', $nsDev); $w.WriteElementString('name', $nsMaml, $p.Type); $w.WriteElementString('uri', $nsMaml, ''); $w.WriteEndElement()
    $w.WriteElementString('defaultValue', $nsDev, $p.Default)
    $w.WriteEndElement()
}

function Write-Command($w, $help) {
    $verb, $noun = $help.Name -split '-', 2
    $w.WriteStartElement('command', 'command', $nsCommand)
    $w.WriteAttributeString('xmlns', 'maml', $null, $nsMaml)
    $w.WriteAttributeString('xmlns', 'dev', $null, $nsDev)
    $w.WriteStartElement('details', $nsCommand)
    $w.WriteElementString('name', $nsCommand, $help.Name)
    $w.WriteElementString('verb', $nsCommand, $verb)
    $w.WriteElementString('noun', $nsCommand, $noun)
    Write-Description $w @($help.Synopsis)
    $w.WriteEndElement()
    Write-Description $w $help.Description

    $w.WriteStartElement('syntax', $nsCommand)
    foreach ($set in $help.Sets) {
        $w.WriteStartElement('syntaxItem', $nsCommand)
        $w.WriteElementString('name', $nsMaml, $help.Name)
        $byName = @{}
        foreach ($p in $help.Parameters) { if ($p.Sets -contains '(All)' -or $p.Sets -contains $set.Name) { $byName[$p.Name] = $p } }
        # The order of the markdown syntax block (positional first, as PowerShell prints it); any others after.
        foreach ($n in $set.Order) { if ($byName.ContainsKey($n)) { Write-Parameter $w $byName[$n] $true; $byName.Remove($n) } }
        foreach ($p in $help.Parameters) { if ($byName.ContainsKey($p.Name)) { Write-Parameter $w $p $true } }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('parameters', $nsCommand)
    foreach ($p in $help.Parameters) { Write-Parameter $w $p $false }
    $w.WriteEndElement()

    foreach ($kind in @(@('inputTypes', 'inputType', $help.Inputs), @('returnValues', 'returnValue', $help.Outputs))) {
        $w.WriteStartElement($kind[0], $nsCommand)
        foreach ($t in $kind[2]) {
            $w.WriteStartElement($kind[1], $nsCommand)
            $w.WriteStartElement('type', $nsDev); $w.WriteElementString('name', $nsMaml, $t.Type); $w.WriteEndElement()
            Write-Description $w $t.Description
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }

    $w.WriteStartElement('alertSet', $nsMaml)
    $w.WriteStartElement('alert', $nsMaml); Write-Paras $w $help.Notes; $w.WriteEndElement()
    $w.WriteEndElement()

    $w.WriteStartElement('examples', $nsCommand)
    foreach ($e in $help.Examples) {
        $w.WriteStartElement('example', $nsCommand)
        $w.WriteElementString('title', $nsMaml, "-------------------------- $($e.Title) --------------------------")
        $w.WriteElementString('code', $nsDev, $e.Code)
        $w.WriteStartElement('remarks', $nsDev); Write-Paras $w $e.Remarks; $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('relatedLinks', $nsCommand)
    foreach ($l in $help.Links) {
        $w.WriteStartElement('navigationLink', $nsMaml)
        $w.WriteElementString('linkText', $nsMaml, $l.Text)
        $w.WriteElementString('uri', $nsMaml, $l.Uri)
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}

# .NET calls rather than Get-ChildItem/Join-Path/Copy-Item: auto-loading Microsoft.PowerShell.Management
# costs about a second, which is most of this script's time.
$SourcePath = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($SourcePath)
$outputFull = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutputPath)
$sources = [System.IO.Directory]::GetFiles($SourcePath, '*-*.md')
[Array]::Sort($sources, [StringComparer]::Ordinal)
if ($sources.Count -eq 0) { throw "No help markdown (<Verb-Noun>.md) in $SourcePath." }
$null = [System.IO.Directory]::CreateDirectory($outputFull)
$mamlPath = [System.IO.Path]::Combine($outputFull, "$AssemblyName.dll-Help.xml")

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$w = [System.Xml.XmlWriter]::Create($mamlPath, $settings)
try {
    $w.WriteStartDocument()
    $w.WriteStartElement('helpItems', 'http://msh')
    $w.WriteAttributeString('schema', 'maml')
    $parsed = foreach ($source in $sources) { Read-HelpMarkdown $source }
    foreach ($help in $parsed) { Write-Command $w $help }
    $w.WriteEndElement()
    $w.WriteEndDocument()
}
finally { $w.Dispose() }

$about = [System.IO.Path]::Combine([System.IO.Path]::GetDirectoryName($SourcePath.TrimEnd('/', '\')), 'about_NShield.HsmAdmin.help.txt')
if ($AssemblyName -eq 'NShield.HsmAdmin' -and [System.IO.File]::Exists($about)) { [System.IO.File]::Copy($about, [System.IO.Path]::Combine($outputFull, 'about_NShield.HsmAdmin.help.txt'), $true) }
Write-Verbose "Wrote help for $($sources.Count) cmdlets to $mamlPath"
