using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Operations;
using Xunit;

namespace NShield.HsmAdmin.Tests.Operations
{
    /// <summary>The HsmEnrollment DSC resource's compliance decision (issue 20: moved from the loader's psm1 into the engine).</summary>
    public class EnrollmentComplianceTests
    {
        private static HsmEnrollmentState Compliant() => new HsmEnrollmentState
        {
            HostPath = "/h", EnrolledEsns = new[] { "8A2C-91F3-0D4E" }, ChannelsHealthy = true, HardserverKeyCurrent = true,
        };

        private static string[] Codes(HsmEnrollmentState s, int max = 0, bool restart = false) =>
            EnrollmentCompliance.Reasons(s, max, restart).Select(r => r.Code.Substring(EnrollmentCompliance.CodePrefix.Length)).ToArray();

        [Fact]
        public void A_host_with_every_module_enrolled_and_every_channel_working_has_no_reasons() =>
            Assert.Empty(Codes(Compliant(), max: 90, restart: true));

        [Fact]
        public void Each_unmet_condition_is_one_reason_in_a_fixed_order()
        {
            var s = new HsmEnrollmentState
            {
                HostPath = "/h", NotEnrolledEsns = new[] { "B" }, DetachedEsns = new[] { "C" },
                FailingChannels = new[] { "B/setup: AuthenticationFailed" },
                ClientKeysTooOld = new[] { "setup" }, ClientKeysAgeUnknown = new[] { "sshadmin" }, HardserverKeyCurrent = false,
            };
            Assert.Equal(new[] { "NotEnrolled", "Detached", "NoModuleEnrolled", "ChannelFailing", "ClientKeyTooOld", "ClientKeyAgeUnknown",
                "HardserverKeyNotCurrent" }, Codes(s, max: 30, restart: true));
            var reasons = EnrollmentCompliance.Reasons(s, 30, true);
            Assert.All(reasons, r => Assert.StartsWith("HsmEnrollment:HsmEnrollment:", r.Code));
            Assert.Contains("-Forget", reasons[1].Phrase);
            Assert.Contains("older than 30 days: setup", reasons[4].Phrase);
        }

        [Fact]
        public void Untested_channels_of_an_enrolled_host_are_a_reason_even_without_a_failing_one()
        {
            var s = Compliant();
            s.ChannelsHealthy = false;
            Assert.Equal(new[] { "ChannelFailing" }, Codes(s));
            Assert.Equal("the channels could not be tested", EnrollmentCompliance.Reasons(s, 0, false)[0].Phrase);
        }

        [Fact]
        public void Key_age_and_the_hardserver_count_only_when_asked_for()
        {
            var s = Compliant();
            s.ClientKeysTooOld = new[] { "ncoreapi" };
            s.ClientKeysAgeUnknown = new[] { "setup" };
            s.HardserverKeyCurrent = false;
            Assert.Empty(Codes(s, max: 0, restart: false));
            Assert.Equal(new[] { "ClientKeyTooOld", "ClientKeyAgeUnknown", "HardserverKeyNotCurrent" }, Codes(s, max: 1, restart: true));
        }

        [Fact]
        public void Keys_are_due_strictly_past_the_maximum_age_and_none_without_one()
        {
            var ages = new Dictionary<string, double> { ["sshadmin"] = 90.5, ["ncoreapi"] = 90, ["setup"] = 3 };
            Assert.Equal(new[] { "sshadmin" }, EnrollmentCompliance.KeysDue(ages, 90));
            Assert.Equal(new[] { "ncoreapi", "setup", "sshadmin" }, EnrollmentCompliance.KeysDue(ages, 2));
            Assert.Empty(EnrollmentCompliance.KeysDue(ages, 0));
        }

        [Fact]
        public void Compliant_is_exactly_no_reasons()
        {
            var s = Compliant();
            Assert.True(s.Compliant);
            s.Reasons = EnrollmentCompliance.Reasons(new HsmEnrollmentState { HostPath = "/h" }, 0, false);
            Assert.False(s.Compliant);
        }
    }
}
