using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// One implementation of each low-level mechanism in src/: native interop (one file per OS), the cross-process file
    /// lock (Files/FileLock.cs) and the atomic write (Files/SecureFiles.cs). A second copy is where fixes get lost.
    /// </summary>
    public class SingleImplementationTests
    {
        static List<string> FilesMatching(string pattern)
        {
            var regex = new Regex(pattern);
            var src = Path.Combine(RepoPaths.Root, "src");
            return Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(src, f).Replace('\\', '/'))
                .Where(r => !r.Split('/').Any(p => p == "obj" || p == "bin"))
                .Where(r => File.ReadLines(Path.Combine(src, r)).Any(l => regex.IsMatch(l) && !l.TrimStart().StartsWith("//")))
                .OrderBy(r => r, StringComparer.Ordinal).ToList();
        }

        [Fact]
        public void Native_interop_is_declared_in_one_file_per_OS() =>
            Assert.Equal(new[] { "NShield.HsmAdmin.Engine/Interop/UnixNative.cs", "NShield.HsmAdmin.Engine/Interop/WindowsNative.cs",
                    "NShield.HsmAdmin.Simulator/Firmware/SimulatorNative.cs" },
                FilesMatching(@"\[(DllImport|LibraryImport)\("));

        [Fact]
        public void Only_FileLock_opens_a_lock_file_exclusively() =>
            Assert.Equal(new[] { "NShield.HsmAdmin.Engine/Files/FileLock.cs" },
                FilesMatching(@"FileMode\.OpenOrCreate.*FileShare\.None"));

        [Fact]
        public void Only_SecureFiles_renames_a_file_into_place() =>
            Assert.Equal(new[] { "NShield.HsmAdmin.Engine/Files/SecureFiles.cs", "NShield.HsmAdmin.Engine/Interop/UnixNative.cs" },
                FilesMatching(@"File\.Replace\(|File\.Move\(|\brename_?\("));
    }
}
