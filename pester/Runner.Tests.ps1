# Issue 13: the test runner's own tests. build.ps1 counts both suites with pester/TestRunner.psm1; here the same
# functions run the fixtures in tests/runner/ (outcomes known in advance) in a child pwsh, as build.ps1 does, and
# the closing line (the last line printed) and the exit code are checked. The fixtures are never part of the real
# suites: the xUnit fixture is not in the solution, the Pester fixtures are not named *.Tests.ps1 nor under pester/.
BeforeAll {
    $repo = Split-Path $PSScriptRoot
    $runner = Join-Path $PSScriptRoot 'TestRunner.psm1'
    Import-Module $runner -Force
    $fixture = Join-Path $repo 'tests/runner/xunit-fixture/RunnerFixture.csproj'
    $pesterFixtures = Join-Path $repo 'tests/runner/pester-fixture'
    $work = Join-Path ([IO.Path]::GetTempPath()) "nshield-runner-tests-$PID"
    New-Item -ItemType Directory -Force $work | Out-Null
    # Built once; each case then runs it with --no-build.
    dotnet build $fixture -c Release --nologo -v q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "the runner fixture did not build (exit $LASTEXITCODE)" }
    $script:n = 0

    # Runs the given suites in a child pwsh the way build.ps1 does: Complete-TestRun prints, its value is the exit code.
    function Invoke-Case([string] $suites) {
        $script:n++
        $command = "Import-Module '$runner'; `$ErrorActionPreference = 'Stop'; `$d = '$work/$script:n'; exit (Complete-TestRun @($suites))"
        $lines = @(Invoke-ChildPwsh -Command $command 2>&1 | ForEach-Object { "$_" } | Where-Object { $_.Trim() })
        [pscustomobject]@{ Lines = $lines; Last = $lines[-1]; ExitCode = $LASTEXITCODE; Text = $lines -join "`n" }
    }
    function XUnitCase([string] $filter) { "(Invoke-XUnitRun -Project '$fixture' -NoBuild -ResultsDirectory `"`$d/x`" -Filter '$filter')" }
    function PesterCase([string] $file, [string] $filter) {
        "(Invoke-PesterRun -Path '$(Join-Path $pesterFixtures $file)' -SummaryPath `"`$d/pester.json`" -Filter '$filter')"
    }
}
AfterAll { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'Closing line and exit code, xUnit' {
    It 'passes a run whose tests all pass' {
        $r = Invoke-Case (XUnitCase 'FullyQualifiedName=RunnerFixture.Mixed.Passes')
        $r.Last | Should -BeExactly '1 passed, 0 failed'
        $r.ExitCode | Should -Be 0
    }
    It 'counts a failing test and shows a skipped one' {
        $r = Invoke-Case (XUnitCase 'FullyQualifiedName~Mixed')
        $r.Last | Should -BeExactly '1 passed, 1 failed, 1 skipped'
        $r.ExitCode | Should -Not -Be 0
    }
    It 'counts a crashed test host as a failure and says so' {
        $r = Invoke-Case (XUnitCase 'FullyQualifiedName~Crash')
        $r.Last | Should -BeExactly '0 passed, 1 failed'
        $r.ExitCode | Should -Not -Be 0
        $r.Text | Should -Match 'FAILED RUN: xUnit: .*(crashed|aborted)'
    }
    It 'fails a run that finds no test, with the reason' {
        $r = Invoke-Case (XUnitCase 'FullyQualifiedName~NoSuchTest')
        $r.Last | Should -BeExactly '0 passed, 1 failed'
        $r.ExitCode | Should -Not -Be 0
        $r.Text | Should -Match 'FAILED RUN: xUnit: no tests found'
    }
}

Describe 'Closing line and exit code, Pester' {
    It 'counts a failing test and shows a skipped one' {
        $r = Invoke-Case (PesterCase 'Mixed.Fixture.ps1')
        $r.Last | Should -BeExactly '1 passed, 1 failed, 1 skipped'
        $r.ExitCode | Should -Not -Be 0
    }
    It 'fails a run that finds no test, with the reason' {
        $r = Invoke-Case (PesterCase 'Empty.Fixture.ps1')
        $r.Last | Should -BeExactly '0 passed, 1 failed'
        $r.ExitCode | Should -Not -Be 0
        $r.Text | Should -Match 'FAILED RUN: Pester: no tests found'
    }
    It 'adds both suites and does not count tests a filter left out as skipped' {
        $r = Invoke-Case "$(XUnitCase 'FullyQualifiedName=RunnerFixture.Mixed.Passes'), $(PesterCase 'Mixed.Fixture.ps1' 'Runner fixture.passes')"
        $r.Last | Should -BeExactly '2 passed, 0 failed'
        $r.ExitCode | Should -Be 0
        $r.Text | Should -Match 'xUnit: 1 passed, 0 failed; Pester: 1 passed, 0 failed'
    }
}

Describe 'Counting what a broken run leaves behind' {
    It 'counts a TRX of passed tests from a run that then crashed as failed' {
        $dir = Join-Path $work 'crashed-trx'
        New-Item -ItemType Directory -Force $dir | Out-Null
        # What vstest writes when the host dies after two tests passed: results, outcome Failed, no failed test.
        Set-Content (Join-Path $dir 'results.trx') @'
<?xml version="1.0" encoding="utf-8"?>
<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results>
    <UnitTestResult testName="A.One" outcome="Passed" />
    <UnitTestResult testName="A.Two" outcome="Passed" />
  </Results>
  <ResultSummary outcome="Failed">
    <Counters total="2" executed="2" passed="2" failed="0" error="0" />
    <RunInfos><RunInfo outcome="Error"><Text>The active test run was aborted. Reason: Test host process crashed : Process terminated.
more detail</Text></RunInfo></RunInfos>
  </ResultSummary>
</TestRun>
'@
        $x = Read-XUnitResult -ResultsDirectory $dir -ExitCode 1
        $x.Passed | Should -Be 2
        $x.Failed | Should -Be 1
        $x.Reasons | Should -Contain 'xUnit: The active test run was aborted. Reason: Test host process crashed : Process terminated.'
        $x.Reasons | Should -Contain 'xUnit: dotnet test exited 1 with no failed test counted'
    }
    It 'counts a missing TRX as a failure' {
        $x = Read-XUnitResult -ResultsDirectory (Join-Path $work 'no-such-dir') -ExitCode 1
        $x.Failed | Should -Be 1
        $x.Reasons | Should -Match 'no TRX'
    }
    It 'counts a Pester run that wrote no summary as a failure' {
        $p = Read-PesterResult -SummaryPath (Join-Path $work 'no-summary.json') -ExitCode 1
        $p.Failed | Should -Be 1
        $p.Reasons | Should -Match 'no summary'
    }
    It 'counts a non-zero Pester exit with no failed test as a failure' {
        $path = Join-Path $work 'exit.json'
        @{ Passed = 3; Failed = 0 } | ConvertTo-Json | Set-Content $path
        $p = Read-PesterResult -SummaryPath $path -ExitCode 1
        Format-TestCounts $p.Passed $p.Failed $p.Skipped | Should -BeExactly '3 passed, 1 failed'
    }
}
