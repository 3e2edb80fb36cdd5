using System;
using System.IO;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    /// <summary>
    /// The checkout these tests were built from, found once above the test binaries (the folder with
    /// NShield.HsmAdmin.psd1, src/, docs/ and pester/): tests that read the sources or docs take their paths from here.
    /// </summary>
    internal static class RepoPaths
    {
        static readonly Lazy<string> _root = new(Find);

        public static string Root => _root.Value;

        static string Find()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "NShield.HsmAdmin.psd1")) && Directory.Exists(Path.Combine(dir.FullName, "src"))
                    && Directory.Exists(Path.Combine(dir.FullName, "docs")) && Directory.Exists(Path.Combine(dir.FullName, "pester")))
                    return dir.FullName;
            throw new DirectoryNotFoundException("the repository (NShield.HsmAdmin.psd1, src/, docs/, pester/) was not found above " + AppContext.BaseDirectory);
        }
    }
}
