using System;
using System.IO;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Store
{
    /// <summary>The host's settings (host-config.json) and the factory credential they point to.</summary>
    public sealed partial class HostStore
    {
        public string ConfigurationPath => Path.Combine(Root, "host-config.json");

        public HostConfiguration GetConfiguration() =>
            StoreJson.ReadFile<HostConfiguration>(ConfigurationPath) ?? new HostConfiguration();

        /// <summary>Replaces the settings (atomic, locked, audited with what changed).</summary>
        public void SetConfiguration(HostConfiguration configuration, string detail) =>
            UpdateConfiguration(_ => { CopyInto(configuration, _); return detail; });

        /// <summary>
        /// Read-modify-write of the settings under the store lock, so concurrent changes are not lost. The change returns the
        /// audit detail (what it set), or null when it changed nothing (then nothing is written).
        /// </summary>
        public void UpdateConfiguration(Func<HostConfiguration, string?> change)
        {
            Write(() =>
            {
                var configuration = GetConfiguration();
                configuration.Hardserver ??= new HardserverSettings();
                var detail = change(configuration);
                if (detail == null) return;
                StoreJson.WriteFile(ConfigurationPath, configuration, FileAccessScope.Public);
                AppendAudit(new AuditEntry { Operation = "config.set", Result = "Success", Detail = detail });
            });
        }

        static void CopyInto(HostConfiguration from, HostConfiguration to)
        {
            to.FactoryCredentialPath = from.FactoryCredentialPath;
            to.Hardserver = from.Hardserver ?? new HardserverSettings();
            to.MachineFolder = from.MachineFolder;
            to.AuditSyslogSocket = from.AuditSyslogSocket;
        }

        /// <summary>A factory credential file is a small OpenSSH key: anything bigger is not one (and /dev/zero never ends).</summary>
        public const int MaxFactoryCredentialBytes = 64 * 1024;

        /// <summary>Reads a configured key file: bounded, and refused when others could have changed it.</summary>
        public static string ReadFactoryCredentialFile(string path)
        {
            StorePermissions.CheckConfiguredFile(path, "factory credential");
            var info = new FileInfo(path);
            if (!info.Exists || info.Length > MaxFactoryCredentialBytes)
                throw new HsmException(HsmErrorIds.FactoryCredentialNotConfigured, HsmErrorKind.InvalidData,
                    $"The factory credential file '{path}' is not a key file (missing, or over {MaxFactoryCredentialBytes / 1024} KiB).", path);
            return File.ReadAllText(path);
        }

        /// <summary>Where the factory credential is expected (configured, else the default).</summary>
        public string FactoryCredentialPath =>
            GetConfiguration().FactoryCredentialPath ?? HostConfiguration.DefaultFactoryCredentialPath(this);

        /// <summary>
        /// The vendor's well-known factory sshadmin credential, which a module in factory state or recovery mode
        /// accepts for identity and enroll only. FactoryCredentialNotConfigured when the file is missing or unusable.
        /// </summary>
        public SshKeyPair OpenFactoryCredential()
        {
            var path = FactoryCredentialPath;
            if (!File.Exists(path))
                throw new HsmException(HsmErrorIds.FactoryCredentialNotConfigured, HsmErrorKind.ObjectNotFound,
                    $"The module vendor's factory sshadmin credential was not found at '{path}'. A module in factory state only accepts " +
                    "that credential: point the host at the file the Security World software installed with " +
                    "Set-HsmHostConfiguration -FactoryCredentialPath <file>.", path);
            try { return OpenSshPrivateKey.Decode(ReadFactoryCredentialFile(path), null); }
            catch (HsmException e)
            {
                throw new HsmException(HsmErrorIds.FactoryCredentialNotConfigured, HsmErrorKind.InvalidData,
                    $"The factory credential file '{path}' is not an unencrypted OpenSSH private key ({e.ErrorId}).", path, e);
            }
        }
    }
}
