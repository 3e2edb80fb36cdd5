using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Protocol
{
    /// <summary>
    /// The firmware protocol is declared once (src/NShield.HsmAdmin.Engine/Protocol/): docs/firmware-protocol.md names
    /// exactly its verbs, error codes and modes, and no other source file spells a verb.
    /// </summary>
    public class ProtocolDefinitionTests
    {
        /// <summary>First-column `names` of the table(s) in the doc section headed <paramref name="heading"/>.</summary>
        static HashSet<string> FirstColumn(string heading)
        {
            var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "docs", "firmware-protocol.md"));
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
            Assert.Contains($"(version {FirmwareProtocol.Version})", File.ReadLines(Path.Combine(RepoPaths.Root, "docs", "firmware-protocol.md")).First());

        /// <summary>A string literal in C# source: its text (escapes left as written), the line it starts on, and the code before it on that line.</summary>
        internal readonly record struct Literal(string Text, int Line, string Before);

        /// <summary>
        /// Every string literal of a C# file, comments skipped: regular, verbatim and interpolated strings (the literal
        /// text of an interpolated string is kept with its holes; strings inside the holes are literals of their own).
        /// Works on the whole file, so a call split over several lines is seen like any other.
        /// </summary>
        internal static List<Literal> StringLiterals(string code)
        {
            var found = new List<Literal>();
            int i = 0, line = 1;
            int LineStart(int at) { var k = code.LastIndexOf('\n', Math.Max(0, at - 1)); return at == 0 ? 0 : k + 1; }

            void Advance(int n) { for (int k = 0; k < n && i < code.Length; k++, i++) if (code[i] == '\n') line++; }

            // Reads one string starting at i (at its prefix), returns its literal text.
            string ReadString()
            {
                bool verbatim = false, interpolated = false;
                while (code[i] == '@' || code[i] == '$') { if (code[i] == '@') verbatim = true; else interpolated = true; Advance(1); }
                if (code.Length - i >= 3 && code.Substring(i, 3) == "\"\"\"")
                {
                    // Raw string literal: up to the matching run of quotes.
                    int q = 0; while (i < code.Length && code[i] == '"') { q++; Advance(1); }
                    var close = code.IndexOf(new string('"', q), i, StringComparison.Ordinal);
                    var raw = close < 0 ? code.Substring(i) : code.Substring(i, close - i);
                    Advance((close < 0 ? code.Length : close + q) - i);
                    return raw.Trim();
                }
                Advance(1); // opening quote
                var text = new System.Text.StringBuilder();
                while (i < code.Length)
                {
                    var c = code[i];
                    if (!verbatim && c == '\\') { text.Append(c).Append(code[i + 1]); Advance(2); continue; }
                    if (c == '"')
                    {
                        if (verbatim && i + 1 < code.Length && code[i + 1] == '"') { text.Append("\"\""); Advance(2); continue; }
                        Advance(1);
                        return text.ToString();
                    }
                    if (interpolated && c == '{')
                    {
                        if (i + 1 < code.Length && code[i + 1] == '{') { text.Append("{{"); Advance(2); continue; }
                        // A hole: code up to the matching brace, whose own strings are scanned as literals.
                        text.Append("{}"); Advance(1);
                        int depth = 1;
                        while (i < code.Length && depth > 0)
                        {
                            var h = code[i];
                            if (h == '"' || ((h == '@' || h == '$') && i + 1 < code.Length && (code[i + 1] == '"' || code[i + 1] == '@' || code[i + 1] == '$')))
                            {
                                int l = line, at = i; var inner = ReadString();
                                found.Add(new Literal(inner, l, code.Substring(LineStart(at), at - LineStart(at))));
                                continue;
                            }
                            if (h == '\'') { SkipChar(); continue; }
                            if (h == '{') depth++;
                            else if (h == '}') depth--;
                            Advance(1);
                        }
                        continue;
                    }
                    text.Append(c);
                    Advance(1);
                }
                return text.ToString();
            }

            void SkipChar()
            {
                // A char literal: 'x', '\'', '\\', '\u0000'.
                Advance(1);
                while (i < code.Length && code[i] != '\'') { if (code[i] == '\\') Advance(1); Advance(1); }
                Advance(1);
            }

            while (i < code.Length)
            {
                var c = code[i];
                if (c == '/' && i + 1 < code.Length && code[i + 1] == '/') { while (i < code.Length && code[i] != '\n') Advance(1); continue; }
                if (c == '/' && i + 1 < code.Length && code[i + 1] == '*')
                {
                    var close = code.IndexOf("*/", i + 2, StringComparison.Ordinal);
                    Advance((close < 0 ? code.Length : close + 2) - i);
                    continue;
                }
                if (c == '\'') { SkipChar(); continue; }
                if (c == '"' || ((c == '@' || c == '$') && i + 1 < code.Length && (code[i + 1] == '"' || code[i + 1] == '@' || code[i + 1] == '$')))
                {
                    int l = line, at = i;
                    var text = ReadString();
                    found.Add(new Literal(text, l, code.Substring(LineStart(at), at - LineStart(at))));
                    continue;
                }
                Advance(1);
            }
            return found;
        }

        /// <summary>
        /// Where a protocol word may appear as a literal outside Protocol/: an audit record's operation name (an audit
        /// "enroll" or "factorystate" names what the host did, it is not the verb sent to the module).
        /// </summary>
        static readonly Regex[] AllowedBefore =
        {
            new Regex(@"\bOperation\s*=\s*$"),
        };

        [Fact]
        public void The_literal_scanner_sees_literals_across_lines_and_skips_comments()
        {
            var code = "// \"ping\" in a comment\n/* \"logs\" */ var x = admin.InvokeAsync(\n    \"keys.add\", body);\n" +
                       "var y = $\"{string.Join(\", \", a)} {(m ? \"identity\" : 'x')}\"; var z = @\"E_FAULT\"; var c = '\"';\n" +
                       "audit(new AuditEntry { Operation = \"enroll\" });";
            var literals = StringLiterals(code);
            Assert.Equal(new[] { "keys.add", ", ", "identity", "{} {}", "E_FAULT", "enroll" }.OrderBy(x => x),
                literals.Select(l => l.Text).OrderBy(x => x));
            Assert.Equal(3, literals.Single(l => l.Text == "keys.add").Line);
            Assert.Matches(AllowedBefore[0], literals.Single(l => l.Text == "enroll").Before);
        }

        /// <summary>
        /// No source file outside Protocol/ spells a verb, an error code or a module mode as a string literal: any
        /// literal equal to one of them fails (wherever it is: a call, even split over lines, a comparison, a switch, an
        /// assignment), except where <see cref="AllowedBefore"/> says it names something else.
        /// </summary>
        [Fact]
        public void No_file_in_src_spells_a_verb_an_error_code_or_a_mode_outside_the_protocol_definition()
        {
            var src = Path.Combine(RepoPaths.Root, "src");
            var protocolDir = Path.Combine(src, "NShield.HsmAdmin.Engine", "Protocol") + Path.DirectorySeparatorChar;
            var words = FirmwareVerbs.All.Concat(FirmwareErrorCodes.All).Concat(Enum.GetNames(typeof(ModuleMode)))
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            var hits = new List<string>();
            var scanned = 0;
            foreach (var file in Directory.EnumerateFiles(src, "*.*", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(src, file);
                if (file.StartsWith(protocolDir, StringComparison.Ordinal)) continue;
                if (rel.Split(Path.DirectorySeparatorChar).Any(p => p == "obj" || p == "bin")) continue;
                if (file.EndsWith(".cs", StringComparison.Ordinal))
                {
                    scanned++;
                    foreach (var literal in StringLiterals(File.ReadAllText(file)))
                        if (words.Contains(literal.Text) && !AllowedBefore.Any(a => a.IsMatch(literal.Before)))
                            hits.Add($"{rel}:{literal.Line}: \"{literal.Text}\" after '{literal.Before.Trim()}'");
                }
                else if (file.EndsWith(".psm1", StringComparison.Ordinal) || file.EndsWith(".ps1", StringComparison.Ordinal))
                {
                    scanned++;
                    int n = 0;
                    foreach (var line in File.ReadLines(file))
                    {
                        n++;
                        foreach (Match m in Regex.Matches(line, @"(['""])([^'""]*)\1"))
                            if (words.Contains(m.Groups[2].Value) && !line.TrimStart().StartsWith("#", StringComparison.Ordinal))
                                hits.Add($"{rel}:{n}: {line.Trim()}");
                    }
                }
            }
            Assert.True(scanned > 100, $"only {scanned} source files scanned under {src}");
            Assert.True(hits.Count == 0, "Use FirmwareVerbs / FirmwareErrorCodes / ModuleMode instead of literals:\n" + string.Join("\n", hits));
        }
    }
}
