using System.Management.Automation;
using NShield.HsmAdmin.Operations;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Test-HsmEnrollment: whether the host is in the state the HsmEnrollment DSC resource keeps (every attached module
    /// enrolled, every channel working, client keys younger than a maximum age, the hardserver on the current key), and
    /// why not. Reads only.
    /// </summary>
    [Cmdlet(VerbsDiagnostic.Test, "HsmEnrollment")]
    [OutputType(typeof(HsmEnrollmentState))]
    public sealed class TestHsmEnrollmentCommand : HsmParallelCmdlet
    {
        /// <summary>Client keys older than this many days are due for a roll (0, the default: no maximum).</summary>
        [Parameter]
        [ValidateRange(0, 36500)]
        public int MaxClientKeyAgeDays { get; set; }

        /// <summary>The hardserver must run with the current ncoreapi key.</summary>
        [Parameter]
        public SwitchParameter RestartHardserver { get; set; }

        protected override void ProcessRecord() => Run(new TestEnrollmentOperation(), new EnrollmentStateRequest
        {
            MaxClientKeyAgeDays = MaxClientKeyAgeDays, RestartHardserver = RestartHardserver, ThrottleLimit = ThrottleLimit,
        });
    }
}
