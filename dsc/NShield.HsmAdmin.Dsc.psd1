@{
    RootModule           = 'NShield.HsmAdmin.Dsc.psm1'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Desktop', 'Core')
    GUID                 = 'c7a3d51e-2b64-4f0e-8d1a-6e93f0b2a4c8'
    Author               = 'NShield.HsmAdmin engineers'
    CompanyName          = 'NShield.HsmAdmin'
    Copyright            = '(c) NShield.HsmAdmin engineers. All rights reserved.'
    Description          = 'Class-based DSC resource HsmEnrollment: every attached nShield 5s module enrolled with the host, every channel working, client keys no older than a given age.'
    PowerShellVersion    = '5.1'
    # No RequiredModules: in the repository (and shipped) layout this folder sits under the NShield.HsmAdmin
    # module root, which need not be on PSModulePath; the .psm1 imports the sibling manifest, and falls back
    # to NShield.HsmAdmin by name (see the comment at the top of the .psm1).
    DscResourcesToExport = @('HsmEnrollment')
    FunctionsToExport    = @()
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
}
