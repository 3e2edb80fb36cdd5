using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Protection;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// The passphrase (protection P) of the host's client keys, for every cmdlet that opens one: -KeyPassphrase when
    /// given; otherwise, only if a key the command will open needs P, one prompt per invocation (masked, on the
    /// pipeline thread) in an interactive host, or KeyPassphraseRequired without one. A given passphrase is checked
    /// by opening the P keys before anything else happens, so a wrong one (KeyWrongPassphrase) changes nothing.
    /// The passphrase itself is never written anywhere: not in messages, verbose text or the audit log.
    /// </summary>
    internal static class KeyPassphrases
    {
        public const string Parameter = "KeyPassphrase";

        /// <summary>The services among <paramref name="services"/> whose current (or staged) client key needs P.</summary>
        public static IReadOnlyList<string> Protected(HostStore store, IEnumerable<string> services) =>
            services.Distinct().Where(s => NeedsPassphrase(store.GetClientKey(s)) || NeedsPassphrase(store.GetPendingClientKey(s))).ToList();

        private static bool NeedsPassphrase(ClientKeyRecord? record) => record != null && record.ProtectionSpec.NeedsPassphrase;

        /// <summary>-KeyPassphrase if given; else a prompt if <paramref name="services"/> hold P keys; else null.</summary>
        public static SecureString? Resolve(HsmCmdlet cmdlet, HostStore store, SecureString? given, IEnumerable<string> services,
            string? alsoNeededFor = null)
        {
            if (given != null) return given;
            var needing = cmdlet.Engine(() => Protected(store, services)).ToList();
            if (alsoNeededFor != null) needing.Add(alsoNeededFor);
            if (needing.Count == 0) return null;
            var which = $"The client keys this command opens ({string.Join(", ", needing)}) are protected with a passphrase (protection P)";
            return Prompt(cmdlet, which + ".", confirm: false)
                ?? throw Required(cmdlet, which + $" and no passphrase was given. Give it with -{Parameter} " +
                    $"(a SecureString, e.g. -{Parameter} (Read-Host -AsSecureString)). Nothing was changed.", store.Root);
        }

        /// <summary>
        /// Opens the host's P keys among <paramref name="services"/> now (the host keeps them open), so a wrong passphrase
        /// stops the command before it changes anything.
        /// </summary>
        public static void Verify(HsmCmdlet cmdlet, HsmHost host, IEnumerable<string> services)
        {
            if (host.KeyPassphrase == null) return;
            foreach (var service in cmdlet.Engine(() => host.Store.GetClientKeys()).Where(r => r.ProtectionSpec.NeedsPassphrase
                && services.Contains(r.Service)))
            {
                try { host.ClientKey(service.Service); }
                catch (HsmException ex) when (ex.ErrorId == HsmErrorIds.KeyWrongPassphrase)
                {
                    cmdlet.ThrowTerminatingError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.KeyWrongPassphrase,
                        HsmErrorKind.AuthenticationError,
                        $"The -{Parameter} given does not open this host's {service.Service} client key (protection {service.Protection}). " +
                        "Nothing was changed; give the right passphrase.", service.Service, ex)));
                }
                catch (HsmException ex) { cmdlet.ThrowTerminatingError(HsmCmdlet.ToErrorRecord(ex)); }
            }
        }

        /// <summary>A passphrase for new P keys: the one given, else typed twice in an interactive host, else KeyPassphraseRequired.</summary>
        public static SecureString NewPassphrase(HsmCmdlet cmdlet, SecureString? given, string parameter, string what)
        {
            if (given != null)
            {
                if (given.Length == 0)
                    throw Invalid(cmdlet, $"The passphrase given with -{parameter} is empty; protection P needs a non-empty passphrase.", parameter);
                cmdlet.Engine(() => PassphrasePolicy.Require(given, $"The new passphrase given with -{parameter}", parameter,
                    "Nothing was changed."));
                return given;
            }
            return Prompt(cmdlet, what + $" Type a new passphrase ({PassphrasePolicy.Rule}).", confirm: true, policy: true)
                ?? throw Required(cmdlet, $"{what} Protection P needs a passphrase and none was given: give it with -{parameter} " +
                    $"(a SecureString of {PassphrasePolicy.Rule}). Nothing was changed.", parameter);
        }

        /// <summary>
        /// A passphrase for a portable backup file: the one given (not empty), else typed twice in an interactive host (a
        /// mismatch or an empty answer is refused), else KeyPassphraseRequired naming <paramref name="alternative"/>.
        /// </summary>
        public static SecureString NewBackupPassphrase(HsmCmdlet cmdlet, SecureString? given, string parameter, string what, string alternative)
        {
            if (given != null)
            {
                if (given.Length == 0)
                    throw Invalid(cmdlet,
                        $"The passphrase given with -{parameter} is empty; a portable backup needs a non-empty passphrase. Nothing was written.",
                        parameter);
                return given; // KeyBackup.Write holds it to the passphrase policy
            }
            var ui = cmdlet.Host?.UI;
            var first = ui == null ? null : Ask(ui, what + $" It needs {PassphrasePolicy.Rule}.", "Passphrase", "Backup passphrase", parameter);
            if (first == null)
            {
                cmdlet.ThrowTerminatingError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.InvalidArgument,
                    $"A portable backup needs a passphrase, this host cannot ask for one, and none was given: give it with -{parameter} " +
                    $"(a SecureString of {PassphrasePolicy.Rule}){alternative}. Nothing was written.", parameter)));
            }
            if (first!.Length == 0)
                throw Invalid(cmdlet,
                    "The passphrase typed is empty; a portable backup needs a non-empty passphrase. Nothing was written.", parameter);
            // Refused before it is typed a second time.
            cmdlet.Engine(() => PassphrasePolicy.Require(first, "The passphrase typed", parameter));
            var again = Ask(ui!, "Type the same passphrase again.", "Confirm passphrase", "Backup passphrase", parameter);
            if (again == null || !SameText(first, again))
                throw Invalid(cmdlet, "The two passphrases typed do not match. Nothing was written.", parameter);
            return first;
        }

        /// <summary>
        /// Prompts through the host (masked); null when the host cannot prompt (no UI, -NonInteractive, a runspace without a
        /// host) or nothing was typed. With <paramref name="confirm"/> the passphrase is typed twice and must match.
        /// </summary>
        private static SecureString? Prompt(HsmCmdlet cmdlet, string why, bool confirm, bool policy = false)
        {
            var ui = cmdlet.Host?.UI;
            if (ui == null) return null;
            var first = Ask(ui, why, "Passphrase");
            if (first == null || first.Length == 0) return null;
            if (policy) cmdlet.Engine(() => PassphrasePolicy.Require(first, "The new passphrase typed", Parameter, "Nothing was changed."));
            if (!confirm) return first;
            var again = Ask(ui, "Type the same passphrase again.", "Confirm passphrase");
            if (again == null || !SameText(first, again))
                throw Invalid(cmdlet, "The two passphrases typed do not match. Nothing was changed.", Parameter);
            return first;
        }

        internal static SecureString? Ask(PSHostUserInterface ui, string message, string label,
            string caption = "Client key passphrase", string name = Parameter)
        {
            var field = new FieldDescription(name) { Label = label };
            field.SetParameterType(typeof(SecureString));
            try
            {
                var answer = ui.Prompt(caption, message, new Collection<FieldDescription> { field });
                return answer != null && answer.TryGetValue(name, out var value) ? value?.BaseObject as SecureString : null;
            }
            // A host that cannot read input: pwsh -NonInteractive, the default host of a bare runspace, a service.
            catch (PSInvalidOperationException) { return null; }
            catch (HostException) { return null; }
            catch (NotImplementedException) { return null; }
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

        private static Exception Required(HsmCmdlet cmdlet, string message, object target)
        {
            cmdlet.ThrowTerminatingError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.KeyPassphraseRequired, HsmErrorKind.AuthenticationError,
                message, target)));
            return new InvalidOperationException(); // not reached
        }

        private static Exception Invalid(HsmCmdlet cmdlet, string message, object target)
        {
            cmdlet.ThrowTerminatingError(HsmCmdlet.ToErrorRecord(new HsmException(HsmErrorIds.InvalidProtection, HsmErrorKind.InvalidArgument,
                message, target)));
            return new InvalidOperationException(); // not reached
        }
    }
}
