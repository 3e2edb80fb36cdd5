using System;
using System.Collections.Generic;
using System.IO;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using NShield.HsmAdmin.Keys;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>A client private key as stored: openssh-key-v1 text plus what is needed to re-derive its passphrase.</summary>
    public sealed class ProtectedKey
    {
        public ProtectedKey(string privateKeyText, ProtectionSpec protection, byte[]? keyNonce, string? machineCheck)
        {
            PrivateKeyText = privateKeyText;
            Protection = protection;
            KeyNonce = keyNonce;
            MachineCheck = machineCheck;
        }

        public string PrivateKeyText { get; }
        public ProtectionSpec Protection { get; }
        /// <summary>K: 32 random bytes, stored beside the key (not secret on its own).</summary>
        public byte[]? KeyNonce { get; }
        /// <summary>
        /// Salted PBKDF2 of the machine inputs (S, B, G) only, so a failed open can tell "another machine" from
        /// "wrong passphrase". It costs an attacker as much as trying the key file itself, and G is 256 random bits.
        /// </summary>
        public string? MachineCheck { get; }
    }

    /// <summary>
    /// Encrypts client keys (openssh-key-v1, bcrypt-pbkdf + aes256-ctr) under a passphrase derived from a
    /// <see cref="ProtectionSpec"/>: SHA-256 over a domain label and each chosen input as (letter, length, bytes) in
    /// canonical order K F S B G P, base64-encoded. Inputs not chosen do not enter the hash at all.
    /// </summary>
    internal sealed class ClientKeyProtector
    {
        const string DerivationLabel = "NShield.HsmAdmin client key passphrase v1";
        const string MachineCheckLabel = "NShield.HsmAdmin machine check v1";
        // Low on purpose: G is 256 random bits, so iterations only matter for S/B-only keys, whose UUIDs are not secret anyway.
        const int MachineCheckIterations = 2000;

        /// <summary>F: fixed nonce built into the software (binds keys to this product, not to any secret).</summary>
        static readonly byte[] FixedNonce = Convert.FromBase64String("3k0n2XyHqGm6Jt4mZb8vFq1r2Ww5S7a9Lc0pNe6uYdI=");

        readonly IMachineIdentity _machine;

        public ClientKeyProtector(IMachineIdentity machine) { _machine = machine; }

        public IMachineIdentity Machine => _machine;

        public ProtectedKey Protect(SshKeyPair key, ProtectionSpec spec, SecureString? passphrase)
        {
            if (spec.IsNone) return new ProtectedKey(OpenSshPrivateKey.Encode(key, null), spec, null, null);
            if (spec.Contains(ProtectionInput.UserPassphrase) && (passphrase == null || passphrase.Length == 0))
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    $"Protection '{spec}' includes P: supply a non-empty passphrase (-KeyPassphrase; -NewKeyPassphrase for Update-HsmSshKey).");
            if (!spec.Contains(ProtectionInput.UserPassphrase) && passphrase != null && passphrase.Length > 0)
                throw new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                    $"A passphrase was given but protection '{spec}' does not include P; add P or omit the passphrase.");

            byte[]? keyNonce = null;
            if (spec.Contains(ProtectionInput.KeyNonce))
            {
                keyNonce = new byte[32];
                using var rng = RandomNumberGenerator.Create();
                rng.GetBytes(keyNonce);
            }
            var machineInputs = ReadMachineInputs(spec, creating: true);
            byte[]? p = null, derived = null;
            try
            {
                p = spec.Contains(ProtectionInput.UserPassphrase) ? PassphraseBytes.FromSecureString(passphrase!) : null;
                derived = Derive(spec, keyNonce, machineInputs, p);
                var text = OpenSshPrivateKey.Encode(key, derived, RoundsFor(spec));
                string? check = spec.IsMachineBound ? NewMachineCheck(machineInputs) : null;
                return new ProtectedKey(text, spec, keyNonce, check);
            }
            finally
            {
                PassphraseBytes.Zero(p);
                PassphraseBytes.Zero(derived);
                foreach (var v in machineInputs.Values) PassphraseBytes.Zero(v);
            }
        }

        /// <summary>
        /// The same key under a new user passphrase (protection P), keeping the stored key's nonce and machine check, so
        /// only the private key text changes (one atomic file write re-protects it).
        /// </summary>
        public ProtectedKey Reprotect(ProtectedKey stored, SshKeyPair key, SecureString newPassphrase)
        {
            var spec = stored.Protection;
            if (!spec.Contains(ProtectionInput.UserPassphrase)) return stored;
            if (newPassphrase == null || newPassphrase.Length == 0)
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    $"Protection '{spec}' includes P: supply a non-empty passphrase (-NewKeyPassphrase).");
            var machineInputs = ReadMachineInputs(spec, creating: false);
            byte[]? p = null, derived = null;
            try
            {
                p = PassphraseBytes.FromSecureString(newPassphrase);
                derived = Derive(spec, stored.KeyNonce, machineInputs, p);
                return new ProtectedKey(OpenSshPrivateKey.Encode(key, derived, RoundsFor(spec)), spec, stored.KeyNonce, stored.MachineCheck);
            }
            finally
            {
                PassphraseBytes.Zero(p);
                PassphraseBytes.Zero(derived);
                foreach (var v in machineInputs.Values) PassphraseBytes.Zero(v);
            }
        }

        /// <summary>
        /// bcrypt rounds slow down guessing a weak passphrase. Only P can be weak: without it the derived passphrase
        /// is either high-entropy (G: 256 random bits) or not secret at all (K and F sit beside the key), so one
        /// round loses nothing and saves ~280 ms on every key open (the hardserver and each cmdlet open keys).
        /// </summary>
        internal static int RoundsFor(ProtectionSpec spec) =>
            spec.Contains(ProtectionInput.UserPassphrase) ? OpenSshPrivateKey.DefaultRounds : 1;

        /// <summary>
        /// Opens a protected key. Failures: KeyPassphraseRequired (P needed), KeyWrongPassphrase (P wrong),
        /// KeyTiedToAnotherMachine (S/B/G differ or are missing here), KeyFileCorrupt (nothing else explains it),
        /// ProtectionInputUnavailable (an input exists but this account may not read it), Cancelled (the token was
        /// cancelled during the bcrypt key derivation: a crafted key may ask for up to OpenSshPrivateKey.MaxRounds).
        /// </summary>
        public SshKeyPair Open(ProtectedKey stored, SecureString? passphrase, string what = "the key",
            System.Threading.CancellationToken cancellationToken = default)
        {
            var spec = stored.Protection;
            if (spec.IsNone) return OpenSshPrivateKey.Decode(stored.PrivateKeyText, null);
            bool usesP = spec.Contains(ProtectionInput.UserPassphrase);
            if (usesP && (passphrase == null || passphrase.Length == 0))
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.AuthenticationError,
                    $"{what} is protected with a passphrase (protection '{spec}'): give it with -KeyPassphrase.");
            if (spec.Contains(ProtectionInput.KeyNonce) && (stored.KeyNonce == null || stored.KeyNonce.Length == 0))
                throw new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                    $"{what} is protected with K but its key nonce is missing from the metadata.");

            Dictionary<ProtectionInput, byte[]> machineInputs;
            try { machineInputs = ReadMachineInputs(spec, creating: false); }
            catch (ProtectionInputUnavailableException e) when (e.Reason == UnavailableReason.Absent)
            {
                throw TiedToAnotherMachine(what, spec, $"{e.Message}", e);
            }

            byte[]? p = null, derived = null;
            try
            {
                p = usesP ? PassphraseBytes.FromSecureString(passphrase!) : null;
                derived = Derive(spec, stored.KeyNonce, machineInputs, p);
                try { return OpenSshPrivateKey.Decode(stored.PrivateKeyText, derived, cancellationToken); }
                catch (HsmException e) when (e.ErrorId == HsmErrorIds.KeyWrongPassphrase)
                {
                    throw ExplainWrongPassphrase(stored, machineInputs, usesP, what, e);
                }
            }
            finally
            {
                PassphraseBytes.Zero(p);
                PassphraseBytes.Zero(derived);
                foreach (var v in machineInputs.Values) PassphraseBytes.Zero(v);
            }
        }

        /// <summary>
        /// The decoder only says "wrong passphrase". Which input was wrong: the machine check (if the key is machine-bound)
        /// settles S/B/G; if they match, P is the only user-supplied input left; with neither, the file or nonce was altered.
        /// Keys without a stored check (written elsewhere) fall back to: P involved => wrong passphrase, else another machine.
        /// </summary>
        Exception ExplainWrongPassphrase(ProtectedKey stored, Dictionary<ProtectionInput, byte[]> machineInputs, bool usesP, string what,
            Exception inner)
        {
            var spec = stored.Protection;
            if (spec.IsMachineBound)
            {
                if (stored.MachineCheck != null)
                {
                    if (!MachineCheckMatches(stored.MachineCheck, machineInputs))
                        return TiedToAnotherMachine(what, spec, "its machine inputs do not match this machine's.", inner);
                }
                else if (!usesP)
                    return TiedToAnotherMachine(what, spec, "it does not open with this machine's inputs.", inner);
            }
            if (usesP)
                return new HsmException(HsmErrorIds.KeyWrongPassphrase, HsmErrorKind.AuthenticationError,
                    $"The passphrase for {what} is wrong.", null, inner);
            return new HsmException(HsmErrorIds.KeyFileCorrupt, HsmErrorKind.InvalidData,
                $"{what} does not open with its recorded protection '{spec}': the key file or its nonce was changed or mixed up with another key's.",
                null, inner);
        }

        HsmException TiedToAnotherMachine(string what, ProtectionSpec spec, string why, Exception? inner) =>
            new HsmException(HsmErrorIds.KeyTiedToAnotherMachine, HsmErrorKind.SecurityError,
                $"{what} is tied to another machine (protection '{spec}' includes machine " +
                $"inputs) and cannot be opened on {_machine.Description}: {why} " +
                "To move keys between machines, use a passphrase backup (Backup-HsmSshKey -Passphrase).", null, inner);

        Dictionary<ProtectionInput, byte[]> ReadMachineInputs(ProtectionSpec spec, bool creating)
        {
            var inputs = new Dictionary<ProtectionInput, byte[]>();
            if (spec.Contains(ProtectionInput.SystemUuid)) inputs[ProtectionInput.SystemUuid] = _machine.GetSystemUuid();
            if (spec.Contains(ProtectionInput.BaseboardId)) inputs[ProtectionInput.BaseboardId] = _machine.GetBaseboardId();
            if (spec.Contains(ProtectionInput.GlobalNonce)) inputs[ProtectionInput.GlobalNonce] = _machine.GetGlobalNonce(createIfMissing: creating);
            return inputs;
        }

        internal static byte[] Derive(ProtectionSpec spec, byte[]? keyNonce, IReadOnlyDictionary<ProtectionInput, byte[]> machineInputs,
            byte[]? userPassphrase)
        {
            using var buffer = new MemoryStream();
            Append(buffer, 'D', Encoding.ASCII.GetBytes(DerivationLabel));
            foreach (var input in spec.Inputs)
            {
                byte[] value = input switch
                {
                    ProtectionInput.KeyNonce => keyNonce!,
                    ProtectionInput.FixedNonce => FixedNonce,
                    ProtectionInput.UserPassphrase => userPassphrase!,
                    _ => machineInputs[input],
                };
                Append(buffer, ProtectionSpec.LetterOf(input), value);
            }
            byte[] material = buffer.ToArray();
            try
            {
                using var sha = SHA256.Create();
                byte[] hash = sha.ComputeHash(material);
                var passphrase = Encoding.ASCII.GetBytes(Convert.ToBase64String(hash));
                Array.Clear(hash, 0, hash.Length);
                return passphrase;
            }
            finally
            {
                Array.Clear(material, 0, material.Length);
                // MemoryStream's internal buffer also held the material.
                var inner = buffer.GetBuffer();
                Array.Clear(inner, 0, inner.Length);
            }
        }

        static void Append(Stream s, char label, byte[] value)
        {
            s.WriteByte((byte)label);
            s.WriteByte((byte)(value.Length >> 24)); s.WriteByte((byte)(value.Length >> 16));
            s.WriteByte((byte)(value.Length >> 8)); s.WriteByte((byte)value.Length);
            s.Write(value, 0, value.Length);
        }

        static string NewMachineCheck(Dictionary<ProtectionInput, byte[]> machineInputs)
        {
            var salt = new byte[16];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(salt);
            return "v1:" + Convert.ToBase64String(salt) + ":" + Convert.ToBase64String(MachineCheckValue(salt, machineInputs));
        }

        static bool MachineCheckMatches(string check, Dictionary<ProtectionInput, byte[]> machineInputs)
        {
            var parts = check.Split(':');
            if (parts.Length != 3 || parts[0] != "v1") return false;
            try
            {
                var expected = Convert.FromBase64String(parts[2]);
                var actual = MachineCheckValue(Convert.FromBase64String(parts[1]), machineInputs);
                return CryptographicEquals(expected, actual);
            }
            catch (FormatException) { return false; }
        }

        static byte[] MachineCheckValue(byte[] salt, Dictionary<ProtectionInput, byte[]> machineInputs)
        {
            using var buffer = new MemoryStream();
            Append(buffer, 'D', Encoding.ASCII.GetBytes(MachineCheckLabel));
            foreach (var input in new[] { ProtectionInput.SystemUuid, ProtectionInput.BaseboardId, ProtectionInput.GlobalNonce })
                if (machineInputs.TryGetValue(input, out var v)) Append(buffer, ProtectionSpec.LetterOf(input), v);
            var material = buffer.ToArray();
            try
            {
                var generator = new Pkcs5S2ParametersGenerator(new Sha256Digest());
                generator.Init(material, salt, MachineCheckIterations);
                return ((KeyParameter)generator.GenerateDerivedMacParameters(128)).GetKey();
            }
            finally
            {
                Array.Clear(material, 0, material.Length);
                var inner = buffer.GetBuffer();
                Array.Clear(inner, 0, inner.Length);
            }
        }

        static bool CryptographicEquals(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            int diff = 0;
            for (int i = 0; i < a.Length; i++) diff |= a[i] ^ b[i];
            return diff == 0;
        }
    }
}
