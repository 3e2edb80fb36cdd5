using System;
using System.IO;
using System.Runtime.CompilerServices;
using NShield.HsmAdmin.Protection;
using Xunit;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    /// <summary>
    /// Tests that change process environment variables: they run in this collection, which xUnit runs alone
    /// (no other test reads a half-changed environment).
    /// </summary>
    [CollectionDefinition(Name, DisableParallelization = true)]
    public sealed class ProcessEnvironmentCollection
    {
        public const string Name = "Process environment";
    }

    /// <summary>
    /// The machine folder (global nonce G) of this test run: a temporary folder, never the real
    /// /etc/opt/nfast/hsmadmin. Set before any test runs; child processes (firmware, StoreStress) inherit it.
    /// </summary>
    internal static class TestRunMachineFolder
    {
        public static string Path { get; private set; } = "";

        [ModuleInitializer]
        internal static void Initialize()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"nshield-xunit-machine-{Environment.ProcessId}");
            Environment.SetEnvironmentVariable(LocalMachineIdentity.MachineDirVariable, Path);
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            };
        }
    }
}
