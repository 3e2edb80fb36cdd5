using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Modules;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>Issue 16 (3): the host speaks only allowlisted SSH algorithms, against a real sshd we configure.</summary>
    public class SshAlgorithmPolicyTests
    {
        private static readonly SshModuleTransport Transport = new SshModuleTransport(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));

        /// <summary>What the SSH channel under a session negotiated.</summary>
        private static ISshChannelInfo Info(IModuleSession session) =>
            Assert.IsAssignableFrom<ISshChannelInfo>(Assert.IsType<JsonExecSession>(session).Channel);

        private static async Task<HsmException> RefusedAsync(TestSshd sshd)
        {
            var ex = await Assert.ThrowsAnyAsync<HsmException>(() =>
                Transport.OpenAsync(sshd.Address, ModuleServices.SshAdmin, sshd.ClientKey, ServerKeyPolicy.FirstContact(), CancellationToken.None));
            Assert.Equal(HsmErrorIds.AlgorithmNegotiationFailed, ex.ErrorId);
            Assert.Equal(HsmErrorKind.SecurityError, ex.Kind);
            Assert.Equal(TestSshd.Esn, ex.Target);
            return ex;
        }

        [Fact]
        public async Task ModuleOfferingOnlyCbcAnd3desCiphersIsRefusedWithTheOfferAndTheRequirementNamed()
        {
            using var sshd = new TestSshd("Ciphers aes128-cbc,3des-cbc");
            var ex = await RefusedAsync(sshd);
            Assert.Contains("aes128-cbc,3des-cbc", ex.Message);              // what the module offered
            Assert.Contains("chacha20-poly1305@openssh.com", ex.Message);    // what the host requires
            Assert.Contains("aes256-ctr", ex.Message);
            Assert.DoesNotContain("BEGIN", ex.Message);
        }

        [Fact]
        public async Task ModuleOfferingOnlyHmacSha1WithACtrCipherIsRefusedWithTheOfferAndTheRequirementNamed()
        {
            using var sshd = new TestSshd("Ciphers aes128-ctr", "MACs hmac-sha1");
            var ex = await RefusedAsync(sshd);
            Assert.Contains("MAC", ex.Message);
            Assert.Contains("offers hmac-sha1;", ex.Message);
            Assert.Contains("hmac-sha2-256-etm@openssh.com", ex.Message);
            Assert.Contains("hmac-sha2-512-etm@openssh.com", ex.Message);
        }

        [Fact]
        public async Task ModuleOfferingOnlySha1KeyExchangeIsRefused()
        {
            using var sshd = new TestSshd("KexAlgorithms diffie-hellman-group14-sha1");
            var ex = await RefusedAsync(sshd);
            Assert.Contains("key exchange: the module offers diffie-hellman-group14-sha1;", ex.Message);
        }

        [Fact]
        public async Task Curve25519IsPreferredAndAPostQuantumHybridIsTakenWhenItIsAllTheModuleOffers()
        {
            // What the installed OpenSSH implements decides which hybrid we can offer it (9.2: sntrup761 only; 9.9+: ML-KEM too).
            var openssh = TestSshd.OpenSshKeyExchanges();
            var pq = SshAlgorithmPolicy.PostQuantumKeyExchanges.Where(openssh.Contains).ToList();
            Assert.NotEmpty(pq); // every supported OpenSSH (8.5+) has sntrup761x25519
            // The module lists the hybrid FIRST: the client's preference decides, so curve25519 proves ours.
            using (var both = new TestSshd("KexAlgorithms " + string.Join(",", pq) + ",curve25519-sha256"))
            using (var channel = await Transport.OpenAsync(both.Address, ModuleServices.SshAdmin, both.ClientKey, ServerKeyPolicy.FirstContact(), CancellationToken.None))
                Assert.Equal("curve25519-sha256", Info(channel).KeyExchangeAlgorithm);
            // A module that offers only a hybrid still gets one.
            using var sshd = new TestSshd("KexAlgorithms " + string.Join(",", pq));
            using var pqChannel = await Transport.OpenAsync(sshd.Address, ModuleServices.SshAdmin, sshd.ClientKey, ServerKeyPolicy.FirstContact(), CancellationToken.None);
            var info = Info(pqChannel);
            Assert.Equal(SshAlgorithmPolicy.KeyExchanges.First(pq.Contains), info.KeyExchangeAlgorithm);
            Assert.Contains(info.ClientToModuleCipher, SshAlgorithmPolicy.Ciphers);
            Assert.Contains(info.ModuleToClientCipher, SshAlgorithmPolicy.Ciphers);
            Assert.Equal("chacha20-poly1305@openssh.com", info.ClientToModuleCipher);
            // And the channel works: the forced command's reply is read through the bounded reader.
            var reply = await ((JsonExecSession)pqChannel).Channel.RunAsync(FirmwareVerbs.Ping, null, CancellationToken.None);
            Assert.Contains("\"esn\":\"" + TestSshd.Esn + "\"", reply.Output);
            await pqChannel.PingAsync(CancellationToken.None);
        }

        [Fact]
        public async Task CtrCipherIsAcceptedWithAnEtmMac()
        {
            using var sshd = new TestSshd("Ciphers aes128-ctr", "MACs hmac-sha1,hmac-sha2-512-etm@openssh.com");
            using var channel = await Transport.OpenAsync(sshd.Address, ModuleServices.SshAdmin, sshd.ClientKey, ServerKeyPolicy.FirstContact(), CancellationToken.None);
            var info = Info(channel);
            Assert.Equal("aes128-ctr", info.ClientToModuleCipher);
            Assert.Equal("hmac-sha2-512-etm@openssh.com", info.ClientToModuleMac);
            Assert.Equal("hmac-sha2-512-etm@openssh.com", info.ModuleToClientMac);
        }

        [Fact]
        public void ParsesAKexInitAndExplainsADisagreement()
        {
            var w = new System.IO.MemoryStream();
            w.WriteByte(20);
            w.Write(new byte[16]);
            void List(string s) { var b = System.Text.Encoding.ASCII.GetBytes(s); w.Write(new[] { (byte)(b.Length >> 24), (byte)(b.Length >> 16), (byte)(b.Length >> 8), (byte)b.Length }); w.Write(b); }
            List("curve25519-sha256"); List("ssh-ed25519"); List("3des-cbc"); List("aes256-gcm@openssh.com"); List("hmac-sha1"); List("hmac-sha1");
            List("none"); List("none"); List(""); List("");
            w.WriteByte(0); w.Write(new byte[4]);
            var bytes = w.ToArray();
            var offer = SshAlgorithmPolicy.ParseKexInit(bytes, bytes.Length)!;
            Assert.Equal(new[] { "3des-cbc" }, offer.CiphersClientToServer);
            var why = SshAlgorithmPolicy.Disagreement(offer, SshAlgorithmPolicy.KeyExchanges, SshAlgorithmPolicy.Ciphers, SshAlgorithmPolicy.Macs)!;
            Assert.Contains("cipher (client-to-module): the module offers 3des-cbc", why);
            Assert.DoesNotContain("module-to-client", why); // AEAD that way: no MAC needed
            Assert.Null(SshAlgorithmPolicy.ParseKexInit(bytes, 10));
        }

        /// <summary>Algorithm names come from the module: in the message they are printable and bounded.</summary>
        [Fact]
        public void ModuleSuppliedAlgorithmNamesAreTruncatedAndMadePrintableInTheExplanation()
        {
            var w = new System.IO.MemoryStream();
            w.WriteByte(20);
            w.Write(new byte[16]);
            void List(string s) { var b = System.Text.Encoding.ASCII.GetBytes(s); w.Write(new[] { (byte)(b.Length >> 24), (byte)(b.Length >> 16), (byte)(b.Length >> 8), (byte)b.Length }); w.Write(b); }
            var huge = "x-" + new string('k', 5000); // ParseKexInit already refuses control characters (the whole offer)
            List(huge); List("ssh-ed25519"); List(huge); List(huge); List(huge); List(huge);
            List("none"); List("none"); List(""); List("");
            w.WriteByte(0); w.Write(new byte[4]);
            var bytes = w.ToArray();
            var offer = SshAlgorithmPolicy.ParseKexInit(bytes, bytes.Length)!;
            var why = SshAlgorithmPolicy.Disagreement(offer, SshAlgorithmPolicy.KeyExchanges, SshAlgorithmPolicy.Ciphers, SshAlgorithmPolicy.Macs)!;
            Assert.Contains("key exchange: the module offers x-", why);
            Assert.DoesNotContain(new string('k', SshAlgorithmPolicy.MaxOfferedInMessage + 1), why);
            Assert.True(why.Length < 2000, $"{why.Length} characters");
            Assert.Contains("...", SshAlgorithmPolicy.Offered(new[] { huge }));
            Assert.Equal("a?[2J,b", SshAlgorithmPolicy.Offered(new[] { "a\u001b[2J", "b" }));
        }

        /// <summary>
        /// S2: a man in the middle with a key of another type than the pin (ECDSA where Ed25519 is pinned) is a changed
        /// server key, not a firmware that needs updating. Real sshd.
        /// </summary>
        [Fact]
        public async Task AServerKeyOfAnotherTypeThanThePinIsServerKeyChangedNamingTheTypePresented()
        {
            using var sshd = new TestSshd(NShield.HsmAdmin.Keys.SshKeyAlgorithm.EcdsaP256);
            using var pinned = NShield.HsmAdmin.Keys.SshKeyPair.Generate(NShield.HsmAdmin.Keys.SshKeyAlgorithm.Ed25519, "the real module");
            var ex = await Assert.ThrowsAnyAsync<HsmException>(() => Transport.OpenAsync(sshd.Address, ModuleServices.SshAdmin, sshd.ClientKey,
                ServerKeyPolicy.Pinned(pinned.PublicKey, "/tmp/known_hosts"), CancellationToken.None));
            Assert.Equal(HsmErrorIds.ServerKeyChanged, ex.ErrorId);
            Assert.Equal(HsmErrorKind.SecurityError, ex.Kind);
            Assert.Equal(TestSshd.Esn, ex.Target);
            Assert.Contains("ecdsa-sha2-nistp256", ex.Message);          // the type presented
            Assert.Contains(pinned.PublicKey.Fingerprint, ex.Message);    // the pin
            Assert.Contains("Update-HsmServerKeyPin", ex.RecommendedAction);     // the advice, one property away
            Assert.DoesNotContain("-AcceptFingerprint '", ex.Message);
            Assert.DoesNotContain("firmware", ex.Message);
        }

        [Fact]
        public async Task TheSameKeyTypeAsThePinStillConnects()
        {
            using var sshd = new TestSshd(NShield.HsmAdmin.Keys.SshKeyAlgorithm.EcdsaP256);
            using var channel = await Transport.OpenAsync(sshd.Address, ModuleServices.SshAdmin, sshd.ClientKey,
                ServerKeyPolicy.Pinned(sshd.HostKey, "/tmp/known_hosts"), CancellationToken.None);
            Assert.Equal(sshd.HostKey.Fingerprint, channel.ServerKey.Fingerprint);
        }
    }
}
