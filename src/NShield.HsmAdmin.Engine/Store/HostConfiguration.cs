using System.IO;

namespace NShield.HsmAdmin.Store
{
    /// <summary>
    /// Host settings (host-config.json) for what differs between installations: where the vendor's factory
    /// credential is, and how the hardserver is restarted and found. Unset values take the documented defaults.
    /// </summary>
    public sealed class HostConfiguration
    {
        /// <summary>
        /// The module vendor's well-known factory sshadmin credential (an OpenSSH private key file, not a secret:
        /// every module in factory state accepts it for enrollment only). Null: <see cref="DefaultFactoryCredentialPath"/>.
        /// </summary>
        public string? FactoryCredentialPath { get; set; }

        public HardserverSettings Hardserver { get; set; } = new HardserverSettings();

        /// <summary>Where the Security World software keeps the factory credential unless configured otherwise.</summary>
        public static string DefaultFactoryCredentialPath(HostStore store) => Path.Combine(store.Root, "factory-credential");

        /// <summary>The settings that are set (Format-List * shows this), e.g. "HardserverRestartCommand=/usr/bin/systemctl".</summary>
        public override string ToString()
        {
            var set = new System.Collections.Generic.List<string>();
            if (FactoryCredentialPath != null) set.Add("FactoryCredentialPath=" + FactoryCredentialPath);
            if (Hardserver != null)
                foreach (var p in typeof(HardserverSettings).GetProperties())
                    if (p.GetValue(Hardserver) is object value) set.Add("Hardserver" + p.Name + "=" + value);
            return set.Count == 0 ? "(all defaults)" : string.Join(", ", set);
        }
    }

    /// <summary>How the real hardserver is restarted and found. Null values take the platform defaults.</summary>
    public sealed class HardserverSettings
    {
        /// <summary>Linux: the program run with <see cref="RestartArguments"/> (default /opt/nfast/sbin/init.d-ncipher).</summary>
        public string? RestartCommand { get; set; }
        /// <summary>Default "restart".</summary>
        public string? RestartArguments { get; set; }
        /// <summary>Windows: the service restarted (default "nFast Server").</summary>
        public string? ServiceName { get; set; }
        /// <summary>A file holding the running hardserver's process id; when unset the process is found by name.</summary>
        public string? PidFile { get; set; }
        /// <summary>Process name of the hardserver (default "hardserver").</summary>
        public string? ProcessName { get; set; }
    }
}
