using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;

namespace NShield.HsmAdmin.Loader
{
    /// <summary>Called once per import by NShield.HsmAdmin.psm1: returns NShield.HsmAdmin.dll loaded in isolation.</summary>
    public static class ModuleLoader
    {
        public const string ModuleAssemblyName = "NShield.HsmAdmin";
        private static readonly object Sync = new object();
        // One loaded module per deps folder: a re-import (Import-Module -Force, Remove-Module then Import-Module)
        // must get the same assembly, while two installed copies of the module stay apart.
        private static readonly Dictionary<string, Assembly> Loaded = new Dictionary<string, Assembly>(StringComparer.Ordinal);
#if NET
        private static readonly Dictionary<string, ModuleLoadContext> Contexts = new Dictionary<string, ModuleLoadContext>(StringComparer.Ordinal);
#endif
        private static string? _lastDepsDir;

        public static Assembly Load(string depsDir)
        {
            var dir = Path.GetFullPath(depsDir);
            lock (Sync)
            {
                if (Loaded.TryGetValue(dir, out var done)) return done;
                var main = Path.Combine(dir, ModuleAssemblyName + ".dll");
                if (!File.Exists(main)) throw new FileNotFoundException($"The module assembly was not found at '{main}'. Rebuild the module.", main);
#if NET
                var context = new ModuleLoadContext(dir);
                Contexts[dir] = context;
                var asm = context.LoadFromAssemblyPath(main);
#else
                var asm = DesktopResolver.Load(dir, main);
#endif
                Loaded[dir] = asm;
                _lastDepsDir = dir;
                return asm;
            }
        }

        /// <summary>
        /// Loads another module's assembly (the simulator's cmdlets, or a test hook) into the same isolated context as the
        /// product's last loaded copy, so both see one engine. Its own dependencies are looked up in its folder first.
        /// </summary>
        public static Assembly LoadExtension(string extensionDir, string assemblyName)
        {
            var dir = Path.GetFullPath(extensionDir);
            lock (Sync)
            {
                var depsDir = _lastDepsDir ?? throw new InvalidOperationException("Import NShield.HsmAdmin before a module that extends it.");
                var path = Path.Combine(dir, assemblyName + ".dll");
                if (!File.Exists(path)) throw new FileNotFoundException($"The assembly was not found at '{path}'. Rebuild the module.", path);
#if NET
                var context = Contexts[depsDir];
                context.AddProbeDirectory(dir);
                foreach (var loaded in context.Assemblies)
                    if (string.Equals(loaded.GetName().Name, assemblyName, StringComparison.Ordinal)) return loaded;
                return context.LoadFromAssemblyPath(path);
#else
                return DesktopResolver.LoadExtension(depsDir, dir, path);
#endif
            }
        }
    }
}
