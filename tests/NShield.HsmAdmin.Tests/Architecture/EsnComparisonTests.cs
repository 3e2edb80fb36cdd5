using NShield.HsmAdmin.Modules;
using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// The ESN is a value type parsed once (issue 20, item 7): canonical uppercase, so the product compares ESNs ordinally
    /// and never case-insensitively (a line that mentions an ESN and ignores case is a comparison that distrusts the parse).
    /// </summary>
    public class EsnComparisonTests
    {
        // Where the keys and lists are ESNs (operations, the module seam, completion) nothing ignores case; the one exception
        // is what a person is typing (a completion prefix). Anywhere else in the product a line that names an ESN and ignores
        // case is flagged too.
        private static readonly string[] EsnFolders = { "NShield.HsmAdmin.Engine/Operations", "NShield.HsmAdmin.Engine/Modules", "NShield.HsmAdmin/Completion" };
        private static readonly string[] Allowed = { "c.Value.StartsWith(typed, StringComparison.OrdinalIgnoreCase)" };

        [Fact]
        public void The_product_never_compares_esns_ignoring_case()
        {
            var roots = new[] { "NShield.HsmAdmin", "NShield.HsmAdmin.Engine" }.Select(p => Path.Combine(RepoPaths.Root, "src", p));
            var found = roots.SelectMany(r => Directory.EnumerateFiles(r, "*.cs", SearchOption.AllDirectories))
                .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part == "bin" || part == "obj"))
                .SelectMany(f => File.ReadAllLines(f).Select((line, i) => (f, line, i)))
                .Where(l => l.line.Contains("IgnoreCase") && !Allowed.Any(a => l.line.Contains(a)))
                .Where(l => Regex.IsMatch(l.line, "esn", RegexOptions.IgnoreCase)
                    || EsnFolders.Any(d => l.f.Replace(Path.DirectorySeparatorChar, '/').Contains("/src/" + d + "/")))
                .Select(l => $"{Path.GetFileName(l.f)}:{l.i + 1}: {l.line.Trim()}")
                .ToList();
            Assert.True(found.Count == 0, string.Join(Environment.NewLine, found));
            Assert.All(Allowed, a => Assert.Contains(roots.SelectMany(r => Directory.EnumerateFiles(r, "*.cs", SearchOption.AllDirectories))
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")), f => File.ReadAllText(f).Contains(a)));
        }

        [Fact]
        public void An_esn_is_parsed_to_its_canonical_form_and_compares_by_value()
        {
            var a = Esn.Parse(" 8a2c-91f3-0d4e ");
            Assert.Equal("8A2C-91F3-0D4E", a.Value);
            Assert.Equal(a, Esn.Parse("8A2C-91F3-0D4E"));
            Assert.True(a == Esn.Parse("8A2C-91f3-0D4E"));
            Assert.Equal("8A2C-91F3-0D4E", (string)a);
            Assert.False(Esn.TryParse("DA2A-1164-CE2", out _));
            Assert.Equal("8A2C-*", Esn.ParsePattern("8a2c-*"));
            Assert.Equal("InvalidEsn", Assert.Throws<HsmException>(() => Esn.Parse("12345")).ErrorId);
        }
    }
}
