using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What a module says about itself through the sshadmin 'identity' verb.</summary>
    internal sealed class ModuleIdentity
    {
        public string Esn { get; private set; } = "";
        public ModuleMode Mode { get; private set; }
        public bool Enrolled { get; private set; }
        public string FirmwareVersion { get; private set; } = "";
        public SshPublicKey? IdentityKey { get; private set; }
        /// <summary>Base64, as the module sent it: the trust chain reads it as is.</summary>
        public string Warrant { get; private set; } = "";
        public Dictionary<string, SshPublicKey> ServerKeys { get; } = new Dictionary<string, SshPublicKey>();
        public Dictionary<string, string> Certificates { get; } = new Dictionary<string, string>();
        /// <summary>The module's clock as it reports it (null when it reports none).</summary>
        public DateTimeOffset? Clock { get; private set; }
        /// <summary>
        /// False when the module says its clock is invalid ('clockValid': false) or, if it does not say, reports a clock
        /// before <see cref="EarliestValidClock"/>. Firmware 13.5+ refuses SSH key changes outside Recovery mode then.
        /// </summary>
        public bool ClockValid { get; private set; } = true;

        /// <summary>A module clock before this is unset (a module whose clock was lost counts from 1970).</summary>
        public static readonly DateTimeOffset EarliestValidClock = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

        /// <summary>
        /// Asks the module on an open sshadmin channel who it is. A module that names another ESN than the one the
        /// host enumerates at that address is refused here, once for every caller.
        /// </summary>
        public static async Task<ModuleIdentity> ReadAsync(IModuleChannel channel, CancellationToken ct)
        {
            var identity = Parse(channel.Esn, await channel.InvokeAsync(FirmwareVerbs.Identity, null, ct).ConfigureAwait(false));
            if (!string.Equals(identity.Esn, channel.Esn, StringComparison.OrdinalIgnoreCase))
                throw new HsmException(HsmErrorIds.CertificateInvalid, HsmErrorKind.SecurityError,
                    $"The module the host enumerates as {channel.Esn} says it is {identity.Esn}. Nothing was changed.", channel.Esn);
            return identity;
        }

        /// <summary>
        /// Reads an identity result. Every field the host relies on must be there with its protocol type; a missing or
        /// mistyped field, or a key that does not parse (bad blob, degenerate RSA, point off the curve), is ProtocolError.
        /// </summary>
        public static ModuleIdentity Parse(string esn, FirmwareResult reply)
        {
            var r = FirmwareBodies.Read(reply.Result, FirmwareJson.Default.IdentityResult, FirmwareVerbs.Identity, esn);
            try
            {
                var id = new ModuleIdentity
                {
                    Esn = Required(r.Esn, "esn"),
                    Mode = r.Mode is ModuleMode mode && Enum.IsDefined(typeof(ModuleMode), mode)
                        ? mode : throw new FormatException("'mode' is missing or not a mode of this protocol"),
                    Enrolled = r.Enrolled,
                    FirmwareVersion = r.FirmwareVersion ?? "",
                };
                if (!string.IsNullOrEmpty(r.IdentityKey)) id.IdentityKey = SshPublicKey.Parse(r.IdentityKey!);
                id.Warrant = r.Warrant ?? "";
                if (!string.IsNullOrEmpty(r.Clock) && DateTimeOffset.TryParse(r.Clock, System.Globalization.CultureInfo.InvariantCulture,
                        System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)) id.Clock = parsed;
                if (r.ClockValid is bool valid)
                    id.ClockValid = valid;
                else if (id.Clock != null)
                    id.ClockValid = id.Clock.Value >= EarliestValidClock;
                if (r.ServerKeys == null) throw new FormatException("'serverKeys' is missing or not an object");
                foreach (var svc in r.ServerKeys)
                {
                    if (!ModuleServices.IsKnown(svc.Key)) continue;
                    if (svc.Value == null) throw new FormatException($"'serverKeys.{svc.Key}' is not an object");
                    id.ServerKeys[svc.Key] = SshPublicKey.Parse(Required(svc.Value.PublicKey, "publicKey"));
                    if (!string.IsNullOrEmpty(svc.Value.Certificate)) id.Certificates[svc.Key] = svc.Value.Certificate!;
                }
                return id;
            }
            catch (Exception ex) when (!(ex is OperationCanceledException))
            {
                throw new HsmException(HsmErrorIds.ProtocolError, HsmErrorKind.InvalidData,
                    $"Module {esn} sent an identity that cannot be read ({FirmwareResult.Printable(ex.Message, 300)}).", esn, ex);
            }
        }

        private static string Required(string? value, string name) =>
            value ?? throw new FormatException($"'{name}' is missing or not a string");
    }
}
