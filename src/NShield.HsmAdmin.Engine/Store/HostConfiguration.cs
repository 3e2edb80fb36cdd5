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

        /// <summary>
        /// The machine folder: where this host's machine-bound input G (each store's own global nonce, under
        /// stores/&lt;store id&gt;/) lives. Null: /etc/opt/nfast/hsmadmin (Linux), %ProgramData%\nCipher\hsmadmin-machine (Windows).
        /// A simulated host (Start-HsmSimulator) sets its own, so it never touches this machine's folder; a production host
        /// may set one too (e.g. a folder on an encrypted volume). Changing it makes existing G keys unopenable here.
        /// </summary>
        public string? MachineFolder { get; set; }

        /// <summary>
        /// Opt-in second copy of the audit log: the Unix socket of the system log (/dev/log for journald or syslog) each
        /// audit entry is also sent to, with logger(1), facility auth, tag nshield-hsmadmin. Null: off. Linux only.
        /// </summary>
        public string? AuditSyslogSocket { get; set; }

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
