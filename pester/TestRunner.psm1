<#
    How build.ps1 runs the two suites and turns what they leave behind into one closing line. Shared with
    pester/Runner.Tests.ps1, which points the same functions at the fixtures in tests/runner/.

    Each suite yields one result: Suite, Passed, Failed, Skipped, Reasons. A Reason is a failure of the run
    itself rather than of a test (the test host crashed, no TRX or summary, no test found, a non-zero exit with
    no failed test counted): a suite with any Reason counts one extra failure, and each Reason is printed.
    The closing line is "N passed, N failed" (", N skipped" when any were skipped) and is the last line printed.
#>
Set-StrictMode -Version 3.0

# The pwsh running this: as a dotnet tool the process is dotnet, so start pwsh.dll through it.
function Invoke-ChildPwsh {
    $dll = Join-Path $PSHOME 'pwsh.dll'
    $exe = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    if ((Get-Process -Id $PID).ProcessName -eq 'dotnet' -and (Test-Path $dll)) { & dotnet $dll -NoProfile -NonInteractive @args }
    else { & $exe -NoProfile -NonInteractive @args }
}

function New-SuiteResult([string] $Suite, [int] $Passed = 0, [int] $Failed = 0, [int] $Skipped = 0, [string[]] $Reasons = @()) {
    [pscustomobject]@{ Suite = $Suite; Passed = $Passed; Failed = $Failed; Skipped = $Skipped; Reasons = @($Reasons) }
}

# A run-level failure counts once per suite, whatever the number of reasons.
function Add-RunFailure($result) {
    if ($result.Reasons.Count -gt 0) { $result.Failed++ }
    $result
}

<#
.SYNOPSIS
    Counts a dotnet test run from its TRX file and exit code.
.DESCRIPTION
    Counts each UnitTestResult by outcome (Passed; Failed/Error/Timeout/Aborted = failed; NotExecuted,
    Inconclusive and the rest = skipped). The run itself failed when: no TRX was written; the TRX says the run
    was aborted or the test host crashed; dotnet test exited non-zero with no failed test counted; or it found
    no test at all.
#>
function Read-XUnitResult {
    param([Parameter(Mandatory)][string] $ResultsDirectory, [Parameter(Mandatory)][int] $ExitCode, [string] $Suite = 'xUnit')
    $reasons = [Collections.Generic.List[string]]::new()
    $trx = if (Test-Path $ResultsDirectory) { Get-ChildItem $ResultsDirectory -Filter *.trx -Recurse | Select-Object -First 1 }
    if (-not $trx) {
        $reasons.Add("$($Suite): no TRX results file in $ResultsDirectory (dotnet test exited $ExitCode): the run did not complete")
        return Add-RunFailure (New-SuiteResult $Suite -Reasons $reasons)
    }
    $run = ([xml](Get-Content $trx.FullName -Raw)).TestRun
    $passed = 0; $failed = 0; $skipped = 0
    $results = @(if ($run.PSObject.Properties['Results'] -and $run.Results) { $run.Results.ChildNodes | Where-Object { $_.LocalName -eq 'UnitTestResult' } })
    foreach ($r in $results) {
        switch ($r.outcome) {
            'Passed' { $passed++ }
            { $_ -in 'Failed', 'Error', 'Timeout', 'Aborted' } { $failed++ }
            default { $skipped++ }
        }
    }
    $summary = $run.ResultSummary
    if ($summary.outcome -in 'Aborted', 'Error', 'Timeout') { $reasons.Add("$($Suite): the test run's outcome is $($summary.outcome)") }
    if ($summary.PSObject.Properties['RunInfos'] -and $summary.RunInfos) {
        foreach ($info in @($summary.RunInfos.ChildNodes)) {
            $text = "$($info.InnerText)".Trim()
            if ($text -match 'test run was aborted|[Tt]est host process crashed') { $reasons.Add("$($Suite): " + ($text -split "`r?`n")[0]) }
        }
    }
    if ($ExitCode -ne 0 -and $failed -eq 0) { $reasons.Add("$($Suite): dotnet test exited $ExitCode with no failed test counted") }
    # Only when the run otherwise completed: a crash before the first result is reported as the crash.
    if ($passed + $failed + $skipped -eq 0 -and $reasons.Count -eq 0) { $reasons.Add("$($Suite): no tests found (an empty suite, or a filter that matches nothing)") }
    Add-RunFailure (New-SuiteResult $Suite $passed $failed $skipped $reasons)
}

<#
.SYNOPSIS
    Runs one xUnit test project with dotnet test and counts it (Read-XUnitResult).
.PARAMETER Filter
    dotnet test's --filter syntax, e.g. 'FullyQualifiedName~HostStore' or 'Name=Passes|Category=Slow'.
#>
function Invoke-XUnitRun {
    param(
        [Parameter(Mandatory)][string] $Project,
        [Parameter(Mandatory)][string] $ResultsDirectory,
        [string] $Filter,
        [switch] $NoBuild,
        [string] $Suite = 'xUnit'
    )
    if (Test-Path $ResultsDirectory) { Remove-Item $ResultsDirectory -Recurse -Force }
    $a = @($Project, '-c', 'Release', '--nologo', '--logger', 'trx;LogFileName=results.trx',
        '--logger', 'console;verbosity=minimal', '--results-directory', $ResultsDirectory)
    if ($NoBuild) { $a += '--no-build' }
    if ($Filter) { $a += @('--filter', $Filter) }
    dotnet test @a | Out-Host
    Read-XUnitResult -ResultsDirectory $ResultsDirectory -ExitCode $LASTEXITCODE -Suite $Suite
}

<#
.SYNOPSIS
    Counts a Pester run from the summary pester/Invoke-PesterSuite.ps1 wrote and the child's exit code.
.DESCRIPTION
    Skipped = skipped + inconclusive, plus not-run when no filter was given (a filter marks every test it
    leaves out as not run). The run itself failed when: no summary was written; the child exited non-zero with
    no failed test counted; or no test was found.
#>
function Read-PesterResult {
    param([Parameter(Mandatory)][string] $SummaryPath, [Parameter(Mandatory)][int] $ExitCode, [switch] $Filtered, [string] $Suite = 'Pester')
    $reasons = [Collections.Generic.List[string]]::new()
    if (-not (Test-Path $SummaryPath)) {
        $reasons.Add("$($Suite): no summary at $SummaryPath (the Pester child exited $ExitCode): the run did not complete")
        return Add-RunFailure (New-SuiteResult $Suite -Reasons $reasons)
    }
    $s = Get-Content $SummaryPath -Raw | ConvertFrom-Json
    $count = { param($name) if ($s.PSObject.Properties[$name]) { [int]$s.$name } else { 0 } }
    $passed = & $count 'Passed'
    $failed = (& $count 'Failed') + (& $count 'FailedBlocks') + (& $count 'FailedContainers')
    $skipped = (& $count 'Skipped') + (& $count 'Inconclusive') + $(if ($Filtered) { 0 } else { & $count 'NotRun' })
    if ($ExitCode -ne 0 -and $failed -eq 0) { $reasons.Add("$($Suite): the Pester run exited $ExitCode with no failed test counted") }
    # Only when the run otherwise completed: a crash before the first result is reported as the crash.
    if ($passed + $failed + $skipped -eq 0 -and $reasons.Count -eq 0) { $reasons.Add("$($Suite): no tests found (an empty suite, or a filter that matches nothing)") }
    Add-RunFailure (New-SuiteResult $Suite $passed $failed $skipped $reasons)
}

<#
.SYNOPSIS
    Runs pester/Invoke-PesterSuite.ps1 in a child pwsh (the module never loads into this session) and counts it.
.PARAMETER Path
    Test files or folders; default: the pester/ folder (the real suite).
.PARAMETER Filter
    A Pester FullName wildcard, e.g. '*Hygiene*' or 'Errors.*'.
#>
function Invoke-PesterRun {
    param(
        [Parameter(Mandatory)][string] $SummaryPath,
        [string[]] $Path,
        [string] $Filter,
        [string] $Suite = 'Pester'
    )
    New-Item -ItemType Directory -Force (Split-Path $SummaryPath) | Out-Null
    if (Test-Path $SummaryPath) { Remove-Item $SummaryPath }
    $a = @('-File', (Join-Path $PSScriptRoot 'Invoke-PesterSuite.ps1'), '-SummaryPath', $SummaryPath)
    if ($Path) { $a += @('-Path', ($Path -join [IO.Path]::PathSeparator)) }
    if ($Filter) { $a += @('-Filter', $Filter) }
    Invoke-ChildPwsh @a | Out-Host
    Read-PesterResult -SummaryPath $SummaryPath -ExitCode $LASTEXITCODE -Filtered:([bool]$Filter) -Suite $Suite
}

<#
.SYNOPSIS
    Prints each suite's counts and reasons, then the closing line (last); returns the exit code (0 or 1).
#>
function Complete-TestRun {
    param([Parameter(Mandatory)][object[]] $Results)
    foreach ($r in $Results) {
        foreach ($reason in $r.Reasons) { Write-Host "FAILED RUN: $reason" }
    }
    if ($Results.Count -gt 1) {
        Write-Host (($Results | ForEach-Object { "$($_.Suite): $(Format-TestCounts $_.Passed $_.Failed $_.Skipped)" }) -join '; ')
    }
    $passed = ($Results | Measure-Object Passed -Sum).Sum
    $failed = ($Results | Measure-Object Failed -Sum).Sum
    $skipped = ($Results | Measure-Object Skipped -Sum).Sum
    # The closing line goes to the host last, so nothing a caller pipes can follow it.
    Write-Host (Format-TestCounts $passed $failed $skipped)
    [int]($failed -gt 0 -or $passed -eq 0)
}

function Format-TestCounts([int] $Passed, [int] $Failed, [int] $Skipped) {
    "$Passed passed, $Failed failed" + $(if ($Skipped -gt 0) { ", $Skipped skipped" } else { '' })
}

<#
    Tests never write this machine's own machine folder (the global nonces of G keys): every test store gets one of its
    own (the simulator sets it; a test that builds a host by hand sets Set-HsmHostConfiguration -MachineFolder). The
    product has no other way to move it (issue 20), so each run compares the default folder before and after:
    Get-MachineFolderState before, Test-MachineFolderWritten after (a reason string when the run wrote it, else $null).
    A folder the run created is removed again (only what it created, parents only when empty); one that existed is left.
#>
function Get-MachineFolderState {
    $path = if ($IsWindows) { Join-Path $env:ProgramData 'nCipher/hsmadmin-machine' } else { '/etc/opt/nfast/hsmadmin' }
    $top = $path
    while (-not (Test-Path -LiteralPath $path) -and -not (Test-Path -LiteralPath (Split-Path $top))) { $top = Split-Path $top }
    [pscustomobject]@{ Path = $path; Top = $top; Existed = (Test-Path -LiteralPath $path); Listing = (Get-MachineFolderListing $path) }
}

function Get-MachineFolderListing([string] $Path) {
    if (-not (Test-Path -LiteralPath $Path)) { return '' }
    (@(Get-ChildItem -LiteralPath $Path -Recurse -Force -ErrorAction SilentlyContinue |
        ForEach-Object { "$($_.FullName) $($_.LastWriteTimeUtc.Ticks)" }) | Sort-Object) -join "`n"
}

function Test-MachineFolderWritten([Parameter(Mandatory)] $Before, [string] $What = 'this run') {
    if ($Before.Existed) {
        if ((Get-MachineFolderListing $Before.Path) -eq $Before.Listing) { return $null }
        return "$What wrote into this machine's machine folder $($Before.Path) (a test store without a MachineFolder of its own)"
    }
    if (-not (Test-Path -LiteralPath $Before.Path)) { return $null }
    Remove-Item -LiteralPath $Before.Path -Recurse -Force -ErrorAction SilentlyContinue
    for ($up = Split-Path $Before.Path; $up.Length -ge $Before.Top.Length; $up = Split-Path $up) {
        if (@(Get-ChildItem -LiteralPath $up -Force -ErrorAction SilentlyContinue).Count -gt 0) { break }
        Remove-Item -LiteralPath $up -Force -ErrorAction SilentlyContinue
    }
    "$What created this machine's machine folder $($Before.Path) (a test store without a MachineFolder of its own); removed"
}

Export-ModuleMember -Function Invoke-ChildPwsh, Invoke-XUnitRun, Read-XUnitResult, Invoke-PesterRun, Read-PesterResult, Complete-TestRun, Format-TestCounts,
    Get-MachineFolderState, Test-MachineFolderWritten
