#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Cost of one audit-log append (HostStore.AppendAudit) against the size of the store's audit.log, for one built tree.
.DESCRIPTION
    Found by the side-by-side run of issue 20 (results/2026-12-07-issue20-side-by-side.md): since the audit head (issue 23
    item 6) an append reads the whole audit.log twice and writes audit-head.json durably, so its cost grows with the log.
    For each -SizesMB, a fresh store in a temporary folder gets a log of that size (copies of one real entry; the head is
    dropped so the first append records it), one warm-up append, then -Appends timed appends: wall and CPU per append.
    -ModuleRoot: a built tree (default: this one); run it on two trees to compare revisions. Writes only in the temp folder.
.EXAMPLE
    dotnet pwsh ./bench/Measure-AuditAppend.ps1 -ModuleRoot /tmp/baseline-tree
#>
param([string] $ModuleRoot = (Split-Path $PSScriptRoot), [int[]] $SizesMB = @(0, 1, 10), [int] $Appends = 20)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $ModuleRoot 'NShield.HsmAdmin.psd1')
$cmdlets = (Get-Command Invoke-HsmEnroll).ImplementingType.Assembly
$engine = [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).LoadFromAssemblyName(
    ($cmdlets.GetReferencedAssemblies() | Where-Object Name -eq 'NShield.HsmAdmin.Engine'))
$storeType = $engine.GetType('NShield.HsmAdmin.Store.HostStore'); $entryType = $engine.GetType('NShield.HsmAdmin.Store.AuditEntry')
$work = Join-Path ([IO.Path]::GetTempPath()) ("nshield-audit-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$env:NSHIELD_HSMADMIN_MACHINE_DIR = Join-Path $work 'machine'
function Cpu { $p = [Diagnostics.Process]::GetCurrentProcess(); $p.Refresh(); $p.TotalProcessorTime.TotalMilliseconds }
try {
    foreach ($mb in $SizesMB) {
        $dir = Join-Path $work "s$mb"; New-Item -ItemType Directory -Force $dir | Out-Null
        $store = $storeType::Open($dir)
        $e = [Activator]::CreateInstance($entryType); $e.Operation = 'bench.first'; $null = $store.AppendAudit($e)
        if ($mb -gt 0) {
            $line = [IO.File]::ReadAllText($store.AuditLogPath).TrimEnd("`n")
            $sb = [Text.StringBuilder]::new(); $target = $mb * 1MB
            while ($sb.Length -lt $target) { $null = $sb.Append($line).Append("`n") }
            [IO.File]::WriteAllText($store.AuditLogPath, $sb.ToString())
            $headPath = Join-Path $dir 'audit-head.json'; if (Test-Path $headPath) { Remove-Item $headPath }
        }
        $e = [Activator]::CreateInstance($entryType); $e.Operation = 'bench.warm'; $null = $store.AppendAudit($e)
        $c0 = Cpu; $sw = [Diagnostics.Stopwatch]::StartNew()
        foreach ($i in 1..$Appends) { $e = [Activator]::CreateInstance($entryType); $e.Operation = 'bench.append'; $null = $store.AppendAudit($e) }
        $sw.Stop(); $c1 = Cpu
        '{0,3} MB log: {1,8:n2} ms wall, {2,8:n2} ms CPU per append (n={3})' -f $mb, ($sw.Elapsed.TotalMilliseconds / $Appends), (($c1 - $c0) / $Appends), $Appends
    }
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
