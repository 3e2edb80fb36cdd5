using System;
using System.Collections.Generic;
using System.Linq;
using System.Security;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// The passphrase rules, decided here for every command: the passphrase (protection P) of the host's client keys is
    /// the one given, else (only if a key the command opens needs P) asked once through the reporter, else
    /// KeyPassphraseRequired. A passphrase given is checked by opening the P keys before anything else happens, so a wrong
    /// one (KeyWrongPassphrase) changes nothing. New passphrases (new P keys, a portable backup) are typed twice. The
    /// passphrase itself is never written anywhere: not in messages, verbose text or the audit log.
    /// </summary>
    public static class KeyPassphrases
    {
        public const string Parameter = "KeyPassphrase";

        /// <summary>The services among <paramref name="services"/> whose current (or staged) client key needs P.</summary>
        public static IReadOnlyList<string> Protected(HostStore store, IEnumerable<string> services) =>
            services.Distinct().Where(s => NeedsPassphrase(store.GetClientKey(s)) || NeedsPassphrase(store.GetPendingClientKey(s))).ToList();

        private static bool NeedsPassphrase(ClientKeyRecord? record) => record != null && record.ProtectionSpec.NeedsPassphrase;

        /// <summary>The passphrase given if any; else asked if <paramref name="services"/> hold P keys; else null.</summary>
        public static SecureString? Resolve(HostStore store, SecureString? given, IEnumerable<string> services, IOperationReporter reporter,
            string? alsoNeededFor = null)
        {
            if (given != null) return given;
            var needing = Protected(store, services).ToList();
            if (alsoNeededFor != null) needing.Add(alsoNeededFor);
            if (needing.Count == 0) return null;
            var which = $"The client keys this command opens ({string.Join(", ", needing)}) are protected with a passphrase (protection P)";
            var typed = reporter.AskSecret(new SecretQuestion("Client key passphrase", which + ".", "Passphrase", Parameter));
            if (typed != null && typed.Length > 0) return typed;
            throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.AuthenticationError,
                which + $" and no passphrase was given. Give it with -{Parameter} (a SecureString, e.g. -{Parameter} " +
                "(Read-Host -AsSecureString)). Nothing was changed.", store.Root);
        }

        /// <summary>
        /// Opens the host's P keys among <paramref name="services"/> now (the host keeps them open), so a wrong passphrase
        /// stops the command before it changes anything.
        /// </summary>
        public static void Verify(HsmHost host, IEnumerable<string> services)
        {
            if (host.KeyPassphrase == null) return;
            foreach (var record in host.Store.GetClientKeys().Where(r => r.ProtectionSpec.NeedsPassphrase && services.Contains(r.Service)))
            {
                try { host.ClientKey(record.Service); }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyWrongPassphrase)
                {
                    throw new HsmException(HsmErrorIds.KeyWrongPassphrase, HsmErrorKind.AuthenticationError,
                        $"The -{Parameter} given does not open this host's {record.Service} client key (protection {record.Protection}). " +
                        "Nothing was changed; give the right passphrase.", record.Service, ex);
                }
            }
        }

        /// <summary>A passphrase for new P keys: the one given, else typed twice, else KeyPassphraseRequired.</summary>
        public static SecureString NewPassphrase(SecureString? given, string parameter, string what, IOperationReporter reporter)
        {
            if (given != null)
            {
                if (given.Length == 0)
                    throw Invalid($"The passphrase given with -{parameter} is empty; protection P needs a non-empty passphrase.", parameter);
                PassphrasePolicy.Require(given, $"The new passphrase given with -{parameter}", parameter, "Nothing was changed.");
                return given;
            }
            var first = reporter.AskSecret(new SecretQuestion("Client key passphrase",
                (what + $" Type a new passphrase ({PassphrasePolicy.Rule}).").TrimStart(), "Passphrase", parameter));
            if (first == null || first.Length == 0)
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.AuthenticationError,
                    $"{what} Protection P needs a passphrase and none was given: give it with -{parameter} " +
                    $"(a SecureString of {PassphrasePolicy.Rule}). Nothing was changed.", parameter);
            // Refused before it is typed a second time.
            PassphrasePolicy.Require(first, "The new passphrase typed", parameter, "Nothing was changed.");
            var again = reporter.AskSecret(
                new SecretQuestion("Client key passphrase", "Type the same passphrase again.", "Confirm passphrase", parameter));
            if (again == null || !SameText(first, again))
                throw Invalid("The two passphrases typed do not match. Nothing was changed.", parameter);
            return first;
        }

        /// <summary>
        /// A passphrase for a portable backup file: the one given (not empty), else typed twice (a mismatch or an empty
        /// answer is refused), else KeyPassphraseRequired naming <paramref name="alternative"/>.
        /// </summary>
        public static SecureString NewBackupPassphrase(SecureString? given, string parameter, string what, string alternative,
            IOperationReporter reporter)
        {
            if (given != null)
            {
                if (given.Length == 0)
                    throw Invalid($"The passphrase given with -{parameter} is empty; a portable backup needs a non-empty passphrase. " +
                        "Nothing was written.", parameter);
                return given; // KeyBackup.Write holds it to the passphrase policy
            }
            var first = reporter.AskSecret(new SecretQuestion("Backup passphrase", what + $" It needs {PassphrasePolicy.Rule}.", "Passphrase",
                parameter));
            if (first == null)
                throw new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    $"A portable backup needs a passphrase, this host cannot ask for one, and none was given: give it with -{parameter} " +
                    $"(a SecureString of {PassphrasePolicy.Rule}){alternative}. Nothing was written.", parameter);
            if (first.Length == 0)
                throw Invalid("The passphrase typed is empty; a portable backup needs a non-empty passphrase. Nothing was written.", parameter);
            // Refused before it is typed a second time.
            PassphrasePolicy.Require(first, "The passphrase typed", parameter);
            var again = reporter.AskSecret(
                new SecretQuestion("Backup passphrase", "Type the same passphrase again.", "Confirm passphrase", parameter));
            if (again == null || !SameText(first, again))
                throw Invalid("The two passphrases typed do not match. Nothing was written.", parameter);
            return first;
        }

        private static bool SameText(SecureString a, SecureString b)
        {
            var x = Protection.PassphraseBytes.FromSecureString(a);
            var y = Protection.PassphraseBytes.FromSecureString(b);
            try
            {
                if (x.Length != y.Length) return false;
                int diff = 0;
                for (int i = 0; i < x.Length; i++) diff |= x[i] ^ y[i];
                return diff == 0;
            }
            finally { Protection.PassphraseBytes.Zero(x); Protection.PassphraseBytes.Zero(y); }
        }

        private static HsmException Invalid(string message, object target) =>
            new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument, message, target);
    }
}
