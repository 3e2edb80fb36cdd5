@{
    # Simulated nShield 5s modules (real OpenSSH sshd endpoints on loopback + our module firmware) for testing
    # runbooks without hardware. A module of its own: the product (NShield.HsmAdmin) never loads it.
    RootModule           = 'bin/simulator/NShield.HsmAdmin.Simulator.psm1'
    # Stamped by build.ps1 from VersionPrefix in Directory.Build.props (the one version source); do not edit here.
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Desktop', 'Core')
    GUID                 = '8e3f6c21-9a4d-4b7e-a1c5-3d2f0e9b7a64'
    Author               = 'NShield.HsmAdmin engineers'
    CompanyName          = 'NShield.HsmAdmin'
    Copyright            = '(c) 2026 NShield.HsmAdmin engineers. MIT License (LICENSE).'
    Description          = 'Simulated nShield 5s HSMs for NShield.HsmAdmin: start, stop, move and fault-inject modules reached over real SSH (or in-process), so runbooks can be written and Pester-tested without hardware.'
    PowerShellVersion    = '5.1'
    FormatsToProcess     = @('formats/NShield.HsmAdmin.Simulator.Format.ps1xml')
    CmdletsToExport      = @(
        'Start-HsmSimulator'
        'Stop-HsmSimulator'
        'Get-HsmSimulator'
        'Add-HsmSimulatedModule'
        'Remove-HsmSimulatedModule'
        'Move-HsmSimulatedModule'
        'Set-HsmSimulatedModule'
        'New-HsmSimulatedFirmwarePackage'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('nShield', 'HSM', 'SSH', 'Simulator', 'Testing', 'Windows', 'Linux', 'PSEdition_Core', 'PSEdition_Desktop')
            # No public project, licence or help URL exists, so ProjectUri, LicenseUri and IconUri are absent rather than
            # made up (an empty one stops Publish-PSResource); the MIT licence ships as LICENSE in the module folder.
            # build.ps1 package puts this version's section of CHANGELOG.md here.
            ReleaseNotes = ''
        }
    }
}
