using NShield.HsmAdmin.Protection;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protection
{
    public class ProtectionSpecTests
    {
        [Theory]
        [InlineData("KFG", "KFG")]
        [InlineData("gfk", "KFG")]
        [InlineData("PBSGFK", "KFSBGP")]
        [InlineData("p", "P")]
        [InlineData("", "none")]
        [InlineData("none", "none")]
        [InlineData(" NONE ", "none")]
        public void Parses_any_order_and_case_and_prints_canonically(string text, string canonical)
        {
            Assert.Equal(canonical, ProtectionSpec.Parse(text).ToString());
        }

        [Theory]
        [InlineData("KFX", "'X' is not a protection input")]
        [InlineData("KK", "'K' appears more than once")]
        [InlineData("kK", "'K' appears more than once")]
        [InlineData("K F", "' ' is not a protection input")]
        public void Refuses_unknown_letters_and_duplicates(string text, string why)
        {
            var e = Assert.Throws<HsmException>(() => ProtectionSpec.Parse(text));
            Assert.Equal(HsmErrorIds.InvalidProtection, e.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidArgument, e.Kind);
            Assert.Contains(why, e.Message);
        }

        [Fact]
        public void Default_is_KFG_and_machine_bound()
        {
            Assert.Equal("KFG", ProtectionSpec.Default.ToString());
            Assert.True(ProtectionSpec.Default.IsMachineBound);
            Assert.False(ProtectionSpec.Parse("KFP").IsMachineBound);
            Assert.True(ProtectionSpec.None.IsNone);
            Assert.Equal(ProtectionSpec.Parse("gkf"), ProtectionSpec.Default);
        }
    }
}
