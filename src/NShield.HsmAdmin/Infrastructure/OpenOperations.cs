using System;
using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Operations;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>
    /// Makes an open key roll or restore visible where an operator looks (issue 21): a warning naming what is left and the
    /// command that finishes it, from the commands that read the fleet, and the line a stopped command leaves behind.
    /// </summary>
    internal static class OpenOperations
    {
        /// <summary>Warns when a roll or restore is open and concerns any of <paramref name="esns"/> (or the host); returns it.</summary>
        public static OpenOperation? Show(HsmCmdlet cmdlet, HostStore store, IEnumerable<string> esns)
        {
            var open = Read(store);
            if (open == null) return null;
            cmdlet.WriteWarning(open.Describe());
            return open;
        }

        /// <summary>The open roll or restore, or null; a journal that cannot be read is left to the command that uses it.</summary>
        public static OpenOperation? Read(HostStore store)
        {
            try { return OpenOperation.Read(store); }
            catch (HsmException) { return null; }
        }

        /// <summary>
        /// The one line a command stopped with Ctrl+C leaves: what is open and the exact command that finishes or reverts it.
        /// Written to the host directly, since a stopping pipeline takes no more warnings.
        /// </summary>
        public static void AfterStop(HsmCmdlet cmdlet, string? hostPath)
        {
            try
            {
                var location = HostStoreLocation.Resolve(hostPath);
                if (!System.IO.Directory.Exists(location)) return;
                var open = Read(HostStore.Open(location));
                if (open == null) return;
                cmdlet.Host?.UI?.WriteWarningLine("Stopped. " + open.Describe());
            }
            catch (Exception ex) when (ex is HsmException || ex is System.IO.IOException || ex is UnauthorizedAccessException) { }
        }
    }
}
