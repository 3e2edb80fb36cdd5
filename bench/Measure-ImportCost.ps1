#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Where Import-Module NShield.HsmAdmin spends its time, measured inside fresh child pwsh processes (so process start and
    machine load between runs do not enter the numbers): the whole import, the same import after the session's first
    formatted output (which builds the session's type and format tables that TypesToProcess/FormatsToProcess would
    otherwise build at import), and the steps of the root module one by one.
.EXAMPLE
    dotnet pwsh ./bench/Measure-ImportCost.ps1 -Repetitions 8     # after ./build.ps1 build
#>
param([int] $Repetitions = 8)
$ErrorActionPreference = 'Stop'
$repo = Split-Path $PSScriptRoot
$manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
$bin = Join-Path $repo 'bin'
$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$launcher = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { @('dotnet', $pwshDll) } else { @((Join-Path $PSHOME 'pwsh')) }
$exe = $launcher[0]; $pre = @($launcher | Select-Object -Skip 1)
$scripts = [ordered]@{
    'Import-Module (whole)' = "`$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$manifest'; `$sw.Elapsed.TotalMilliseconds"
    'Import-Module after a first formatted output' = "`$null = Get-Item / | Out-String; `$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$manifest'; `$sw.Elapsed.TotalMilliseconds"
    'first formatted output (type and format tables), no module' = "`$sw = [Diagnostics.Stopwatch]::StartNew(); `$null = Get-Item / | Out-String; `$sw.Elapsed.TotalMilliseconds"
    'steps' = @"
`$t = [Diagnostics.Stopwatch]::StartNew(); `$r = [ordered]@{}
`$null = [Reflection.Assembly]::LoadFrom('$bin/loader/Core/NShield.HsmAdmin.Loader.dll'); `$r['loader assembly'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
`$a = [NShield.HsmAdmin.Loader.ModuleLoader]::Load('$bin/deps'); `$r['isolated load context + cmdlet assembly'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
`$null = Import-Module -Assembly `$a; `$r['Import-Module -Assembly (cmdlet discovery)'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
Update-TypeData -AppendPath '$repo/formats/NShield.HsmAdmin.Types.ps1xml'; `$r['types file (first type data of the session)'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
Update-FormatData -AppendPath '$repo/formats/NShield.HsmAdmin.Format.ps1xml'; `$r['formats file'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
`$null = [Management.Automation.Language.Parser]::ParseFile('$bin/NShield.HsmAdmin.psm1', [ref]`$null, [ref]`$null); `$r['parse root module (DSC class)'] = `$t.Elapsed.TotalMilliseconds
(`$r.GetEnumerator() | ForEach-Object { '{0}={1}' -f `$_.Key, `$_.Value }) -join ';'
"@
}
$samples = [ordered]@{}
function Add([string] $k, [double] $v) { if (-not $samples.Contains($k)) { $samples[$k] = [Collections.Generic.List[double]]::new() }; $samples[$k].Add($v) }
$load0 = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3
foreach ($i in 1..$Repetitions) {
    foreach ($k in $scripts.Keys) {
        $out = & $exe @pre -NoProfile -NonInteractive -c $scripts[$k]
        if ($k -eq 'steps') { foreach ($p in ($out -split ';')) { $kv = $p -split '='; Add "step: $($kv[0])" ([double]$kv[1]) } }
        else { Add $k ([double]$out) }
    }
}
$load1 = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3
"Import-Module cost, $Repetitions fresh pwsh each, load average $($load0 -join ' ') at start, $($load1 -join ' ') at end"
''
'| measured inside the child | median ms | min–max |'
'|---|---:|---:|'
foreach ($k in $samples.Keys) {
    $v = @($samples[$k] | Sort-Object); $n = $v.Count
    $med = if ($n % 2) { $v[($n - 1) / 2] } else { ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    '| {0} | {1:n0} | {2:n0}–{3:n0} |' -f $k, $med, $v[0], $v[-1]
}
