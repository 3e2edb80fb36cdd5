using System.IO;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Tests.Infrastructure;
using NShield.HsmAdmin.Tests.Protection;

namespace NShield.HsmAdmin.Tests
{
    internal static class StoreTestSupport
    {
        /// <summary>Octal permission bits as the real stat(1) reports them.</summary>
        public static string StatMode(string path) => ProcessRunner.Run("/usr/bin/stat", new[] { "-c", "%a", path }).StdOut.Trim();

        public static HostStore NewStore(TempDirectory dir, string name = "host") =>
            new HostStore(Path.Combine(dir.Path, name), FakeMachineIdentity.Full("0001"));
    }
}
