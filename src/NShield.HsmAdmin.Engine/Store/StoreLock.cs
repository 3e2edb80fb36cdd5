using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Serialises writers of one store folder. Two layers:
    /// - across processes: store.lock through <see cref="FileLock"/> (the one cross-process file lock), until the timeout;
    /// - within a process: a SemaphoreSlim per folder, so threads queue instead of spinning on the file.
    /// Reentrancy: the lock is reentrant along the holder's async flow (AsyncLocal): an operation that holds it may call any
    /// store write (which would otherwise lock by itself) and may fan out tasks. Those tasks' individual read-modify-writes are
    /// still serialised by <see cref="FileGate"/>. Another thread outside that flow waits like another process would.
    /// </summary>
    internal sealed class StoreLock
    {
        static readonly ConcurrentDictionary<string, StoreLock> ByFolder = new ConcurrentDictionary<string, StoreLock>(
            RuntimeInformationHelper.PathComparer);

        readonly SemaphoreSlim _inProcess = new SemaphoreSlim(1, 1);
        readonly AsyncLocal<Holder?> _holder = new AsyncLocal<Holder?>();

        public string LockPath { get; }
        /// <summary>Guards each single read-modify-write of a store file among threads of this process.</summary>
        public object FileGate { get; } = new object();

        StoreLock(string lockPath) { LockPath = lockPath; }

        public static StoreLock For(string root) => ByFolder.GetOrAdd(Path.GetFullPath(root), r => new StoreLock(Path.Combine(r, "store.lock")));

        public bool IsHeldByCurrentFlow => _holder.Value is { Released: false };

        public IDisposable Acquire(TimeSpan timeout)
        {
            if (IsHeldByCurrentFlow) return NoOp.Instance;
            var clock = Stopwatch.StartNew();
            if (!_inProcess.Wait(timeout))
                throw Timeout(timeout, "another thread of this process holds it");
            try
            {
                var file = OpenLockFile(timeout - clock.Elapsed);
                var holder = new Holder(this, file);
                _holder.Value = holder;
                return holder;
            }
            catch
            {
                _inProcess.Release();
                throw;
            }
        }

        FileStream OpenLockFile(TimeSpan remaining)
        {
            OwnerOnlyLockFile(LockPath);
            try { return FileLock.Acquire(LockPath, remaining); }
            catch (IOException e) { throw Timeout(remaining, "another process holds it: " + LockHolders.Describe(LockPath), e); }
        }

        /// <summary>
        /// Linux (issue 23, item 4): the lock file is owner-only, so no other account can open it, and flock needs an open file:
        /// nobody but the store's owner (and root) can block the store. Created 0600; one an earlier version left readable
        /// is narrowed; one owned by another account is refused (it could hold it forever).
        /// </summary>
        static void OwnerOnlyLockFile(string path)
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)) return;
            try { Interop.UnixNative.CloseFd(Interop.UnixNative.CreateExclusive(path, 0x180)); return; }
            catch (IOException) when (File.Exists(path)) { }
            if (Interop.UnixNative.Stat(path) is not { } status) return;
            var me = Interop.UnixNative.EffectiveUserId();
            if (status.Owner != me && status.Owner != 0)
                throw new HsmException(HsmErrorIds.StoreInsecurePermissions, HsmErrorKind.SecurityError,
                    $"The host store lock file {path} is owned by another account " +
                    $"({Interop.UnixNative.UserName(status.Owner)}), which could hold it " +
                    $"and block every change. Nothing was changed. Remove it (rm '{path}'; the next command makes a new one) and check who made it.",
                    path);
            if ((status.Permissions & 0x3F) != 0) Interop.UnixNative.Chmod(path, 0x180);
        }

        HsmException Timeout(TimeSpan timeout, string why, Exception? inner = null) =>
            new HsmException(HsmErrorIds.StoreLockTimeout, HsmErrorKind.OperationTimeout,
                $"The host store is busy: could not lock {LockPath} within {timeout.TotalSeconds:0.#} s because {why}. " +
                "Wait for the other operation to finish and retry.", LockPath, inner);

        sealed class Holder : IDisposable
        {
            readonly StoreLock _owner;
            readonly FileStream _file;
            public bool Released;

            public Holder(StoreLock owner, FileStream file) { _owner = owner; _file = file; }

            public void Dispose()
            {
                if (Released) return;
                Released = true;
                _file.Dispose();
                _owner._inProcess.Release();
            }
        }

        sealed class NoOp : IDisposable
        {
            public static readonly NoOp Instance = new NoOp();
            public void Dispose() { }
        }
    }

    internal static class RuntimeInformationHelper
    {
        public static StringComparer PathComparer =>
            System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Windows)
                ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
    }
}
