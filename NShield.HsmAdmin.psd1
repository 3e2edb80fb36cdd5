@{
    # The loader: imports bin/deps/NShield.HsmAdmin.dll (the cmdlets) with its dependencies in isolation.
    RootModule           = 'bin/NShield.HsmAdmin.psm1'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Desktop', 'Core')
    GUID                 = '5b0d8f47-3f0c-4f7e-9f8e-2a7c1d9b6e41'
    Author               = 'NShield.HsmAdmin engineers'
    CompanyName          = 'NShield.HsmAdmin'
    Copyright            = '(c) NShield.HsmAdmin engineers. All rights reserved.'
    Description          = 'Sets up and keeps the SSH trust between a host and its nShield 5s HSMs: enroll, show, roll, back up, restore, migrate, factory state, hardserver restart. Simulated modules for testing runbooks without hardware are in the separate NShield.HsmAdmin.Simulator module.'
    PowerShellVersion    = '5.1'
    FormatsToProcess     = @('formats/NShield.HsmAdmin.Format.ps1xml')
    TypesToProcess       = @('formats/NShield.HsmAdmin.Types.ps1xml')
    CmdletsToExport      = @(
        'Invoke-HsmEnroll'
        'Get-HsmSshKey'
        'Get-HsmModule'
        'Test-HsmConnection'
        'Update-HsmSshKey'
        'Backup-HsmSshKey'
        'Restore-HsmSshKey'
        'Move-HsmModule'
        'Reset-HsmModule'
        'Restart-HsmHardserver'
        'Get-HsmTrustedRoot'
        'Add-HsmTrustedRoot'
        'Remove-HsmTrustedRoot'
        'Register-HsmModule'
        'Unregister-HsmModule'
        'Get-HsmHostConfiguration'
        'Set-HsmHostConfiguration'
        'Get-HsmHardserver'
        'Test-HsmAuditLog'
        'Update-HsmServerKeyPin'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('nShield', 'HSM', 'SSH', 'Entrust', 'Security')
            ProjectUri = ''
        }
    }
}
