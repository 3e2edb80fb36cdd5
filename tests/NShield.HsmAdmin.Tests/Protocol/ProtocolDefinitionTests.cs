using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Protocol;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protocol
{
    /// <summary>
    /// The firmware protocol is declared once (src/NShield.HsmAdmin.Engine/Protocol/): docs/firmware-protocol.md names
    /// exactly its verbs, error codes and modes, and no other source file spells a verb.
    /// </summary>
    public class ProtocolDefinitionTests
    {
        static string RepoRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "docs", "firmware-protocol.md")) && Directory.Exists(Path.Combine(dir.FullName, "src")))
                    return dir.FullName;
            throw new FileNotFoundException("docs/firmware-protocol.md not found above " + AppContext.BaseDirectory);
        }

        /// <summary>First-column `names` of the table(s) in the doc section headed <paramref name="heading"/>.</summary>
        static HashSet<string> FirstColumn(string heading)
        {
            var lines = File.ReadAllLines(Path.Combine(RepoRoot(), "docs", "firmware-protocol.md"));
            int start = Array.FindIndex(lines, l => l.Trim() == "## " + heading);
            Assert.True(start >= 0, $"docs/firmware-protocol.md has no '## {heading}' section");
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
            {
                var m = Regex.Match(lines[i], @"^\|\s*`([^`]+)`\s*\|");
                if (m.Success) names.Add(m.Groups[1].Value);
            }
            return names;
        }

        static void SameSets(IEnumerable<string> defined, HashSet<string> documented, string what)
        {
            var d = defined.ToHashSet(StringComparer.Ordinal);
            Assert.NotEmpty(d);
            var undocumented = d.Except(documented).OrderBy(x => x, StringComparer.Ordinal).ToArray();
            var unknown = documented.Except(d).OrderBy(x => x, StringComparer.Ordinal).ToArray();
            Assert.True(undocumented.Length == 0 && unknown.Length == 0,
                $"{what}: defined but not in docs/firmware-protocol.md: [{string.Join(", ", undocumented)}]; " +
                $"in the doc but not defined: [{string.Join(", ", unknown)}]");
        }

        [Fact]
        public void The_doc_lists_exactly_the_defined_verbs() =>
            SameSets(FirmwareVerbs.All, FirstColumn("Verbs"), "verbs");

        [Fact]
        public void The_doc_lists_exactly_the_defined_error_codes() =>
            SameSets(FirmwareErrorCodes.All, FirstColumn("Error codes"), "error codes");

        [Fact]
        public void The_doc_lists_exactly_the_defined_modes() =>
            SameSets(Enum.GetNames(typeof(ModuleMode)), FirstColumn("Credentials and modes"), "modes");

        [Fact]
        public void Every_error_code_constant_is_in_the_list()
        {
            var constants = typeof(FirmwareErrorCodes).GetFields()
                .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!);
            Assert.Equal(constants.OrderBy(x => x), FirmwareErrorCodes.All.OrderBy(x => x));
            var verbs = typeof(FirmwareVerbs).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!);
            Assert.Equal(verbs.OrderBy(x => x), FirmwareVerbs.All.OrderBy(x => x));
        }

        [Fact]
        public void The_doc_states_the_protocol_version() =>
            Assert.Contains($"(version {FirmwareProtocol.Version})", File.ReadLines(Path.Combine(RepoRoot(), "docs", "firmware-protocol.md")).First());

        /// <summary>
        /// No source file outside Protocol/ spells a verb or an error code as a string literal. Audit records name
        /// operations (an audit "enroll" is not the verb), so for the plain-word verbs only protocol uses are searched:
        /// a call (InvokeAsync), a comparison or a switch case.
        /// </summary>
        [Fact]
        public void No_file_in_src_spells_a_verb_or_an_error_code_outside_the_protocol_definition()
        {
            var src = Path.Combine(RepoRoot(), "src");
            var protocolDir = Path.Combine(src, "NShield.HsmAdmin.Engine", "Protocol") + Path.DirectorySeparatorChar;
            var anywhere = FirmwareVerbs.All.Where(v => v.Contains('.')).Concat(FirmwareErrorCodes.All)
                .Select(v => "\"" + Regex.Escape(v) + "\"");
            var plain = string.Join("|", FirmwareVerbs.All.Where(v => !v.Contains('.')).Select(Regex.Escape));
            var pattern = new Regex(
                $"({string.Join("|", anywhere)})" +
                $"|InvokeAsync\\(\\s*\"" +
                $"|(==|!=)\\s*\"({plain})\"|\"({plain})\"\\s*(==|!=)|case\\s+\"({plain})\"",
                RegexOptions.Compiled);
            var hits = new List<string>();
            foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(src, file);
                if (file.StartsWith(protocolDir, StringComparison.Ordinal)) continue;
                if (rel.Split(Path.DirectorySeparatorChar).Any(p => p == "obj" || p == "bin")) continue;
                int n = 0;
                foreach (var line in File.ReadLines(file))
                {
                    n++;
                    if (pattern.IsMatch(line)) hits.Add($"{rel}:{n}: {line.Trim()}");
                }
            }
            Assert.True(hits.Count == 0, "Use FirmwareVerbs / FirmwareErrorCodes instead of literals:\n" + string.Join("\n", hits));
        }
    }
}
