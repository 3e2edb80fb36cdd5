using System;
using System.Globalization;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Modules
{
    /// <summary>
    /// Signed module logs (issue 22 item 4; the vendor's signed system logs, firmware 13.5+): what a log entry's signature
    /// covers, in one place for the module that signs and the host that verifies. SSH wire strings
    /// <c>"nshield-log-v1", ESN, sequence, time (UTC ticks), service, verb, key fingerprint, outcome</c> (numbers as decimal
    /// text); the signature is the module's log key's SSH signature over them. The log key is certified by the module's
    /// identity key like a server key, for the service name <see cref="CertificateService"/>; a factory reset makes a new one.
    /// </summary>
    public static class ModuleLogSigning
    {
        public const string Tag = "nshield-log-v1";
        /// <summary>The "service" the log key's certificate names (TrustChain certificates bind a key to ESN and service).</summary>
        public const string CertificateService = "log";

        public static byte[] ToBeSigned(string esn, long sequence, DateTimeOffset time, string service, string verb, string keyFingerprint,
            string outcome) =>
            new SshWireWriter().String(Tag).String(esn).String(sequence.ToString(CultureInfo.InvariantCulture))
                .String(time.UtcTicks.ToString(CultureInfo.InvariantCulture)).String(service).String(verb).String(keyFingerprint)
                .String(outcome).ToArray();
    }

    /// <summary>Who signed a module's log entries, as the module reports it with them: its log key and the chain to the vendor root.</summary>
    public sealed class ModuleLogSigner
    {
        public SshPublicKey? LogKey { get; set; }
        /// <summary>The log key's certificate by the identity key (base64), as TrustChain reads it.</summary>
        public string LogKeyCertificate { get; set; } = "";
        public SshPublicKey? IdentityKey { get; set; }
        /// <summary>The vendor's warrant for the identity key (base64).</summary>
        public string Warrant { get; set; } = "";
    }

    /// <summary>What a module says after clearing part of its log (<see cref="IModuleSession.ClearLogsAsync"/>).</summary>
    public sealed class ModuleLogClearOutcome
    {
        public long Cleared { get; set; }
        public long Remaining { get; set; }
    }
}
