using System;
using System.Collections.Generic;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What a module says about itself through the sshadmin 'identity' verb.</summary>
    public sealed class ModuleIdentity
    {
        public string Esn { get; private set; } = "";
        public string Mode { get; private set; } = "";
        public bool Enrolled { get; private set; }
        public string FirmwareVersion { get; private set; } = "";
        public SshPublicKey? IdentityKey { get; private set; }
        /// <summary>Base64, as the module sent it: the trust chain reads it as is.</summary>
        public string Warrant { get; private set; } = "";
        public Dictionary<string, SshPublicKey> ServerKeys { get; } = new Dictionary<string, SshPublicKey>();
        public Dictionary<string, string> Certificates { get; } = new Dictionary<string, string>();

        /// <summary>
        /// Asks the module on an open sshadmin channel who it is. A module that names another ESN than the one the
        /// host enumerates at that address is refused here, once for every caller.
        /// </summary>
        public static async Task<ModuleIdentity> ReadAsync(IModuleChannel channel, CancellationToken ct)
        {
            var identity = Parse(channel.Esn, await channel.InvokeAsync("identity", null, ct).ConfigureAwait(false));
            if (!string.Equals(identity.Esn, channel.Esn, StringComparison.OrdinalIgnoreCase))
                throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                    $"The module the host enumerates as {channel.Esn} says it is {identity.Esn}. Nothing was changed.", channel.Esn);
            return identity;
        }

        public static ModuleIdentity Parse(string esn, FirmwareResult reply)
        {
            try
            {
                var r = reply.Result;
                var id = new ModuleIdentity
                {
                    Esn = reply.GetString("esn"),
                    Mode = reply.GetString("mode"),
                    Enrolled = r.TryGetProperty("enrolled", out var e) && e.ValueKind == JsonValueKind.True,
                    FirmwareVersion = reply.GetString("firmwareVersion"),
                };
                var identityKey = reply.GetString("identityKey");
                if (identityKey.Length > 0) id.IdentityKey = SshPublicKey.Parse(identityKey);
                id.Warrant = reply.GetString("warrant");
                if (r.TryGetProperty("serverKeys", out var keys) && keys.ValueKind == JsonValueKind.Object)
                {
                    foreach (var svc in keys.EnumerateObject())
                    {
                        if (!ModuleServices.IsKnown(svc.Name)) continue;
                        id.ServerKeys[svc.Name] = SshPublicKey.Parse(svc.Value.GetProperty("publicKey").GetString() ?? "");
                        if (svc.Value.TryGetProperty("certificate", out var cert) && cert.ValueKind == JsonValueKind.String)
                            id.Certificates[svc.Name] = cert.GetString()!;
                    }
                }
                return id;
            }
            catch (Exception ex) when (ex is FormatException || ex is KeyNotFoundException || ex is InvalidOperationException || ex is HsmException)
            {
                throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {esn} sent an identity that cannot be read ({ex.Message}).", esn, ex);
            }
        }
    }
}
