#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Where Import-Module NShield.HsmAdmin spends its time, measured inside fresh child pwsh processes (so process start and
    machine load between runs do not enter the numbers): the whole import, the same import after the session's first
    formatted output (which builds the session's type and format tables), the import of an empty manifest module (what
    any module costs in this pwsh: its import code is JIT-compiled on first use), and the steps of the root module one
    by one. Beside each wall time, the child's CPU time (all threads; the numbers to trust on a shared machine).
.EXAMPLE
    dotnet pwsh ./bench/Measure-ImportCost.ps1 -Repetitions 8     # after ./build.ps1 build
#>
param([int] $Repetitions = 8)
$ErrorActionPreference = 'Stop'
$empty = Join-Path ([IO.Path]::GetTempPath()) ("nshield-import-empty-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory $empty | Out-Null
Set-Content (Join-Path $empty 'Empty.psm1') '$null = 1'
Set-Content (Join-Path $empty 'Empty.psd1') "@{ RootModule = 'Empty.psm1'; ModuleVersion = '1.0'; GUID = '$([guid]::NewGuid())'; FunctionsToExport = @(); CmdletsToExport = @() }"
$repo = Split-Path $PSScriptRoot
$manifest = Join-Path $repo 'NShield.HsmAdmin.psd1'
$bin = Join-Path $repo 'bin'
$pwshDll = Join-Path $PSHOME 'pwsh.dll'
$launcher = if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $pwshDll)) { @('dotnet', $pwshDll) } else { @((Join-Path $PSHOME 'pwsh')) }
$exe = $launcher[0]; $pre = @($launcher | Select-Object -Skip 1)
# Wall time and this process's CPU time (all threads) of the step, printed as "wall;cpu".
$cpu = '$p = [Diagnostics.Process]::GetCurrentProcess(); $c0 = $p.TotalProcessorTime.TotalMilliseconds'
$done = '$w = $sw.Elapsed.TotalMilliseconds; $p.Refresh(); "$w;$($p.TotalProcessorTime.TotalMilliseconds - $c0)"'
$scripts = [ordered]@{
    'Import-Module (whole)' = "$cpu; `$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$manifest'; $done"
    'Import-Module after a first formatted output' = "`$null = Get-Item / | Out-String; $cpu; `$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$manifest'; $done"
    'first formatted output (type and format tables), no module' = "$cpu; `$sw = [Diagnostics.Stopwatch]::StartNew(); `$null = Get-Item / | Out-String; $done"
    'Import-Module of an empty manifest module (floor)' = "$cpu; `$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$empty/Empty.psd1'; $done"
    'steps' = @"
`$t = [Diagnostics.Stopwatch]::StartNew(); `$r = [ordered]@{}
`$null = [Reflection.Assembly]::LoadFrom('$bin/loader/Core/NShield.HsmAdmin.Loader.dll'); `$r['loader assembly'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
`$a = [NShield.HsmAdmin.Loader.ModuleLoader]::Load('$bin/deps'); `$r['isolated load context + cmdlet assembly'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
`$null = Import-Module -Assembly `$a; `$r['Import-Module -Assembly (cmdlet discovery)'] = `$t.Elapsed.TotalMilliseconds; `$t.Restart()
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
        else { $wc = "$out" -split ';'; Add $k ([double]$wc[0]); Add "cpu: $k" ([double]$wc[1]) }
    }
}
$load1 = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3
Remove-Item $empty -Recurse -Force -ErrorAction SilentlyContinue
"Import-Module cost, $Repetitions fresh pwsh each, load average $($load0 -join ' ') at start, $($load1 -join ' ') at end"
''
function Stat([string] $k) {
    if (-not $samples.Contains($k)) { return '' }
    $v = @($samples[$k] | Sort-Object); $n = $v.Count
    $med = if ($n % 2) { $v[($n - 1) / 2] } else { ($v[$n / 2 - 1] + $v[$n / 2]) / 2 }
    '{0:n0} ({1:n0}–{2:n0})' -f $med, $v[0], $v[-1]
}
'| measured inside the child | wall ms, median (min–max) | CPU ms, median (min–max) |'
'|---|---:|---:|'
foreach ($k in $samples.Keys | Where-Object { $_ -notlike 'cpu: *' }) { '| {0} | {1} | {2} |' -f $k, (Stat $k), (Stat "cpu: $k") }
