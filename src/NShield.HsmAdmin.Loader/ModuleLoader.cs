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

        public static Assembly Load(string depsDir)
        {
            var dir = Path.GetFullPath(depsDir);
            lock (Sync)
            {
                if (Loaded.TryGetValue(dir, out var done)) return done;
                var main = Path.Combine(dir, ModuleAssemblyName + ".dll");
                if (!File.Exists(main)) throw new FileNotFoundException($"The module assembly was not found at '{main}'. Rebuild the module.", main);
#if NET
                var asm = new ModuleLoadContext(dir).LoadFromAssemblyPath(main);
#else
                var asm = DesktopResolver.Load(dir, main);
#endif
                Loaded[dir] = asm;
                return asm;
            }
        }
    }
}
