using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.AccessControl;
using System.Security.Principal;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Every Windows ACL the product puts on what it creates, in one place. Each is a protected DACL (inheritance from
    /// the parent disabled, so %ProgramData%'s "Users may create files" does not reach the store) of FullControl allow
    /// entries, built as an SDDL string that Windows turns into the security descriptor. The rule sets and SDDL are plain
    /// data, tested on any OS; applying them needs Windows (see docs/store-security.md for what is untested here).
    /// </summary>
    internal static class StoreAcl
    {
        public const string AdministratorsSid = "S-1-5-32-544"; // BUILTIN\Administrators
        public const string LocalSystemSid = "S-1-5-18";        // NT AUTHORITY\SYSTEM

        /// <summary>Who gets what on one object.</summary>
        internal enum Scope
        {
            /// <summary>The host store folder: its owner, Administrators and SYSTEM; inherited by everything created inside.</summary>
            StoreRoot,
            /// <summary>Secrets of the writing account (client-keys/, private key files): the owner only.</summary>
            OwnerOnly,
            /// <summary>Machine secrets (global nonce): Administrators and SYSTEM only.</summary>
            Administrators,
        }

        /// <summary>One allow entry: FullControl for <see cref="Sid"/>; on a folder, inherited by files and subfolders.</summary>
        internal readonly struct Rule
        {
            public Rule(string sid, bool inherited) { Sid = sid; InheritedByChildren = inherited; }
            public string Sid { get; }
            public bool InheritedByChildren { get; }
            public FileSystemRights Rights => FileSystemRights.FullControl;
            public AccessControlType Type => AccessControlType.Allow;
            public InheritanceFlags Inheritance => InheritedByChildren ? InheritanceFlags.ContainerInherit | InheritanceFlags.ObjectInherit : InheritanceFlags.None;
            public PropagationFlags Propagation => PropagationFlags.None;
            public override string ToString() => $"{Type} {Rights} {Sid} ({Inheritance})";
        }

        /// <summary>Inheritance from the parent is disabled on everything the product restricts.</summary>
        public const bool ProtectedFromParent = true;

        public static IReadOnlyList<Rule> Rules(Scope scope, string ownerSid, bool directory)
        {
            if (scope != Scope.Administrators && string.IsNullOrEmpty(ownerSid)) throw new ArgumentException("An owner SID is needed.", nameof(ownerSid));
            var sids = scope switch
            {
                Scope.StoreRoot => new[] { ownerSid, AdministratorsSid, LocalSystemSid },
                Scope.OwnerOnly => new[] { ownerSid },
                _ => new[] { AdministratorsSid, LocalSystemSid },
            };
            return sids.Distinct(StringComparer.OrdinalIgnoreCase).Select(s => new Rule(s, directory)).ToList();
        }

        /// <summary>The DACL as SDDL, e.g. D:PAI(A;OICI;FA;;;S-1-5-21-…)(A;OICI;FA;;;S-1-5-32-544)(A;OICI;FA;;;S-1-5-18).</summary>
        public static string Sddl(IEnumerable<Rule> rules) =>
            "D:" + (ProtectedFromParent ? "PAI" : "AI") + string.Concat(rules.Select(r => $"(A;{(r.InheritedByChildren ? "OICI" : "")};FA;;;{r.Sid})"));

        public static string Sddl(Scope scope, string ownerSid, bool directory) => Sddl(Rules(scope, ownerSid, directory));

        // ---- Windows only from here ----

        /// <summary>The SID of the account this process runs as (Windows).</summary>
        public static string CurrentUserSid() => WindowsIdentity.GetCurrent().User!.Value;

        public static DirectorySecurity DirectorySecurity(Scope scope)
        {
            var security = new DirectorySecurity();
            security.SetSecurityDescriptorSddlForm(Sddl(scope, scope == Scope.Administrators ? "" : CurrentUserSid(), directory: true), AccessControlSections.Access);
            return security;
        }

        public static FileSecurity FileSecurity(Scope scope)
        {
            var security = new FileSecurity();
            security.SetSecurityDescriptorSddlForm(Sddl(scope, scope == Scope.Administrators ? "" : CurrentUserSid(), directory: false), AccessControlSections.Access);
            return security;
        }
    }
}
