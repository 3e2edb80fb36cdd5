using System;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Hardserver
{
    /// <summary>
    /// The host daemon that talks to modules over ncoreapi. It reads the ncoreapi client key when it starts,
    /// so after that key is rolled it must be restarted. <see cref="PlatformHardserver"/> is the real one.
    /// </summary>
    public interface IHardserver
    {
        /// <summary>What is restarted, for messages ("/opt/nfast/sbin/init.d-ncipher restart", "service 'nFast Server'").</summary>
        string Description { get; }

        /// <summary>Whether it runs and since when, read from the running process.</summary>
        HardserverState GetState();

        /// <summary>Restarts it; HardserverRestartFailed when that fails.</summary>
        void Restart();
    }

    /// <summary>What the host can tell about its hardserver.</summary>
    public sealed class HardserverState
    {
        public bool? Running { get; set; }
        public int? ProcessId { get; set; }
        public DateTimeOffset? StartedAt { get; set; }
        /// <summary>Why Running/StartedAt could not be read (null when they could).</summary>
        public string? UnknownReason { get; set; }
    }

    /// <summary>Whether the running hardserver loaded the host's current ncoreapi key.</summary>
    public static class HardserverKeyState
    {
        /// <summary>
        /// How far apart a process start time and a key switch must be to tell them apart. Linux reports process start
        /// times in clock ticks (10 ms) and they can read up to ~10 ms early; a restart run by this module waits
        /// <see cref="RestartGap"/> after the switch, so its own restarts are never inside this window.
        /// </summary>
        public static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(30);

        /// <summary>How long after the ncoreapi key was switched in a restart starts (see <see cref="WaitPastActivation"/>).</summary>
        public static readonly TimeSpan RestartGap = TimeSpan.FromMilliseconds(100);

        /// <summary>
        /// True when the hardserver process started after the current ncoreapi key was switched in, false when it started
        /// before (or is not running), null only when the process or the key cannot be read, or the two are closer than
        /// the clock can tell apart.
        /// </summary>
        public static bool? IsKeyCurrent(HardserverState state, HostStore store)
        {
            var key = store.GetClientKey(ModuleServices.NCoreApi);
            if (key == null || state.Running == null) return null;
            if (state.Running == false) return false;
            if (state.StartedAt == null) return null;
            var activated = key.EffectiveActivatedAt;
            if (state.StartedAt.Value >= activated) return true;
            if (state.StartedAt.Value + Resolution < activated) return false;
            return null;
        }

        /// <summary>Sleeps until <see cref="RestartGap"/> has passed since the ncoreapi key was switched in, so a
        /// restart now is told apart from it.</summary>
        public static void WaitPastActivation(HostStore store)
        {
            var key = store.GetClientKey(ModuleServices.NCoreApi);
            if (key == null) return;
            var wait = key.EffectiveActivatedAt + RestartGap - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero && wait <= RestartGap) System.Threading.Thread.Sleep(wait);
        }
    }
}
