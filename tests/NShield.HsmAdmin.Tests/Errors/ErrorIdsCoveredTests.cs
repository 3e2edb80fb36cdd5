using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Errors
{
    /// <summary>
    /// Every error id is produced by at least one test that asserts it (runbooks match on ids, so an id no test ever sees
    /// may be wrong or dead). Reads the test sources: xUnit (tests/**/*.cs) and Pester (pester/*.ps1).
    /// An id counts as asserted when
    /// - C#: a line with "Assert." (or a test data row: "new object[]", "InlineData") names HsmErrorIds.Id or the string "Id...;
    /// - Pester: a line with "Should" names the id as a word, or a test case row sets Id/ErrorId = 'Id'.
    /// </summary>
    public class ErrorIdsCoveredTests
    {
        /// <summary>
        /// The only ids no test is expected to produce, and why. Each must be documented as reserved in docs/errors.md and
        /// raised nowhere in src/: the moment the product raises one, it leaves this list and needs a test.
        /// </summary>
        static readonly IReadOnlyDictionary<string, string> Reserved = new Dictionary<string, string>
        {
            ["NoTrustedRoot"] = "reserved: without a root, enrollment asks for fingerprints and fails with FingerprintNotConfirmed",
            ["ModuleNotEnrolled"] = "reserved: a module that is not enrolled shows Status NotEnrolled and is enrolled by Invoke-HsmEnroll",
            ["ModuleInFactoryState"] = "reserved: a factory-state module shows Mode FactoryState and is enrolled by Invoke-HsmEnroll",
            ["ModuleReleased"] = "reserved: a released module shows Status Released / Action AwaitingRemoval",
        };

        static IEnumerable<string> Sources(string root, string folder, string pattern) =>
            Directory.EnumerateFiles(Path.Combine(root, folder), pattern, SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));

        static string[] Defined() => typeof(HsmErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Concat(typeof(NShield.HsmAdmin.Simulation.SimulatorErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static))
            .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!).ToArray();

        /// <summary>The ids some test asserts, from the given source files.</summary>
        internal static HashSet<string> Asserted(IEnumerable<string> ids, IEnumerable<(string Path, string[] Lines)> files)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var id in ids)
            {
                var cs = new Regex(@"((Hsm|Simulator)ErrorIds\." + id + @"\b|""" + id + @"\b)");
                var psWord = new Regex(@"\b" + id + @"\b");
                var psRow = new Regex(@"\b(Error)?Id\s*=\s*['""]" + id + @"['""]");
                foreach (var (path, lines) in files)
                {
                    bool found = path.EndsWith(".cs", StringComparison.Ordinal)
                        ? lines.Any(l => cs.IsMatch(l) && (l.Contains("Assert.") || l.Contains("new object[]") || l.Contains("InlineData")))
                        : lines.Any(l => (Regex.IsMatch(l, @"\bShould\b") && psWord.IsMatch(l)) || psRow.IsMatch(l));
                    if (found) { seen.Add(id); break; }
                }
            }
            return seen;
        }

        [Fact]
        public void Every_error_id_is_asserted_by_some_test_except_the_reserved_ones()
        {
            var root = RepoPaths.Root;
            var self = Path.Combine("Errors", "ErrorIds");   // this file and the documentation test list every id
            var files = Sources(root, "tests", "*.cs").Where(f => !f.Contains(self))
                .Concat(Sources(root, "pester", "*.ps1"))
                .Select(f => (f, File.ReadAllLines(f))).ToList();
            Assert.Contains(files, f => f.Item1.EndsWith(".ps1", StringComparison.Ordinal));
            var defined = Defined();
            Assert.True(defined.Length > 40, $"only {defined.Length} ids found in HsmErrorIds");
            var asserted = Asserted(defined, files);
            var missing = defined.Where(id => !asserted.Contains(id) && !Reserved.ContainsKey(id)).OrderBy(x => x, StringComparer.Ordinal).ToArray();
            Assert.True(missing.Length == 0, "No test asserts these error ids (add a test that produces and asserts each): " + string.Join(", ", missing));
            var needless = Reserved.Keys.Where(asserted.Contains).ToArray();
            Assert.True(needless.Length == 0, "Excepted as reserved, but a test asserts them: take them off the list: " + string.Join(", ", needless));
        }

        [Fact]
        public void The_reserved_ids_are_documented_as_reserved_and_raised_nowhere()
        {
            var root = RepoPaths.Root;
            var doc = File.ReadAllLines(Path.Combine(root, "docs", "errors.md"));
            var raisedIn = Sources(root, "src", "*.cs").Where(f => !f.EndsWith("HsmErrorIds.cs", StringComparison.Ordinal))
                .Select(f => (f, File.ReadAllText(f))).ToList();
            foreach (var id in Reserved.Keys)
            {
                Assert.Contains(id, Defined());
                Assert.True(doc.Any(l => l.StartsWith($"| `{id}` |", StringComparison.Ordinal) && l.Contains("Reserved")), $"{id} is not documented as reserved in docs/errors.md");
                var users = raisedIn.Where(s => s.Item2.Contains("HsmErrorIds." + id)).Select(s => s.f).ToArray();
                Assert.True(users.Length == 0, $"{id} is excepted as reserved but src/ uses it ({string.Join(", ", users)}): it needs a test, not an exception");
            }
        }

        [Fact]
        public void The_scan_tells_an_assertion_from_a_mention()
        {
            var ids = new[] { "RollIncomplete", "ModuleError", "Cancelled", "InvalidPort" };
            var files = new List<(string, string[])>
            {
                ("a.cs", new[] { "Assert.Equal(HsmErrorIds.ModuleError, e.ErrorId);", "var x = HsmErrorIds.Cancelled; // not asserted" }),
                ("b.ps1", new[] { "($errs.FullyQualifiedErrorId -join ' ') | Should -Match 'RollIncomplete'", "# InvalidPort in a comment" }),
            };
            var seen = Asserted(ids, files);
            Assert.Equal(new[] { "ModuleError", "RollIncomplete" }, seen.OrderBy(x => x, StringComparer.Ordinal).ToArray());
        }
    }
}
