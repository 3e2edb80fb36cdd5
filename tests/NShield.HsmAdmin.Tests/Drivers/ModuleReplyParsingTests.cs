using System;
using System.Linq;
using System.Text.Json;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Operations;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using Xunit;

namespace NShield.HsmAdmin.Tests.Drivers
{
    /// <summary>Issue 16 (6): every way a module reply can be wrong ends in an HsmException with an id, never an untyped exception.</summary>
    public class ModuleReplyParsingTests
    {
        private const string Esn = "7E57-0000-0002";

        private static HsmException Fails(string line)
        {
            var ex = Record.Exception(() => FirmwareResult.Parse(Esn, "sshadmin", "identity", line, 0));
            Assert.NotNull(ex);
            var h = Assert.IsAssignableFrom<HsmException>(ex);
            Assert.IsNotType<ModuleErrorException>(h);
            Assert.Equal(Esn, h.Target);
            return h;
        }

        [Theory]
        [InlineData("[1,2,3]")]
        [InlineData("\"just a string\"")]
        [InlineData("{\"ok\":true,\"result\":{}}")]                                   // no protocol
        [InlineData("{\"protocol\":\"1\",\"ok\":true,\"result\":{}}")]                // protocol as a string
        [InlineData("{\"protocol\":null,\"ok\":true,\"result\":{}}")]
        [InlineData("{\"protocol\":1,\"ok\":\"yes\",\"result\":{}}")]
        [InlineData("{\"protocol\":1,\"result\":{}}")]
        [InlineData("{\"protocol\":1,\"ok\":true,\"result\":[]}")]
        [InlineData("{\"protocol\":1,\"ok\":true}")]
        [InlineData("{\"protocol\":1,\"ok\":false}")]
        [InlineData("{\"protocol\":1,\"ok\":false,\"error\":\"E_MODE\"}")]
        [InlineData("{\"protocol\":1,\"ok\":false,\"error\":{\"code\":5,\"message\":\"x\"}}")]
        [InlineData("{\"protocol\":1,\"ok\":false,\"error\":{\"message\":\"x\"}}")]
        [InlineData("{\"protocol\":1,\"ok\":false,\"error\":{\"code\":\"E_MODE\",\"message\":[1]}}")]
        [InlineData("{\"protocol\":1,\"ok\":true,\"result\":{\"esn\":")]               // cut off
        public void WronglyShapedRepliesAreProtocolErrors(string line)
        {
            var ex = Fails(line);
            Assert.Equal(HsmErrorIds.ProtocolError, ex.ErrorId);
            Assert.Equal(HsmErrorKind.InvalidData, ex.Kind);
        }

        [Fact]
        public void DeeplyNestedJsonIsAProtocolError()
        {
            Assert.Equal(HsmErrorIds.ProtocolError, Fails(new string('[', 5000) + new string(']', 5000)).ErrorId);
        }

        [Theory]
        [InlineData("2")]
        [InlineData("0")]
        [InlineData("2.0")]
        [InlineData("-1")]
        [InlineData("1e9")]
        public void AnUnknownProtocolMajorVersionIsRefused(string version)
        {
            var ex = Fails("{\"protocol\":" + version + ",\"ok\":true,\"result\":{\"esn\":\"" + Esn + "\"}}");
            Assert.Equal(HsmErrorIds.ProtocolVersionUnsupported, ex.ErrorId);
            Assert.Contains("major version 1", ex.Message);
        }

        [Theory]
        [InlineData("1")]
        [InlineData("1.3")]
        public void ProtocolOneAndItsMinorVersionsAreRead(string version)
        {
            var r = FirmwareResult.Parse(Esn, "sshadmin", "ping", "{\"protocol\":" + version + ",\"ok\":true,\"result\":{\"esn\":\"" + Esn + "\",\"future\":[1]}}", 0);
            Assert.Equal(Esn, r.GetString("esn"));
        }

        [Fact]
        public void AFirmwareErrorStaysAModuleErrorWithItsCode()
        {
            var ex = Assert.Throws<ModuleErrorException>(() => FirmwareResult.Parse(Esn, "sshadmin", "enroll",
                "{\"protocol\":1,\"ok\":false,\"error\":{\"code\":\"E_MODE\",\"message\":\"already enrolled\"}}", 1));
            Assert.Equal("E_MODE", ex.FirmwareCode);
            Assert.Equal(HsmErrorIds.ModuleError, ex.ErrorId);
        }

        // ------------------------------------------------------------------ identity and keys.list

        private static string GoodKey() { using var k = SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "x"); return k.PublicKey.ToAuthorizedKeysLine(); }

        private static HsmException IdentityFails(string resultJson)
        {
            var reply = FirmwareResult.Parse(Esn, "sshadmin", "identity", "{\"protocol\":1,\"ok\":true,\"result\":" + resultJson + "}", 0);
            var ex = Record.Exception(() => FirmwareBodies.ParseIdentity(Esn, reply));
            var h = Assert.IsAssignableFrom<HsmException>(ex);
            Assert.Equal(HsmErrorIds.ProtocolError, h.ErrorId);
            return h;
        }

        public static TheoryData<string> MistypedIdentities()
        {
            var key = GoodKey();
            return new TheoryData<string>
            {
                "{\"esn\":42,\"mode\":\"Operational\",\"serverKeys\":{}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":[\"Operational\"],\"serverKeys\":{}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"enrolled\":\"yes\",\"serverKeys\":{}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\"}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":[1,2]}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":\"" + key + "\"}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":7}}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{}}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"" + key + "\",\"certificate\":{}}}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"identityKey\":7,\"serverKeys\":{}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"warrant\":[],\"serverKeys\":{}}",
                // bad key blobs: not base64, truncated, Ed25519 of 31 bytes, type mismatch
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"identityKey\":\"ssh-ed25519 !!!notbase64\",\"serverKeys\":{}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\"}}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"ssh-ed25519 " +
                    Convert.ToBase64String(Blob("ssh-ed25519", new byte[31])) + "\"}}}",
                "{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"ssh-rsa " + key.Split(' ')[1] + "\"}}}",
            };
        }

        [Theory]
        [MemberData(nameof(MistypedIdentities))]
        public void MistypedOrMissingIdentityFieldsAndBadKeysAreProtocolErrors(string result) => IdentityFails(result);

        [Fact]
        public void AWellFormedIdentityStillParses()
        {
            var key = GoodKey();
            var reply = FirmwareResult.Parse(Esn, "sshadmin", "identity", "{\"protocol\":1,\"ok\":true,\"result\":{\"esn\":\"" + Esn +
                "\",\"mode\":\"Operational\",\"enrolled\":true,\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"" + key + "\",\"certificate\":\"abc\",\"running\":true}}}}", 0);
            var id = FirmwareBodies.ParseIdentity(Esn, reply);
            Assert.True(id.Enrolled);
            Assert.Equal("abc", id.Certificates["sshadmin"]);
        }

        private static byte[] Blob(string type, params object[] fields)
        {
            var w = new SshWireWriter().String(type);
            foreach (var f in fields)
                if (f is byte[] b) w.String(b); else w.Mpint((BigInteger)f);
            return w.ToArray();
        }

        private static RsaKeyParameters Rsa3072() => (RsaKeyParameters)SshKeyPair.Generate(SshKeyAlgorithm.Rsa3072).PublicKey.Parameters;

        [Fact]
        public void DegenerateRsaKeysAreRefusedAsKeysAndAsModuleServerKeys()
        {
            var n = Rsa3072().Modulus;
            var exponentOne = "ssh-rsa " + Convert.ToBase64String(Blob("ssh-rsa", BigInteger.One, n));
            var exponentN = "ssh-rsa " + Convert.ToBase64String(Blob("ssh-rsa", n, n));
            var gen = new Org.BouncyCastle.Crypto.Generators.RsaKeyPairGenerator();
            gen.Init(new Org.BouncyCastle.Crypto.KeyGenerationParameters(new Org.BouncyCastle.Security.SecureRandom(), 1024));
            var small = (RsaKeyParameters)gen.GenerateKeyPair().Public;
            var tiny = "ssh-rsa " + Convert.ToBase64String(Blob("ssh-rsa", small.Exponent, small.Modulus));
            Assert.Equal(HsmErrorIds.KeyFileCorrupt, Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(exponentOne)).ErrorId);
            Assert.Equal(HsmErrorIds.KeyFileCorrupt, Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(exponentN)).ErrorId);
            Assert.Equal(HsmErrorIds.KeyTypeUnsupported, Assert.Throws<SshKeyFormatException>(() => SshPublicKey.Parse(tiny)).ErrorId);
            foreach (var line in new[] { exponentOne, tiny })
                IdentityFails("{\"esn\":\"" + Esn + "\",\"mode\":\"Operational\",\"serverKeys\":{\"sshadmin\":{\"publicKey\":\"" + line + "\"}}}");
        }

        [Theory]
        [InlineData("{}")]
        [InlineData("{\"keys\":[]}")]
        [InlineData("{\"keys\":{\"sshadmin\":\"all of them\"}}")]
        [InlineData("{\"keys\":{\"sshadmin\":[1]}}")]
        [InlineData("{\"keys\":{\"sshadmin\":[{\"fingerprint\":5}]}}")]
        [InlineData("{\"keys\":{\"sshadmin\":[{\"publicKey\":\"x\"}]}}")]
        // Fingerprints reach the console: control characters, wrong shape, too many keys, unknown services are refused.
        [InlineData("{\"keys\":{\"sshadmin\":[{\"fingerprint\":\"SHA256:a\"}]}}")]
        [InlineData("{\"keys\":{\"sshadmin\":[{\"fingerprint\":\"\\u001b[31mSHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}}")]
        [InlineData("{\"keys\":{\"\\u001b[2J\":[]}}")]
        public void MistypedKeyListsAreProtocolErrors(string result)
        {
            using var doc = JsonDocument.Parse(result);
            var ex = Assert.ThrowsAny<HsmException>(() => FirmwareBodies.ParseKeyList(doc.RootElement, Esn));
            Assert.Equal(HsmErrorIds.ProtocolError, ex.ErrorId);
        }

        private const string Fingerprint = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAb";

        [Fact]
        public void MoreKeysThanTheProtocolAllowsAreAProtocolError()
        {
            var entries = string.Join(",", Enumerable.Range(0, NShield.HsmAdmin.Protocol.FirmwareProtocol.MaxKeysPerService + 1)
                .Select(i => "{\"fingerprint\":\"SHA256:" + i.ToString("D43") + "\"}"));
            using var doc = JsonDocument.Parse("{\"keys\":{\"sshadmin\":[" + entries + "]}}");
            Assert.Equal(HsmErrorIds.ProtocolError, Assert.ThrowsAny<HsmException>(() => FirmwareBodies.ParseKeyList(doc.RootElement, Esn)).ErrorId);
        }

        [Fact]
        public void AWellFormedKeyListParses()
        {
            using var doc = JsonDocument.Parse("{\"keys\":{\"sshadmin\":[{\"publicKey\":\"x\",\"fingerprint\":\"FP\"}],\"setup\":[]}}".Replace("FP", Fingerprint));
            var map = FirmwareBodies.ParseKeyList(doc.RootElement, Esn);
            Assert.Equal(new[] { Fingerprint }, map["sshadmin"].ToArray());
            Assert.Empty(map["setup"]);
        }
    }
}
