using System.IO;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Store
{
    /// <summary>The host's settings (host-config.json) and the factory credential they point to.</summary>
    public sealed partial class HostStore
    {
        public string ConfigurationPath => Path.Combine(Root, "host-config.json");

        public HostConfiguration GetConfiguration() =>
            StoreJson.ReadFile<HostConfiguration>(ConfigurationPath) ?? new HostConfiguration();

        /// <summary>Replaces the settings (atomic, locked, audited with what changed).</summary>
        public void SetConfiguration(HostConfiguration configuration, string detail)
        {
            Write(() =>
            {
                configuration.Hardserver ??= new HardserverSettings();
                StoreJson.WriteFile(ConfigurationPath, configuration, FileAccessScope.Public);
                AppendAudit(new AuditEntry { Operation = "config.set", Result = "Success", Detail = detail });
            });
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
            try { return OpenSshPrivateKey.Decode(File.ReadAllText(path), null); }
            catch (HsmException e)
            {
                throw new HsmException(HsmErrorIds.FactoryCredentialNotConfigured, HsmErrorKind.InvalidData,
                    $"The factory credential file '{path}' is not an unencrypted OpenSSH private key ({e.ErrorId}).", path, e);
            }
        }
    }
}
