using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using NShield.HsmAdmin.Protection;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Where a file the user names may not go: into the host store, into the machine folder, or onto a file the product
    /// manages (factory credential, hardserver restart command and pid file). Compared after every symbolic link is
    /// resolved, so a link pointing into the store is refused like the store path itself (issue 23, item 1).
    /// </summary>
    public static class ManagedPaths
    {
        static StringComparison Comparison => RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

        /// <summary>
        /// The path with every symbolic link in it resolved (the parts that exist; the rest appended as given).
        /// Loops of links end after 40 hops like the kernel's ELOOP, and the path is then returned as far as resolved.
        /// </summary>
        public static string Resolve(string path)
        {
            var full = Path.GetFullPath(path);
            var root = Path.GetPathRoot(full) ?? "/";
            var parts = full.Substring(root.Length).Split(new[] { Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar },
                StringSplitOptions.RemoveEmptyEntries);
            var current = root;
            int hops = 0;
            var pending = new Queue<string>(parts);
            while (pending.Count > 0)
            {
                var next = Path.Combine(current, pending.Dequeue());
                var link = LinkTarget(next);
                if (link != null && hops++ < 40)
                {
                    // Resolve one hop and re-walk its target (it may itself hold links), keeping what follows.
                    var target = Path.GetFullPath(Path.Combine(current, link));
                    var rest = pending.ToArray();
                    var targetRoot = Path.GetPathRoot(target) ?? "/";
                    pending = new Queue<string>(target.Substring(targetRoot.Length)
                        .Split(new[] { Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar }, StringSplitOptions.RemoveEmptyEntries)
                        .Concat(rest));
                    current = targetRoot;
                    continue;
                }
                current = next;
            }
            return current;
        }

        static string? LinkTarget(string path)
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return null; // untested there: reparse points are not followed
            return Interop.UnixNative.ReadLink(path);
        }

        static bool IsUnder(string path, string folder)
        {
            var f = folder.TrimEnd(Path.DirectorySeparatorChar);
            return string.Equals(path, f, Comparison) || path.StartsWith(f + Path.DirectorySeparatorChar, Comparison);
        }

        /// <summary>
        /// Refuses (<see cref="HsmErrorIds.PathRefused"/>, nothing written) a path that is, or resolves to, a folder, a
        /// place inside the host store or the machine folder, or a file the host configuration names.
        /// </summary>
        public static void CheckWritableTarget(HostStore store, string path, string what)
        {
            var resolved = Resolve(path);
            if (Directory.Exists(resolved))
                throw new HsmException(HsmErrorIds.PathRefused, HsmErrorKind.InvalidArgument,
                    $"'{path}' is a folder; {what} needs a file name (for example '{Path.Combine(path, "sshadmin.backup")}'). Nothing was written.",
                    path);
            var via = string.Equals(resolved, Path.GetFullPath(path), Comparison) ? "" : $" (it resolves to '{resolved}')";
            foreach (var (folder, name) in Protected(store))
            {
                if (IsUnder(resolved, Resolve(folder)))
                    throw new HsmException(HsmErrorIds.PathRefused, HsmErrorKind.InvalidArgument,
                        $"'{path}'{via} is inside {name} '{folder}': {what} never writes there, since it could replace a file the host " +
                        "relies on (its keys, pins or audit log). Write it outside that folder. Nothing was written.", path);
            }
            foreach (var (file, name) in ManagedFiles(store))
            {
                if (string.Equals(resolved, Resolve(file), Comparison))
                    throw new HsmException(HsmErrorIds.PathRefused, HsmErrorKind.InvalidArgument,
                        $"'{path}'{via} is {name} '{file}', a file the host relies on: {what} never writes over it. Nothing was written.", path);
            }
        }

        static IEnumerable<(string Folder, string Name)> Protected(HostStore store)
        {
            yield return (store.Root, "the host store");
            yield return (store.MachineRoot, "the machine folder");
            if (store.Machine is LocalMachineIdentity local) yield return (local.MachineDirectory, "the machine folder");
            yield return (LocalMachineIdentity.DefaultMachineDirectory(), "this machine's machine folder");
            yield return (HostStoreLocation.SystemDefault, "the system host store");
        }

        static IEnumerable<(string File, string Name)> ManagedFiles(HostStore store)
        {
            HostConfiguration configuration;
            try { configuration = store.GetConfiguration(); }
            catch (HsmException) { yield break; }
            if (!string.IsNullOrEmpty(configuration.FactoryCredentialPath)) yield return (configuration.FactoryCredentialPath!,
                "the factory credential");
            if (!string.IsNullOrEmpty(configuration.Hardserver?.RestartCommand)) yield return (configuration.Hardserver!.RestartCommand!,
                "the hardserver restart command");
            if (!string.IsNullOrEmpty(configuration.Hardserver?.PidFile)) yield return (configuration.Hardserver!.PidFile!,
                "the hardserver pid file");
        }
    }
}
