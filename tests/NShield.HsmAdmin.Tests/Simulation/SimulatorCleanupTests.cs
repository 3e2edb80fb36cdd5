using System;
using System.IO;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Simulation;
using NShield.HsmAdmin.Tests.Infrastructure;
using Xunit;

namespace NShield.HsmAdmin.Tests.Simulation
{
    /// <summary>Nothing left behind when sshd is missing (issue 24 item 2, issue 23 item 11): no folder with host keys.</summary>
    [Collection(ProcessEnvironmentCollection.Name)]
    public sealed class SimulatorCleanupTests
    {
        [Fact]
        public void A_failed_test_sshd_start_leaves_no_folder()
        {
            if (OperatingSystem.IsWindows()) return;
            using var parent = new TempDirectory();
            var missing = Path.Combine(parent.Path, "no-such-sshd");
            Assert.ThrowsAny<Exception>(() => new TestSshd(missing, parent.Path, SshKeyAlgorithm.Ed25519));
            Assert.Empty(Directory.GetFileSystemEntries(parent.Path));
        }

        [Fact]
        public void A_simulator_start_without_sshd_leaves_no_folder()
        {
            if (OperatingSystem.IsWindows()) return;
            using var parent = new TempDirectory();
            var root = Path.Combine(parent.Path, "sim");
            var saved = Environment.GetEnvironmentVariable(FirmwareLocator.SshdEnvVar);
            Environment.SetEnvironmentVariable(FirmwareLocator.SshdEnvVar, Path.Combine(parent.Path, "no-such-sshd"));
            try
            {
                var e = Assert.Throws<HsmException>(() => Simulator.Start(1, Path.Combine(root, "host"), SimulatorTransport.Ssh, root));
                Assert.Equal(SimulatorErrorIds.SshdNotFound, e.ErrorId);
            }
            finally { Environment.SetEnvironmentVariable(FirmwareLocator.SshdEnvVar, saved); }
            Assert.False(Directory.Exists(root), "the simulator folder (and the host store in it) is not left behind");
            Assert.Empty(Directory.GetFileSystemEntries(parent.Path));
        }
    }
}
