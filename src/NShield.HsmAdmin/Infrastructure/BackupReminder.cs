using System;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// The vendor recommends backing up the sshadmin key whenever SSH keys are installed or changed: after a successful
    /// enroll, roll or restore the engine warns so (Operations.KeyBackupReminder), unless the same pipeline goes on
    /// into Backup-HsmSshKey, which only the cmdlet can see (its invocation's pipeline).
    /// </summary>
    internal static class BackupReminder
    {
        /// <summary>True when a later element of this command's pipeline is Backup-HsmSshKey (by name, module-qualified or alias).</summary>
        internal static bool BackedUpLaterInPipeline(PSCmdlet cmdlet)
        {
            var info = cmdlet.MyInvocation;
            if (info.PipelineLength <= 1 || info.PipelinePosition >= info.PipelineLength) return false;
            try
            {
                var script = info.PositionMessage != null && info.ScriptName != null && info.ScriptName.Length > 0
                    && System.IO.File.Exists(info.ScriptName)
                    ? Parser.ParseFile(info.ScriptName, out _, out _)
                    : Parser.ParseInput(info.Line ?? "", out _, out _);
                var line = info.ScriptLineNumber;
                var offset = info.OffsetInLine;
                var pipeline = script.FindAll(a => a is PipelineAst, searchNestedScriptBlocks: true).Cast<PipelineAst>()
                    .Where(p => p.PipelineElements.Any(e => Contains(e, line, offset, info.ScriptName)))
                    .OrderBy(p => p.Extent.Text.Length).FirstOrDefault();
                if (pipeline == null) return false;
                var index = pipeline.PipelineElements.ToList().FindIndex(e => Contains(e, line, offset, info.ScriptName));
                return pipeline.PipelineElements.Skip(index + 1).OfType<CommandAst>().Any(c => IsBackup(cmdlet, c.GetCommandName()));
            }
            catch (Exception) { return false; } // no parse, no suppression: the reminder is shown
        }

        static bool Contains(Ast element, int line, int offset, string? scriptName)
        {
            var e = element.Extent;
            // Interactive input is parsed on its own: its line numbers start at 1 again.
            var l = string.IsNullOrEmpty(scriptName) ? 1 : line;
            return (e.StartLineNumber < l || (e.StartLineNumber == l && e.StartColumnNumber <= offset))
                && (e.EndLineNumber > l || (e.EndLineNumber == l && e.EndColumnNumber >= offset));
        }

        static bool IsBackup(PSCmdlet cmdlet, string? name)
        {
            if (string.IsNullOrEmpty(name)) return false;
            var full = name!;
            var bare = full.Contains('\\') ? full.Substring(full.LastIndexOf('\\') + 1) : full;
            if (string.Equals(bare, "Backup-HsmSshKey", StringComparison.OrdinalIgnoreCase)) return true;
            try
            {
                var resolved = cmdlet.InvokeCommand.GetCommand(bare, CommandTypes.Alias) as AliasInfo;
                return resolved?.ResolvedCommand != null
                    && string.Equals(resolved.ResolvedCommand.Name, "Backup-HsmSshKey", StringComparison.OrdinalIgnoreCase);
            }
            catch (Exception) { return false; }
        }
    }
}
