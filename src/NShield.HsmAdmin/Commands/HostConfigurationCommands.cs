using System.Management.Automation;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Get-HsmHostConfiguration: the host's settings, with the defaults that apply where none is set.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmHostConfiguration")]
    [OutputType(typeof(HsmHostConfigurationInfo))]
    public sealed class GetHsmHostConfigurationCommand : HsmCmdlet
    {
        protected override void EndProcessing() => Run(new GetHostConfigurationOperation(), new HostRequest());
    }

    /// <summary>Set-HsmHostConfiguration: where the factory credential is, and how the hardserver is restarted and found.</summary>
    [Cmdlet(VerbsCommon.Set, "HsmHostConfiguration", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(HsmHostConfigurationInfo))]
    public sealed class SetHsmHostConfigurationCommand : HsmCmdlet, IChangesHost
    {
        /// <summary>The vendor's factory sshadmin credential (OpenSSH private key file). Empty: back to the default.</summary>
        [Parameter] [AllowEmptyString] public string? FactoryCredentialPath { get; set; }
        /// <summary>Program that restarts the hardserver (Linux default /opt/nfast/sbin/init.d-ncipher). Empty: default.</summary>
        [Parameter] [AllowEmptyString] public string? HardserverRestartCommand { get; set; }
        /// <summary>Arguments of the restart program (default "restart").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverRestartArguments { get; set; }
        /// <summary>Windows service restarted (default "nFast Server").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverServiceName { get; set; }
        /// <summary>File holding the hardserver's process id (default: found by process name).</summary>
        [Parameter] [AllowEmptyString] public string? HardserverPidFile { get; set; }
        /// <summary>The hardserver's process name (default "hardserver").</summary>
        [Parameter] [AllowEmptyString] public string? HardserverProcessName { get; set; }
        /// <summary>
        /// The machine folder (each store's own global nonce G, under stores/): default /etc/opt/nfast/hsmadmin or
        /// %ProgramData%\nCipher\hsmadmin-machine. Empty: back to the default. Keys protected with G before the change no
        /// longer open.
        /// </summary>
        [Parameter] [AllowEmptyString] public string? MachineFolder { get; set; }
        /// <summary>Also send every audit entry to the system log through this Unix socket (/dev/log). Empty: off. Linux.</summary>
        [Parameter] [AllowEmptyString] public string? AuditSyslogSocket { get; set; }
        [Parameter] public SwitchParameter PassThru { get; set; }

        protected override void EndProcessing() => Run(new SetHostConfigurationOperation(), new SetHostConfigurationRequest
        {
            FactoryCredentialPath = PathOrEmpty(FactoryCredentialPath),
            HardserverRestartCommand = PathOrEmpty(HardserverRestartCommand),
            HardserverRestartArguments = HardserverRestartArguments,
            HardserverServiceName = HardserverServiceName,
            HardserverPidFile = PathOrEmpty(HardserverPidFile),
            HardserverProcessName = HardserverProcessName,
            MachineFolder = PathOrEmpty(MachineFolder),
            AuditSyslogSocket = PathOrEmpty(AuditSyslogSocket),
            PassThru = PassThru,
        });

        /// <summary>A path resolved against the PowerShell location; null (not given) and blank (the default) as they are.</summary>
        private string? PathOrEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? value : ResolvePath(value!.Trim());
    }

    /// <summary>Get-HsmHardserver: whether the hardserver runs, since when, and whether it loaded the current ncoreapi key.</summary>
    [Cmdlet(VerbsCommon.Get, "HsmHardserver")]
    [OutputType(typeof(HsmHardserverInfo))]
    public sealed class GetHsmHardserverCommand : HsmCmdlet
    {
        protected override void EndProcessing() => Run(new GetHardserverOperation(), new HostRequest());
    }
}
