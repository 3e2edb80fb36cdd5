using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protection
{
    public class ClientKeyProtectorTests
    {
        static readonly string[] Letters = { "K", "F", "S", "B", "G", "P" };

        /// <summary>Every subset of the given letters, as spec strings ("" = none).</summary>
        static IEnumerable<object[]> Subsets(string letters) =>
            Enumerable.Range(0, 1 << letters.Length).Select(mask =>
                new object[] { new string(letters.Where((_, i) => (mask & (1 << i)) != 0).ToArray()) });

        /// <summary>Inputs every machine has (S/B need DMI, which VMs often lack).</summary>
        public static IEnumerable<object[]> CombosAvailableHere => Subsets("KFGP");
        public static IEnumerable<object[]> AllCombos => Subsets("KFSBGP");

        static SshKeyPair NewKey() => SshKeyPair.Generate(SshKeyAlgorithm.Ed25519, "test");

        [Theory]
        [MemberData(nameof(CombosAvailableHere))]
        public void Round_trips_every_combination_available_on_this_machine(string letters)
        {
            using var dir = new TempDirectory();
            var protector = new ClientKeyProtector(new LocalMachineIdentity(dir.File("machine")));
            var spec = ProtectionSpec.Parse(letters);
            var p = spec.Contains(ProtectionInput.UserPassphrase) ? Secure.String("pässphrase") : null;
            using var key = NewKey();
            var stored = protector.Protect(key, spec, p);
            Assert.Equal(!spec.IsNone, OpenSshPrivateKey.IsEncrypted(stored.PrivateKeyText));
            using var opened = protector.Open(stored, p);
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
        }

        [Theory]
        [MemberData(nameof(AllCombos))]
        public void Round_trips_every_combination_on_a_machine_with_full_identity(string letters)
        {
            var protector = new ClientKeyProtector(FakeMachineIdentity.Full("0001"));
            var spec = ProtectionSpec.Parse(letters);
            var p = spec.Contains(ProtectionInput.UserPassphrase) ? Secure.String("pw") : null;
            using var key = NewKey();
            using var opened = protector.Open(protector.Protect(key, spec, p), p);
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
        }

        [Theory]
        [InlineData("KFS", ProtectionInput.SystemUuid, "system UUID")]
        [InlineData("KFB", ProtectionInput.BaseboardId, "baseboard serial")]
        public void S_and_B_are_refused_clearly_on_a_machine_without_DMI(string letters, ProtectionInput input, string what)
        {
            using var dir = new TempDirectory();
            var noDmi = dir.File("no-dmi"); // as on VMs and containers: no DMI folder at all
            var protector = new ClientKeyProtector(new LocalMachineIdentity(dir.File("machine"), noDmi));
            using var key = NewKey();
            var e = Assert.Throws<ProtectionInputUnavailableException>(() => protector.Protect(key, ProtectionSpec.Parse(letters), null));
            Assert.Equal(HsmErrorIds.ProtectionInputUnavailable, e.ErrorId);
            Assert.Equal(input, e.Input);
            Assert.Equal(UnavailableReason.Absent, e.Reason);
            Assert.Contains(what, e.Message);
            Assert.Contains($"{noDmi} does not exist", e.Message);
        }

        [Theory]
        [InlineData("KFS")]
        [InlineData("KFB")]
        [InlineData("KFSBG")]
        public void S_and_B_round_trip_on_a_machine_with_DMI(string letters)
        {
            using var dir = new TempDirectory();
            System.IO.Directory.CreateDirectory(dir.File("dmi"));
            System.IO.File.WriteAllText(dir.File("dmi/product_uuid"), "4c4c4544-0042-3510-8052-b1c04f4b4e32\n");
            System.IO.File.WriteAllText(dir.File("dmi/board_serial"), "/7XK2LM3/CNFCW0012300AB/\n");
            var protector = new ClientKeyProtector(new LocalMachineIdentity(dir.File("machine"), dir.File("dmi")));
            using var key = NewKey();
            using var opened = protector.Open(protector.Protect(key, ProtectionSpec.Parse(letters), null), null);
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
        }

        /// <summary>
        /// This machine as it is, whichever kind it is: the DMI files are looked at directly (not through the code under
        /// test) to say which branch applies, then that branch is checked.
        /// </summary>
        [SkippableTheory]
        [InlineData("KFS", ProtectionInput.SystemUuid, "product_uuid")]
        [InlineData("KFB", ProtectionInput.BaseboardId, "board_serial")]
        public void S_and_B_on_this_machine_work_or_are_refused_as_its_DMI_says(string letters, ProtectionInput input, string dmiFile)
        {
            Skip.IfNot(OperatingSystem.IsLinux(), "reads /sys/class/dmi/id (Linux); other systems go through SMBIOS");
            const string dmi = "/sys/class/dmi/id";
            using var dir = new TempDirectory();
            var protector = new ClientKeyProtector(new LocalMachineIdentity(dir.File("machine")));
            using var key = NewKey();
            ProtectedKey Protect() => protector.Protect(key, ProtectionSpec.Parse(letters), null);

            string? value = null;
            bool readable = true;
            try { value = System.IO.File.Exists($"{dmi}/{dmiFile}") ? System.IO.File.ReadAllText($"{dmi}/{dmiFile}").Trim() : null; }
            catch (UnauthorizedAccessException) { readable = false; }

            if (!System.IO.Directory.Exists(dmi))
            {
                var e = Assert.Throws<ProtectionInputUnavailableException>(Protect);
                Assert.Equal((input, UnavailableReason.Absent), (e.Input, e.Reason));
                Assert.Contains($"{dmi} does not exist", e.Message);
            }
            else if (!readable)
            {
                var e = Assert.Throws<ProtectionInputUnavailableException>(Protect);
                Assert.Equal((input, UnavailableReason.AccessDenied), (e.Input, e.Reason));
            }
            else if (value != null && value.Trim('0', 'f', 'F', '-').Length > 0 && value.Length >= 8)
            {
                using var opened = protector.Open(Protect(), null);
                Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
            }
            else
            {
                // Missing, empty or a placeholder: either way not a unique id, so refused, never faked.
                var e = Assert.Throws<ProtectionInputUnavailableException>(Protect);
                Assert.Equal((input, UnavailableReason.Absent), (e.Input, e.Reason));
            }
        }

        [Theory]
        [InlineData("KFS")]
        [InlineData("KFG")]
        [InlineData("S")]
        [InlineData("KFSBG")]
        [InlineData("KFGP")]
        public void A_machine_bound_key_fails_on_another_machine(string letters)
        {
            var p = letters.Contains('P') ? Secure.String("pw") : null;
            using var key = NewKey();
            var stored = new ClientKeyProtector(FakeMachineIdentity.Full("0001")).Protect(key, ProtectionSpec.Parse(letters), p);
            var elsewhere = new ClientKeyProtector(FakeMachineIdentity.Full("0002"));
            var e = Assert.Throws<HsmException>(() => elsewhere.Open(stored, p));
            Assert.Equal(HsmErrorIds.KeyTiedToAnotherMachine, e.ErrorId);
            Assert.Equal(HsmErrorKind.SecurityError, e.Kind);
            Assert.Contains("passphrase backup", e.Message);
        }

        [Fact]
        public void A_G_key_fails_where_no_global_nonce_exists_and_none_is_created()
        {
            using var key = NewKey();
            var stored = new ClientKeyProtector(FakeMachineIdentity.Full("0001")).Protect(key, ProtectionSpec.Default, null);
            var fresh = new FakeMachineIdentity();
            var e = Assert.Throws<HsmException>(() => new ClientKeyProtector(fresh).Open(stored, null));
            Assert.Equal(HsmErrorIds.KeyTiedToAnotherMachine, e.ErrorId);
            Assert.Null(fresh.GlobalNonce);
        }

        [Fact]
        public void An_S_key_fails_on_a_machine_without_DMI_as_another_machine()
        {
            using var key = NewKey();
            var stored = new ClientKeyProtector(FakeMachineIdentity.Full("0001")).Protect(key, ProtectionSpec.Parse("KFS"), null);
            var e = Assert.Throws<HsmException>(() => new ClientKeyProtector(new FakeMachineIdentity()).Open(stored, null));
            Assert.Equal(HsmErrorIds.KeyTiedToAnotherMachine, e.ErrorId);
        }

        [Theory]
        [InlineData("KFP")]
        [InlineData("KFGP")]
        [InlineData("P")]
        public void Wrong_P_is_KeyWrongPassphrase_and_missing_P_is_KeyPassphraseRequired(string letters)
        {
            var protector = new ClientKeyProtector(FakeMachineIdentity.Full("0001"));
            using var key = NewKey();
            var stored = protector.Protect(key, ProtectionSpec.Parse(letters), Secure.String("right"));
            var wrong = Assert.Throws<HsmException>(() => protector.Open(stored, Secure.String("wrong")));
            Assert.Equal(HsmErrorIds.KeyWrongPassphrase, wrong.ErrorId);
            Assert.DoesNotContain("wrong", wrong.Message.Replace("is wrong", ""));
            var missing = Assert.Throws<HsmException>(() => protector.Open(stored, null));
            Assert.Equal(HsmErrorIds.KeyPassphraseRequired, missing.ErrorId);
        }

        [Fact]
        public void A_swapped_key_nonce_is_reported_as_corrupt_not_as_a_passphrase_problem()
        {
            var protector = new ClientKeyProtector(FakeMachineIdentity.Full("0001"));
            using var key = NewKey();
            var stored = protector.Protect(key, ProtectionSpec.Default, null);
            var tampered = new ProtectedKey(stored.PrivateKeyText, stored.Protection, new byte[32], stored.MachineCheck);
            var e = Assert.Throws<HsmException>(() => protector.Open(tampered, null));
            Assert.Equal(HsmErrorIds.KeyFileCorrupt, e.ErrorId);
        }

        [Fact]
        public void Protect_refuses_P_without_passphrase_and_passphrase_without_P()
        {
            var protector = new ClientKeyProtector(FakeMachineIdentity.Full("0001"));
            using var key = NewKey();
            Assert.Equal(HsmErrorIds.KeyPassphraseRequired,
                Assert.Throws<HsmException>(() => protector.Protect(key, ProtectionSpec.Parse("KP"), null)).ErrorId);
            Assert.Equal(HsmErrorIds.InvalidProtection,
                Assert.Throws<HsmException>(() => protector.Protect(key, ProtectionSpec.Parse("KF"), Secure.String("x"))).ErrorId);
        }

        [Fact]
        public void Each_key_gets_its_own_nonce_and_F_alone_is_still_a_deterministic_passphrase()
        {
            var protector = new ClientKeyProtector(FakeMachineIdentity.Full("0001"));
            using var key = NewKey();
            var a = protector.Protect(key, ProtectionSpec.Parse("KF"), null);
            var b = protector.Protect(key, ProtectionSpec.Parse("KF"), null);
            Assert.NotEqual(Convert.ToBase64String(a.KeyNonce!), Convert.ToBase64String(b.KeyNonce!));
            // Cross-check the documented derivation: a key protected with F opens with SHA-256(label, F) base64 directly.
            var f = protector.Protect(key, ProtectionSpec.Parse("F"), null);
            var derived = ClientKeyProtector.Derive(ProtectionSpec.Parse("F"), null, new Dictionary<ProtectionInput, byte[]>(), null);
            using var opened = OpenSshPrivateKey.Decode(f.PrivateKeyText, derived);
            Assert.Equal(key.PublicKey.Fingerprint, opened.PublicKey.Fingerprint);
            Assert.Null(f.MachineCheck);
        }
    }
}
