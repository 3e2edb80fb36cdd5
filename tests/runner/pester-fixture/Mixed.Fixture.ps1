# A fixture for pester/Runner.Tests.ps1, never part of the real suite (not named *.Tests.ps1, not under pester/):
# one passing, one failing, one skipped test.
Describe 'Runner fixture' {
    It 'passes' { 1 | Should -Be 1 }
    It 'fails' { 1 | Should -Be 2 -Because 'it fails on purpose (runner fixture)' }
    It 'is skipped' -Skip { throw 'never runs' }
}
