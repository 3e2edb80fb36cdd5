@{
    # The loader: imports bin/deps/NShield.HsmAdmin.dll (the cmdlets) with its dependencies in isolation.
    RootModule           = 'bin/NShield.HsmAdmin.psm1'
    # Stamped by build.ps1 from VersionPrefix in Directory.Build.props (the one version source); do not edit here.
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Desktop', 'Core')
    GUID                 = '5b0d8f47-3f0c-4f7e-9f8e-2a7c1d9b6e41'
    Author               = 'NShield.HsmAdmin engineers'
    CompanyName          = 'NShield.HsmAdmin'
    Copyright            = '(c) 2026 NShield.HsmAdmin engineers. MIT License (LICENSE).'
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
    )
    # The class-based DSC resource is defined in the root module (bin/NShield.HsmAdmin.psm1), where DSC v3's PowerShell
    # adapter and Get-DscResource look for it (docs/dsc.md).
    DscResourcesToExport = @('HsmEnrollment')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('nShield', 'HSM', 'SSH', 'Entrust', 'Security', 'DSC', 'Windows', 'Linux', 'PSEdition_Core', 'PSEdition_Desktop')
            # No public project, licence or help URL exists, so ProjectUri, LicenseUri and IconUri are absent rather than
            # made up (an empty one stops Publish-PSResource); the MIT licence ships as LICENSE in the module folder.
            # build.ps1 package puts this version's section of CHANGELOG.md here.
            ReleaseNotes = ''
        }
    }
}
