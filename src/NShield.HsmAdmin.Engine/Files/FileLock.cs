using System;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace NShield.HsmAdmin.Files
{
    /// <summary>
    /// The one cross-process file lock (the host store's <see cref="StoreLock"/> and the simulated module's lock): the lock
    /// file opened with FileShare.None (flock on Unix, share mode on Windows), retried with short randomised polls, since
    /// file locks cannot be waited on portably and are usually held for milliseconds.
    /// </summary>
    public static class FileLock
    {
        /// <summary>The open lock file (dispose to release); IOException when another holder keeps it past the timeout.</summary>
        public static FileStream Acquire(string lockPath, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            var random = new Random();
            int delay = 2;
            while (true)
            {
                try
                {
                    return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                }
                catch (IOException) when (clock.Elapsed < timeout)
                {
                    Thread.Sleep(random.Next(1, delay + 1));
                    delay = Math.Min(delay * 2, 8);
                }
            }
        }
    }
}
