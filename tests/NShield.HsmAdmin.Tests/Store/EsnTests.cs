using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Store;
using Xunit;

namespace NShield.HsmAdmin.Tests.Store
{
    public class EsnTests
    {
        [Theory]
        [InlineData("8A2C-91F3-0D4E", "8A2C-91F3-0D4E")]
        [InlineData(" 8a2c-91f3-0d4e ", "8A2C-91F3-0D4E")]
        public void Parses_and_canonicalises(string text, string esn) => Assert.Equal(esn, Esn.Parse(text));

        [Theory]
        [InlineData("")]
        [InlineData(null)]
        [InlineData("8A2C91F30D4E")]
        [InlineData("8A2C-91F3-0D4G")]
        [InlineData("8A2C-91F3-0D4E-0000")]
        [InlineData("8A2C-91F3")]
        [InlineData("../../etc")]
        public void Refuses_anything_else_showing_the_expected_form(string? text)
        {
            var e = Assert.Throws<HsmException>(() => Esn.Parse(text));
            Assert.Equal(HsmErrorIds.InvalidEsn, e.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidArgument, e.Kind);
            Assert.Contains("8A2C-91F3-0D4E", e.Message);
        }
    }
}
