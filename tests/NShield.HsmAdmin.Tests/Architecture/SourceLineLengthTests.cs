using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// The .editorconfig rule "150 characters at most" holds for the product and simulator sources: every tracked file under
    /// src/ (C#, PowerShell scripts, manifests, project and format files) is read line by line, and each line that is longer is
    /// listed as file:line (length).
    /// </summary>
    public class SourceLineLengthTests
    {
        private const int MaxLineLength = 150;

        private static readonly string[] Extensions = { ".cs", ".psm1", ".psd1", ".ps1", ".csproj", ".ps1xml" };

        // The files git tracks under src/ (what a commit holds); without git (a copied tree), every such file under src/
        // except the build output folders bin/ and obj/.
        private static IReadOnlyList<string> SourceFiles()
        {
            var tracked = GitTrackedFiles();
            var files = tracked ?? Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "src"), "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(RepoPaths.Root, f).Replace(Path.DirectorySeparatorChar, '/'))
                .Where(f => !f.Split('/').Any(part => part == "bin" || part == "obj"))
                .ToList();
            return files.Where(f => Extensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase))).OrderBy(f => f, StringComparer.Ordinal).ToList();
        }

        private static List<string>? GitTrackedFiles()
        {
            try
            {
                var start = new ProcessStartInfo("git", "ls-files -z src")
                {
                    WorkingDirectory = RepoPaths.Root,
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                using var git = Process.Start(start)!;
                var output = git.StandardOutput.ReadToEnd();
                git.StandardError.ReadToEnd();
                git.WaitForExit();
                return git.ExitCode == 0 ? output.Split('\0', StringSplitOptions.RemoveEmptyEntries).ToList() : null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }

        [Fact]
        public void Every_source_line_under_src_is_at_most_150_characters()
        {
            var files = SourceFiles();
            Assert.Contains(files, f => f.EndsWith(".cs", StringComparison.Ordinal));
            Assert.Contains(files, f => f.EndsWith(".psm1", StringComparison.Ordinal));
            var tooLong = new List<string>();
            foreach (var file in files)
            {
                var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, file));
                for (var i = 0; i < lines.Length; i++)
                    if (lines[i].Length > MaxLineLength) tooLong.Add($"{file}:{i + 1} ({lines[i].Length} characters)");
            }
            Assert.True(tooLong.Count == 0,
                $"{tooLong.Count} line(s) under src/ are longer than {MaxLineLength} characters (.editorconfig max_line_length); wrap them:" +
                Environment.NewLine + string.Join(Environment.NewLine, tooLong));
        }
    }
}
