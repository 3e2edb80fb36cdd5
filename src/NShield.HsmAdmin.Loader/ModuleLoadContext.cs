#if NET
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;

namespace NShield.HsmAdmin.Loader
{
    /// <summary>
    /// PowerShell 7: a private AssemblyLoadContext over the module's deps folder. Everything the folder holds
    /// (cmdlets, engine, SSH.NET, BouncyCastle, Microsoft.Extensions.*) loads here, whatever versions other
    /// modules put in the default context first. The rest (System.Management.Automation, the .NET runtime)
    /// comes from the default context, so PowerShell's types stay the ones the session knows.
    /// </summary>
    internal sealed class ModuleLoadContext : AssemblyLoadContext
    {
        private static readonly string FrameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location) ?? "";
        private readonly string _depsDir;
        // Folders of modules that extend this one (the simulator): probed after the product's own folder.
        private readonly List<string> _extensionDirs = new List<string>();

        // Not collectible: PowerShell cannot unload a binary module, and a re-import must find the same types.
        public ModuleLoadContext(string depsDir) : base("NShield.HsmAdmin", isCollectible: false) => _depsDir = depsDir;

        public void AddProbeDirectory(string dir)
        {
            lock (_extensionDirs) if (!_extensionDirs.Contains(dir)) _extensionDirs.Add(dir);
        }

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (string.IsNullOrEmpty(assemblyName.Name)) return null;
            var path = Path.Combine(_depsDir, assemblyName.Name + ".dll");
            if (!File.Exists(path))
            {
                lock (_extensionDirs) path =
                    _extensionDirs.Select(d => Path.Combine(d, assemblyName.Name + ".dll")).FirstOrDefault(File.Exists) ?? "";
                if (path.Length == 0) return null;
            }
            // netstandard2.0 publishes carry package copies of runtime assemblies (System.Memory, System.Text.Json, ...).
            // The runtime's own copy is the one to use when it is new enough: a second copy of a runtime assembly
            // would split types such as Span<T> from the framework's. No other module can replace these anyway.
            if (IsProvidedByFramework(assemblyName)) return null;
            return LoadFromAssemblyPath(path);
        }

        private static bool IsProvidedByFramework(AssemblyName requested)
        {
            var fx = Path.Combine(FrameworkDir, requested.Name + ".dll");
            if (!File.Exists(fx)) return false;
            try
            {
                var have = AssemblyName.GetAssemblyName(fx).Version;
                return requested.Version == null || (have != null && have >= requested.Version);
            }
            catch (Exception) { return false; }
        }
    }
}
#endif
