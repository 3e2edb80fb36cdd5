using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// Issue 20: the engine's folders (one namespace each) depend on each other without cycles, and operations reach
    /// modules only through the typed session (Modules/IModuleSession), never through the command set's adapter
    /// (Protocol/). Read from the sources: a folder uses another when a file says "using NShield.HsmAdmin.X;", spells
    /// "NShield.HsmAdmin.X." or a sibling-qualified "X.Type" (comments and string literals are skipped).
    /// </summary>
    public class EngineDependencyTests
    {
        private static string EngineDir => Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin.Engine");

        internal static string StripCommentsAndStrings(string code)
        {
            code = Regex.Replace(code, @"//[^\n]*", "");
            code = Regex.Replace(code, @"/\*.*?\*/", "", RegexOptions.Singleline);
            code = Regex.Replace(code, @"@""(?:[^""]|"""")*""", "\"\"");
            return Regex.Replace(code, @"""(?:\\.|[^""\\\n])*""", "\"\"");
        }

        /// <summary>folder → (used folder → first file that shows it).</summary>
        internal static Dictionary<string, Dictionary<string, string>> FolderGraph(string engineDir)
        {
            var folders = Directory.GetDirectories(engineDir).Select(Path.GetFileName)
                .Where(d => d != "bin" && d != "obj").Select(d => d!).ToList();
            var graph = folders.ToDictionary(f => f, _ => new Dictionary<string, string>(), StringComparer.Ordinal);
            foreach (var folder in folders)
                foreach (var file in Directory.EnumerateFiles(Path.Combine(engineDir, folder), "*.cs", SearchOption.AllDirectories))
                {
                    var code = StripCommentsAndStrings(File.ReadAllText(file));
                    foreach (var other in folders.Where(o => o != folder && !graph[folder].ContainsKey(o)))
                    {
                        var used = new Regex(@"using NShield\.HsmAdmin\." + other + @";|NShield\.HsmAdmin\." + other + @"\.|(?<![\w.])" + other + @"\.[A-Z]");
                        if (used.IsMatch(code)) graph[folder][other] = Path.GetFileName(file);
                    }
                }
            return graph;
        }

        /// <summary>Every cycle as "A → B → … → A", each reported once from its smallest folder name.</summary>
        internal static List<string> Cycles(Dictionary<string, Dictionary<string, string>> graph)
        {
            var found = new List<string>();
            foreach (var start in graph.Keys.OrderBy(k => k, StringComparer.Ordinal))
            {
                var path = new Stack<string>();
                void Walk(string at)
                {
                    path.Push(at);
                    foreach (var next in graph[at].Keys.OrderBy(k => k, StringComparer.Ordinal))
                    {
                        if (next == start)
                            found.Add(string.Join(" → ", path.Reverse().Select(f => f).Concat(new[] { start })) + "   (" +
                                string.Join(", ", path.Reverse().Zip(path.Reverse().Skip(1).Concat(new[] { start }), (a, b) => $"{a}→{b}: {graph[a][b]}")) + ")");
                        else if (string.CompareOrdinal(next, start) > 0 && !path.Contains(next))
                            Walk(next);
                    }
                    path.Pop();
                }
                Walk(start);
            }
            return found;
        }

        [Fact]
        public void The_engine_folders_depend_on_each_other_without_cycles()
        {
            var graph = FolderGraph(EngineDir);
            Assert.True(graph.Count >= 10, $"only {graph.Count} engine folders found under {EngineDir}");
            Assert.Contains("Store", graph["Operations"].Keys); // the scan sees real uses
            var cycles = Cycles(graph);
            Assert.True(cycles.Count == 0, "Engine folder cycles (break them by moving the shared piece down):\n" + string.Join("\n", cycles));
        }

        [Fact]
        public void The_cycle_finder_finds_a_cycle_and_names_the_files()
        {
            var graph = new Dictionary<string, Dictionary<string, string>>
            {
                ["A"] = new() { ["B"] = "a.cs" },
                ["B"] = new() { ["C"] = "b.cs" },
                ["C"] = new() { ["A"] = "c.cs" },
                ["D"] = new() { ["A"] = "d.cs" },
            };
            var cycle = Assert.Single(Cycles(graph));
            Assert.StartsWith("A → B → C → A", cycle);
            Assert.Contains("C→A: c.cs", cycle);
            Assert.Empty(Cycles(new Dictionary<string, Dictionary<string, string>> { ["A"] = new() { ["B"] = "a.cs" }, ["B"] = new() }));
        }

        [Fact]
        public void Operations_cmdlets_and_the_seam_know_no_verb_body_or_reply_format()
        {
            var graph = FolderGraph(EngineDir);
            Assert.DoesNotContain("Protocol", graph["Operations"].Keys);
            // The seam itself stands on keys and errors only.
            Assert.Empty(graph["Modules"].Keys.Except(new[] { "Keys" }));
            var cmdlets = Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin");
            var hits = Directory.EnumerateFiles(cmdlets, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
                .Where(f => Regex.IsMatch(StripCommentsAndStrings(File.ReadAllText(f)), @"NShield\.HsmAdmin\.Protocol|(?<![\w.])Protocol\.[A-Z]"))
                .Select(f => Path.GetRelativePath(RepoPaths.Root, f)).ToList();
            Assert.True(hits.Count == 0, "Cmdlets using the command set's adapter directly:\n" + string.Join("\n", hits));
        }
    }
}
