# A fixture for pester/Runner.Tests.ps1: a suite that finds no test at all.
Describe 'Runner fixture with no tests' {
}
