#if !NET
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;

namespace NShield.HsmAdmin.Loader
{
    /// <summary>
    /// Windows PowerShell 5.1 has no AssemblyLoadContext. The module assembly is loaded with Assembly.LoadFile
    /// (neither the Load nor the LoadFrom context, so nothing in the deps folder is found by normal probing);
    /// each dependency then fails normal binding and is served here from the deps folder, also with LoadFile.
    /// That keeps our SSH.NET/BouncyCastle side by side with other versions other modules loaded, and acts as
    /// the binding redirects .NET Framework needs for netstandard2.0 packages (System.Memory, System.Buffers, ...).
    /// </summary>
    internal static class DesktopResolver
    {
        private static readonly object Sync = new object();
        // deps folder (with trailing separator) -> simple name -> assembly already handed out.
        private static readonly Dictionary<string, Dictionary<string, Assembly>> Folders =
            new Dictionary<string, Dictionary<string, Assembly>>(StringComparer.OrdinalIgnoreCase);
        private static bool _hooked;

        public static Assembly Load(string depsDir, string mainPath)
        {
            lock (Sync)
            {
                var key = WithSeparator(depsDir);
                if (!Folders.ContainsKey(key)) Folders[key] = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
                if (!_hooked)
                {
                    // Never removed: the assemblies stay loaded after Remove-Module and still need their dependencies.
                    AppDomain.CurrentDomain.AssemblyResolve += OnAssemblyResolve;
                    _hooked = true;
                }
                return LoadOne(key, Path.GetFileNameWithoutExtension(mainPath), mainPath);
            }
        }

        /// <summary>An extension (the simulator's cmdlets): its folder resolves first from itself, then from the product's.</summary>
        public static Assembly LoadExtension(string depsDir, string extensionDir, string path)
        {
            lock (Sync)
            {
                var key = WithSeparator(extensionDir);
                if (!Folders.ContainsKey(key)) Folders[key] = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
                Fallbacks[key] = WithSeparator(depsDir);
                return LoadOne(key, Path.GetFileNameWithoutExtension(path), path);
            }
        }

        // extension folder -> the product's deps folder it also resolves from.
        private static readonly Dictionary<string, string> Fallbacks = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

        private static Assembly? OnAssemblyResolve(object? sender, ResolveEventArgs args)
        {
            string? name;
            try { name = new AssemblyName(args.Name).Name; }
            catch (Exception) { return null; }
            if (string.IsNullOrEmpty(name)) return null;
            lock (Sync)
            {
                // Only requests from our own assemblies (or with no requester, as for some late-bound loads):
                // another module's failed binds are not ours to answer.
                var requester = args.RequestingAssembly;
                string? requesterDir = null;
                if (requester != null)
                {
                    try { requesterDir = WithSeparator(Path.GetDirectoryName(requester.Location) ?? ""); }
                    catch (Exception) { return null; }
                    if (!Folders.ContainsKey(requesterDir)) return null;
                }
                var folders = requesterDir == null ? new List<string>(Folders.Keys).ToArray()
                    : Fallbacks.TryGetValue(requesterDir, out var fallback) ? new[] { requesterDir, fallback } : new[] { requesterDir };
                foreach (var folder in folders)
                {
                    var path = Path.Combine(folder, name + ".dll");
                    if (Folders[folder].ContainsKey(name!) || File.Exists(path)) return LoadOne(folder, name!, path);
                }
                return null;
            }
        }

        private static Assembly LoadOne(string folder, string name, string path)
        {
            var cache = Folders[folder];
            if (cache.TryGetValue(name, out var asm)) return asm;
            asm = Assembly.LoadFile(path);
            cache[name] = asm;
            return asm;
        }

        private static string WithSeparator(string dir)
        {
            var full = Path.GetFullPath(dir);
            return full.EndsWith(Path.DirectorySeparatorChar.ToString(), StringComparison.Ordinal) ? full : full + Path.DirectorySeparatorChar;
        }
    }
}
#endif
