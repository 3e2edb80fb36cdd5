using NShield.HsmAdmin.Keys;
using Xunit;

namespace NShield.HsmAdmin.Tests.Keys
{
    public class SshAlgorithmNamesTests
    {
        [Theory]
        [InlineData("Ed25519", SshKeyAlgorithm.Ed25519)]
        [InlineData("ssh-ed25519", SshKeyAlgorithm.Ed25519)]
        [InlineData("ED25519", SshKeyAlgorithm.Ed25519)]
        [InlineData("ECDSA-P256", SshKeyAlgorithm.EcdsaP256)]
        [InlineData("EcdsaP256", SshKeyAlgorithm.EcdsaP256)]
        [InlineData("ecdsa-sha2-nistp256", SshKeyAlgorithm.EcdsaP256)]
        [InlineData("ecdsa-p384", SshKeyAlgorithm.EcdsaP384)]
        [InlineData("ECDSA_P521", SshKeyAlgorithm.EcdsaP521)]
        [InlineData("RSA-3072", SshKeyAlgorithm.Rsa3072)]
        [InlineData("Rsa3072", SshKeyAlgorithm.Rsa3072)]
        [InlineData(" rsa-4096 ", SshKeyAlgorithm.Rsa4096)]
        public void Parses_user_spellings(string input, SshKeyAlgorithm expected) =>
            Assert.Equal(expected, SshAlgorithmNames.Parse(input));

        [Theory]
        [InlineData("ssh-rsa")]
        [InlineData("RSA-2048")]
        [InlineData("dsa")]
        [InlineData("")]
        [InlineData(null)]
        public void Rejects_others_with_invalid_algorithm_listing_valid_names(string? input)
        {
            var ex = Assert.Throws<HsmException>(() => SshAlgorithmNames.Parse(input!));
            Assert.Equal(HsmErrorIds.InvalidAlgorithm, ex.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidArgument, ex.Kind);
            foreach (var n in SshAlgorithmNames.ValidNames) Assert.Contains(n, ex.Message);
        }

        [Fact]
        public void Display_names_round_trip_and_key_types_are_openssh_names()
        {
            foreach (var a in System.Enum.GetValues<SshKeyAlgorithm>())
                Assert.Equal(a, SshAlgorithmNames.Parse(SshAlgorithmNames.ToDisplayName(a)));
            Assert.Equal("ssh-ed25519", SshAlgorithmNames.ToKeyType(SshKeyAlgorithm.Ed25519));
            Assert.Equal("ecdsa-sha2-nistp521", SshAlgorithmNames.ToKeyType(SshKeyAlgorithm.EcdsaP521));
            Assert.Equal("ssh-rsa", SshAlgorithmNames.ToKeyType(SshKeyAlgorithm.Rsa4096));
        }
    }
}
