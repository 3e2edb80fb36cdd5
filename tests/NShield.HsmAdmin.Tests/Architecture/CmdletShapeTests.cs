using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// Cmdlets bind, call one engine operation and write (issue 20, item 4): in the product's Commands folder no cmdlet
    /// wraps engine calls itself, prompts through the host, asks ShouldContinue or blocks on async, and every cmdlet runs its
    /// operation through HsmCmdlet.Run(operation, request). The questions and the "cannot prompt" decision live in one place:
    /// HsmCmdlet (AskPerson, AskSecret).
    /// </summary>
    public class CmdletShapeTests
    {
        private static readonly string Commands = Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin", "Commands");

        private static readonly (string Pattern, string Why)[] Forbidden =
        {
            (@"\bEngine\(", "wraps engine calls itself (build a request and call Run)"),
            (@"\bRunOperation\(", "runs a lambda (call Run with an IHsmOperation and its request)"),
            (@"\bHost\.UI\b", "prompts through the host (ask through the operation's reporter)"),
            (@"\bShouldContinue\(", "asks ShouldContinue (ask through the operation's reporter)"),
            (@"\.GetAwaiter\(\)|\.Wait\(\)|\.Result\b", "blocks on async"),
            (@"\bKeyPassphrases\.", "decides passphrases (the engine's KeyPassphrases does)"),
        };

        [Fact]
        public void No_cmdlet_wraps_engine_calls_prompts_or_blocks()
        {
            var found = Directory.EnumerateFiles(Commands, "*.cs", SearchOption.AllDirectories)
                .SelectMany(file => File.ReadAllLines(file).Select((line, i) => (file, line, number: i + 1)))
                .Where(l => !l.line.TrimStart().StartsWith("//", StringComparison.Ordinal))
                .SelectMany(l => Forbidden.Where(f => Regex.IsMatch(l.line, f.Pattern))
                    .Select(f => $"{Path.GetFileName(l.file)}:{l.number} {f.Why}: {l.line.Trim()}"))
                .ToList();
            Assert.True(found.Count == 0, string.Join(Environment.NewLine, found));
        }

        /// <summary>Per cmdlet class: the text from one [Cmdlet(...)] to the next (or the file's end) runs an operation.</summary>
        /// <summary>Source without comments: a commented-out call or attribute counts for nothing.</summary>
        internal static string Code(string file) =>
            Regex.Replace(File.ReadAllText(file), @"/\*.*?\*/|//[^\n]*", "", RegexOptions.Singleline);

        [Fact]
        public void Every_cmdlet_runs_an_operation_with_a_request()
        {
            var files = Directory.EnumerateFiles(Commands, "*.cs", SearchOption.AllDirectories).ToList();
            Assert.True(files.Count(f => Regex.IsMatch(Code(f), @"\[Cmdlet\(")) >= 15, "the cmdlet sources were not found");
            var missing = files
                .SelectMany(file => Regex.Split(Code(file), @"(?=\[Cmdlet\()").Skip(1)
                    .Where(cmdlet => !Regex.IsMatch(cmdlet, @"\bRun\(new \w+Operation\(\)"))
                    .Select(cmdlet => $"{Path.GetFileName(file)}: {Regex.Match(cmdlet, @"class (\w+)").Groups[1].Value}"))
                .ToList();
            Assert.True(missing.Count == 0, "Cmdlets without Run(new XOperation(), request): " + string.Join(", ", missing));
        }

        /// <summary>The simulator's cmdlets live in their own namespace (issue 20, item 7), apart from the product's.</summary>
        [Fact]
        public void Simulator_cmdlets_live_in_their_own_namespace()
        {
            var folder = Path.Combine(RepoPaths.Root, "src", "NShield.HsmAdmin.Simulator.Commands");
            var withCmdlets = Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
                .Where(file => Regex.IsMatch(Code(file), @"\[Cmdlet\(")).ToList();
            Assert.True(withCmdlets.Count >= 2, "the simulator's cmdlet sources were not found");
            // Every namespace block in such a file is the simulator's own (a second block would put cmdlets elsewhere).
            var stray = withCmdlets
                .Where(file => Regex.Matches(Code(file), @"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline).Cast<Match>()
                    .Any(m => m.Groups[1].Value != "NShield.HsmAdmin.Simulation.Commands"))
                .Select(Path.GetFileName)
                .ToList();
            Assert.True(stray.Count == 0, "Simulator cmdlets outside NShield.HsmAdmin.Simulation.Commands: " + string.Join(", ", stray));
        }
    }
}
