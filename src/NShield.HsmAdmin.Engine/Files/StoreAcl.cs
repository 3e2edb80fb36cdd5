using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.AccessControl;
using System.Security.Principal;

namespace NShield.HsmAdmin.Files
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
            public InheritanceFlags Inheritance => InheritedByChildren ? InheritanceFlags.ContainerInherit | InheritanceFlags.ObjectInherit
                : InheritanceFlags.None;
            public PropagationFlags Propagation => PropagationFlags.None;
            public override string ToString() => $"{Type} {Rights} {Sid} ({Inheritance})";
        }

        /// <summary>Inheritance from the parent is disabled on everything the product restricts.</summary>
        public const bool ProtectedFromParent = true;

        public static IReadOnlyList<Rule> Rules(Scope scope, string ownerSid, bool directory)
        {
            if (scope != Scope.Administrators && string.IsNullOrEmpty(ownerSid))
                throw new ArgumentException("An owner SID is needed.", nameof(ownerSid));
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
            "D:" + (ProtectedFromParent ? "PAI" : "AI") +
            string.Concat(rules.Select(r => $"(A;{(r.InheritedByChildren ? "OICI" : "")};FA;;;{r.Sid})"));

        public static string Sddl(Scope scope, string ownerSid, bool directory) => Sddl(Rules(scope, ownerSid, directory));

        /// <summary>One entry of an existing DACL, as data: whom it names, what it grants or denies.</summary>
        internal readonly struct Entry
        {
            public Entry(string sid, FileSystemRights rights, AccessControlType type = AccessControlType.Allow)
            {
                Sid = sid; Rights = rights; Type = type;
            }
            public string Sid { get; }
            public FileSystemRights Rights { get; }
            public AccessControlType Type { get; }
        }

        /// <summary>
        /// Rights that let an account change what is in a folder or file, or give itself that right: write data / create
        /// files, append data / create folders, delete children, change permissions, take ownership.
        /// </summary>
        internal const FileSystemRights ChangingRights = FileSystemRights.WriteData | FileSystemRights.AppendData |
            FileSystemRights.DeleteSubdirectoriesAndFiles | FileSystemRights.ChangePermissions | FileSystemRights.TakeOwnership;

        /// <summary>
        /// The Windows rule for an existing store item, on plain data (tested on any OS): null when acceptable, else what is
        /// wrong. The owner must be <paramref name="userSid"/>, Administrators or SYSTEM; no allow entry for any other SID
        /// may carry <see cref="ChangingRights"/> (inherit-only entries included: they reach what is created later).
        /// Deny entries only take rights away and are ignored.
        /// </summary>
        internal static string? Problem(string? ownerSid, IEnumerable<Entry> entries, string userSid)
        {
            bool Trusted(string? sid) => sid != null && (string.Equals(sid, userSid, StringComparison.OrdinalIgnoreCase) ||
                                                         sid == AdministratorsSid || sid == LocalSystemSid);
            if (!Trusted(ownerSid))
                return $"owned by {(string.IsNullOrEmpty(ownerSid) ? "an unknown account" : ownerSid)}, " +
                    "not by this account, Administrators or SYSTEM";
            foreach (var e in entries)
                if (e.Type == AccessControlType.Allow && !Trusted(e.Sid) && (e.Rights & ChangingRights) != 0)
                    return $"changeable by {e.Sid} (its ACL allows {e.Rights & ChangingRights})";
            return null;
        }

        // ---- Windows only from here ----

        /// <summary>Reads owner and DACL of an existing folder or file and applies <see cref="Problem"/> (Windows; untested here).</summary>
        public static string? ProblemOnWindows(string path)
        {
            FileSystemSecurity security = System.IO.Directory.Exists(path)
                ? System.IO.FileSystemAclExtensions.GetAccessControl(new System.IO.DirectoryInfo(path),
                    AccessControlSections.Owner | AccessControlSections.Access)
                : System.IO.FileSystemAclExtensions.GetAccessControl(new System.IO.FileInfo(path),
                    AccessControlSections.Owner | AccessControlSections.Access);
            var owner = security.GetOwner(typeof(SecurityIdentifier))?.Value;
            var entries = security.GetAccessRules(includeExplicit: true, includeInherited: true, typeof(SecurityIdentifier))
                .Cast<FileSystemAccessRule>()
                .Select(r => new Entry(r.IdentityReference.Value, r.FileSystemRights, r.AccessControlType));
            return Problem(owner, entries, CurrentUserSid());
        }

        /// <summary>The SID of the account this process runs as (Windows).</summary>
        public static string CurrentUserSid() => WindowsIdentity.GetCurrent().User!.Value;

        public static DirectorySecurity DirectorySecurity(Scope scope)
        {
            var security = new DirectorySecurity();
            security.SetSecurityDescriptorSddlForm(Sddl(scope, scope == Scope.Administrators ? "" : CurrentUserSid(), directory: true),
                AccessControlSections.Access);
            return security;
        }

        public static FileSecurity FileSecurity(Scope scope)
        {
            var security = new FileSecurity();
            security.SetSecurityDescriptorSddlForm(Sddl(scope, scope == Scope.Administrators ? "" : CurrentUserSid(), directory: false),
                AccessControlSections.Access);
            return security;
        }
    }
}
