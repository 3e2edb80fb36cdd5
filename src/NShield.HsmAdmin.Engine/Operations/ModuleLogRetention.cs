using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Get-HsmLog -Path [-Clear]: the vendor's hsmadmin logs retrieves and clears. Here the clearing is tied to what was read
    /// and saved: read every module's log, write all of it to -Path (atomically, owner-only; an existing file is refused),
    /// and only then ask each module to clear exactly the entries it sent (by sequence number, so entries written since
    /// stay). If the save fails, nothing is cleared (LogSaveFailed). One command rather than a separate Clear-HsmLog: a clear
    /// run later could not know what the reader saved, and would lose what the module wrote in between.
    /// </summary>
    internal sealed class ModuleLogRetention
    {
        private readonly HsmHost _host;
        public ModuleLogRetention(HsmHost host) { _host = host; }

        /// <summary>Refusals before anything is read: -Path is a folder, in the store, a managed file, or exists; its folder is missing.</summary>
        public static string CheckTarget(HostStore store, string path)
        {
            var full = Path.GetFullPath(path);
            ManagedPaths.CheckWritableTarget(store, full, "Get-HsmLog -Path");
            if (File.Exists(full))
                throw new HsmException(HsmErrorIds.FileExists, HsmErrorKind.ResourceExists,
                    $"'{full}' already exists: Get-HsmLog -Path writes a new file, so a saved log is never overwritten. Choose another path.", full);
            var folder = Path.GetDirectoryName(full);
            if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder))
                throw new HsmException(HsmErrorIds.PathNotFound, HsmErrorKind.ObjectNotFound, $"The folder '{folder}' does not exist.", full);
            return full;
        }

        public async Task<IReadOnlyList<HsmLogEntry>> ReadSaveClearAsync(IReadOnlyList<ModuleAddress> modules, DateTimeOffset? since, int? tail,
            string path, bool clear, int throttleLimit, IOperationReporter reporter, CancellationToken ct)
        {
            var full = CheckTarget(_host.Store, path);
            var entries = await new ModuleLogOperation(_host).ReadAllAsync(modules, since, tail, throttleLimit, reporter, ct).ConfigureAwait(false);
            if (!reporter.ShouldProcess(full, $"Save {entries.Count} log entries" + (clear ? ", then clear them on their modules" : "")))
                return entries;
            try
            {
                var json = JsonSerializer.Serialize(entries.ToList(), SavedLogJson.Default.ListHsmLogEntry) + "\n";
                SecureFiles.WriteAtomic(full, json, FileAccessScope.OwnerOnly);
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException || ex is HsmException)
            {
                throw new HsmException(HsmErrorIds.LogSaveFailed, HsmErrorKind.ResourceUnavailable,
                    $"The log could not be saved to '{full}' ({ex.Message}), so nothing was cleared on any module. " +
                    "Give a writable new -Path.", full, ex);
            }
            reporter.Verbose($"Saved {entries.Count} log entries to {full}.");
            if (!clear) return entries;
            var ranges = entries.Where(e => e.Sequence != null).GroupBy(e => e.Esn)
                .Select(g => (Esn: g.Key, From: g.Min(e => e.Sequence!.Value), Through: g.Max(e => e.Sequence!.Value), Count: g.Count())).ToList();
            var confirmed = new List<(ModuleAddress Module, long From, long Through)>();
            foreach (var r in ranges)
            {
                var module = modules.First(m => m.Esn == r.Esn);
                // Clearing is by sequence range: a gap (entries picked by time, or numbers the module skipped) would be cleared unsaved.
                if (r.Count != r.Through - r.From + 1)
                {
                    reporter.Error(new HsmException(HsmErrorIds.LogClearNotContiguous, HsmErrorKind.InvalidOperation,
                        $"The {r.Count} log entries saved from module {r.Esn} are not one unbroken run from {r.From} to {r.Through}, " +
                        "so its log was not cleared (clearing the range would lose entries never saved). Run Get-HsmLog -Esn " +
                        $"{r.Esn} -Path <new file> -Clear without -Since or -Tail.", r.Esn));
                    continue;
                }
                confirmed.Add((module, r.From, r.Through));
            }
            // Clearing destroys the modules' own record of what was done to them: one question listing every module's range,
            // No by default (Enter keeps the logs; the saved file stays either way); -Confirm:$false answers it in scripts.
            if (confirmed.Count > 0)
            {
                var what = string.Join("; ", confirmed.Select(c => $"Module {c.Module.Esn}: entries {c.From} to {c.Through}"));
                var answer = reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Clear module logs",
                    $"Clear these log entries on the modules? They are saved in {full}; the modules keep no other copy. {what}.",
                    string.Join(", ", confirmed.Select(c => $"module {c.Module.Esn}")), $"Clear the log entries saved to {full} ({what})"));
                if (answer != ConfirmAnswer.Yes && answer != ConfirmAnswer.YesToAll)
                {
                    reporter.Warning($"No module log was cleared; the entries stay on the modules and are saved in {full}.");
                    return entries;
                }
            }
            await FleetExecutor.RunAsync(confirmed, c => c.Module.Esn, async (c, token) =>
            {
                using (var monitor = await _host.OpenPinnedAsync(c.Module, ModuleServices.Monitor, token).ConfigureAwait(false))
                {
                    var outcome = await monitor.ClearLogsAsync(c.From, c.Through, token).ConfigureAwait(false);
                    reporter.Verbose($"Module {c.Module.Esn}: cleared {outcome.Cleared} log entries ({c.From} to {c.Through}); " +
                        $"{outcome.Remaining} remain.");
                }
            }, throttleLimit, "Clearing module logs", reporter, ct).ConfigureAwait(false);
            return entries;
        }
    }

    [JsonSourceGenerationOptions(WriteIndented = true)]
    [JsonSerializable(typeof(List<HsmLogEntry>))]
    internal sealed partial class SavedLogJson : JsonSerializerContext
    {
    }
}
