using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Errors
{
    /// <summary>docs/errors.md lists exactly the ids in HsmErrorIds and the simulator's SimulatorErrorIds: runbooks match on them, so none may go undocumented.</summary>
    public class ErrorIdsDocumentedTests
    {
        [Fact]
        public void Every_error_id_is_in_docs_errors_md_and_the_doc_lists_no_other()
        {
            var defined = typeof(HsmErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static)
                .Concat(typeof(NShield.HsmAdmin.Simulation.SimulatorErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static))
                .Where(f => f.IsLiteral && f.FieldType == typeof(string))
                .Select(f => (string)f.GetRawConstantValue()!)
                .ToHashSet(StringComparer.Ordinal);
            // A table row: | `Id` | Category | When | What to do |
            var documented = File.ReadLines(Path.Combine(RepoPaths.Root, "docs", "errors.md"))
                .Select(l => Regex.Match(l, @"^\|\s*`([A-Za-z]+)`\s*\|"))
                .Where(m => m.Success).Select(m => m.Groups[1].Value)
                .ToHashSet(StringComparer.Ordinal);

            Assert.NotEmpty(defined);
            Assert.NotEmpty(documented);
            var undocumented = defined.Except(documented).OrderBy(x => x, StringComparer.Ordinal).ToArray();
            var unknown = documented.Except(defined).OrderBy(x => x, StringComparer.Ordinal).ToArray();
            Assert.True(undocumented.Length == 0 && unknown.Length == 0,
                $"HsmErrorIds and docs/errors.md differ. Not in docs/errors.md: [{string.Join(", ", undocumented)}]; " +
                $"in docs/errors.md but not in HsmErrorIds: [{string.Join(", ", unknown)}].");
        }
    }
}
