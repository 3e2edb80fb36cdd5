using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Files;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Attestation of trust (issue 22, item 7): for each module, the six server keys it presents against this host's pins,
    /// each key's certificate (binding it to the module's ESN), and the warrant chain to a trusted vendor root; written as one
    /// JSON report signed with the host's sshadmin client key in OpenSSH's SSHSIG format, so an auditor checks it with
    /// `ssh-keygen -Y verify` and nothing of ours. Read-only towards the modules and the store (one audit line).
    /// </summary>
    internal sealed class TrustReportOperation
    {
        /// <summary>The SSHSIG namespace of trust reports: a signature made for anything else never verifies as a report.</summary>
        public const string SignatureNamespace = "nshield-hsmadmin-trust@hsmadmin";
        public const string Format = "nshield-hsmadmin-trust-report-v1";
        public const string SignatureSuffix = ".sig";

        private readonly HsmHost _host;
        public TrustReportOperation(HsmHost host) { _host = host; }

        /// <summary>The principal the report's allowed_signers line names: sshadmin@ this machine.</summary>
        public static string SignerIdentity => "sshadmin@" + Environment.MachineName;

        /// <summary>
        /// The refusals that need no module and no key: a folder or a managed path (report or signature), an existing file
        /// without -Force, a missing folder, a host without an sshadmin key.
        /// </summary>
        public static void CheckTarget(HostStore store, string path, bool force)
        {
            foreach (var target in new[] { path, path + SignatureSuffix })
            {
                ManagedPaths.CheckWritableTarget(store, target, "Export-HsmTrustReport");
                if (File.Exists(target) && !force)
                    throw new HsmException(HsmErrorIds.FileExists, HsmErrorKind.ResourceExists,
                        $"'{target}' already exists. Choose another path, or use -Force to overwrite it.", target);
            }
            var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (!Directory.Exists(directory))
                throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound, $"The folder '{directory}' does not exist.", path);
            if (store.GetClientKey(ModuleServices.SshAdmin) == null)
                throw new HsmException(HsmErrorIds.NoClientKeys, HsmErrorKind.ObjectNotFound,
                    $"This host ({store.Root}) has no sshadmin client key to sign the report with. Run Invoke-HsmEnroll first.", store.Root);
        }

        /// <summary>Export-HsmTrustReport: checks <paramref name="addresses"/> and writes the signed report (null when declined).</summary>
        public async Task<HsmTrustReport> ExportAsync(IReadOnlyList<ModuleAddress> addresses, ExportTrustReportRequest request,
            IOperationReporter reporter, CancellationToken ct)
        {
            var path = request.Path;
            CheckTarget(_host.Store, path, request.Force);
            // The signing key opens first (its passphrase, if P): no module is contacted for a report that cannot be signed.
            var signer = _host.ClientKey(ModuleServices.SshAdmin);
            if (!reporter.ShouldProcess(path, $"Check the trust of {addresses.Count} module(s) and write a signed trust report")) return null!;

            var modules = await FleetExecutor.CollectAsync(addresses, m => m.Esn,
                async (m, c) => (IEnumerable<HsmModuleTrust>)new[] { await AttestAsync(m, c).ConfigureAwait(false) },
                request.ThrottleLimit, "Checking module trust", reporter, ct).ConfigureAwait(false);
            modules = modules.OrderBy(m => m.Esn, StringComparer.Ordinal).ToList();
            foreach (var m in modules.Where(m => !m.Trusted))
                reporter.Warning($"Module {m.Esn} is not trusted: {m.Reason}");

            var generated = DateTimeOffset.UtcNow;
            var document = new ReportDocument
            {
                Format = Format,
                GeneratedAt = generated,
                Host = Environment.MachineName,
                Store = _host.Store.Root,
                Product = "NShield.HsmAdmin",
                ProductVersion = ProductVersion(),
                Signer = new ReportSigner
                {
                    Identity = SignerIdentity, Namespace = SignatureNamespace, Fingerprint = signer.PublicKey.Fingerprint,
                    PublicKey = signer.PublicKey.WithComment("").ToAuthorizedKeysLine(),
                },
                TrustedRoots = _host.Store.GetTrustedRoots()
                    .Select(r => new ReportRoot { Name = r.Name, Fingerprint = r.PublicKey.Fingerprint }).ToList(),
                Trusted = modules.Count > 0 && modules.All(m => m.Trusted),
                Modules = modules,
            };
            var json = JsonSerializer.Serialize(document, JsonOptions) + "\n";
            var bytes = new UTF8Encoding(false).GetBytes(json);
            var signature = SshSignature.Sign(signer, SignatureNamespace, bytes);
            // Both owner-only; the report first, so a signature never stands beside another report than its own for long.
            SecureFiles.WriteAtomic(path, bytes, FileAccessScope.OwnerOnly);
            SecureFiles.WriteAtomic(path + SignatureSuffix, signature, FileAccessScope.OwnerOnly);
            _host.Store.AppendAudit(new AuditEntry
            {
                Operation = "trust.report", Result = document.Trusted ? "Trusted" : "NotTrusted",
                Fingerprints = new[] { signer.PublicKey.Fingerprint },
                Detail = $"{path}: {modules.Count} module(s), {modules.Count(m => m.Trusted)} trusted",
            });
            return new HsmTrustReport
            {
                Path = System.IO.Path.GetFullPath(path), SignaturePath = System.IO.Path.GetFullPath(path + SignatureSuffix),
                Namespace = SignatureNamespace, SignerIdentity = SignerIdentity, SignerFingerprint = signer.PublicKey.Fingerprint,
                AllowedSigners = $"{SignerIdentity} namespaces=\"{SignatureNamespace}\" {document.Signer.PublicKey}",
                Trusted = document.Trusted, GeneratedAt = generated.UtcDateTime, Modules = modules.ToArray(), HostPath = _host.Path,
            };
        }

        /// <summary>
        /// One module: each service's handshake against its pin, then (over the pinned sshadmin channel) its certificates and chain.
        /// </summary>
        public async Task<HsmModuleTrust> AttestAsync(ModuleAddress module, CancellationToken ct)
        {
            var pins = _host.Store.GetPins(module.Esn);
            var result = new HsmModuleTrust { Esn = module.Esn };
            var services = new List<HsmServiceTrust>();
            ModuleIdentity? identity = null;
            SshPublicKey? adminPresented = null;
            foreach (var service in ModuleServices.All)
            {
                var row = new HsmServiceTrust { Service = service, Endpoint = module.Endpoint(service) };
                services.Add(row);
                if (!pins.TryGetValue(service, out var pin)) { row.Status = "NotPinned"; continue; }
                row.Pinned = pin.Fingerprint;
                try
                {
                    // Pinned: a changed key is refused before authentication, as everywhere in the product.
                    using (var session = await _host.OpenPinnedAsync(module, service, ct).ConfigureAwait(false))
                    {
                        row.Presented = session.ServerKey!.Fingerprint;
                        if (service == ModuleServices.SshAdmin)
                        {
                            identity = await ModuleIdentityReader.ReadAsync(session, ct).ConfigureAwait(false);
                            adminPresented = session.ServerKey;
                        }
                        else await session.PingAsync(ct).ConfigureAwait(false);
                    }
                    row.Status = "Match";
                }
                catch (HsmException ex) when (ex.ErrorId != HsmErrorIds.Cancelled)
                {
                    row.ErrorId = ex.ErrorId;
                    if (ex.ErrorId == HsmErrorIds.ServerKeyChanged)
                    {
                        row.Status = "Changed";
                        row.Presented = ex.Data[ChannelErrors.PresentedFingerprintKey] as string ?? "";
                    }
                    // The pin was checked before authentication: a refused client key still proves what was presented.
                    else if (ex.ErrorId == HsmErrorIds.AuthenticationFailed) { row.Status = "Match"; row.Presented = pin.Fingerprint; }
                    else row.Status = "Unreachable";
                }
            }
            result.Services = services.ToArray();

            if (identity == null || adminPresented == null)
            {
                result.Chain = "NotChecked";
                result.ChainReason = "the module's identity could not be read over its pinned sshadmin channel";
            }
            else
            {
                result.Mode = identity.Mode.ToString();
                result.FirmwareVersion = identity.FirmwareVersion;
                result.IdentityKey = identity.IdentityKey?.Fingerprint ?? "";
                foreach (var row in services)
                {
                    if (identity.ServerKeys.TryGetValue(row.Service, out var reported)) row.Certified = reported.Fingerprint;
                    row.Certificate = TrustVerification.CheckCertificate(module.Esn, identity, row.Service) is { } why ? "Invalid: " + why : "Valid";
                    if (row.Status == "Match" && row.Certified != row.Pinned) row.Status = "NotCertified";
                }
                var (root, reason) = TrustVerification.VerifyingRoot(_host.Store, module.Esn, identity, adminPresented);
                result.Chain = root != null ? "Verified" : "NotVerified";
                result.TrustedRoot = root ?? "";
                result.ChainReason = reason ?? $"warrant and certificates verified under the trusted root '{root}'";
            }
            result.PinsMatch = services.All(s => s.Status == "Match");
            result.ChainVerified = result.Chain == "Verified";
            result.Trusted = result.PinsMatch && result.ChainVerified;
            var problems = services.Where(s => s.Status != "Match").Select(s => $"{s.Service} {s.Status}").ToList();
            if (!result.ChainVerified) problems.Add("chain " + result.Chain + " (" + result.ChainReason + ")");
            result.Reason = problems.Count == 0
                ? "every server key matches its pin and its certificate, and the vendor chain verifies"
                : string.Join("; ", problems);
            return result;
        }

        private static string ProductVersion() =>
            typeof(TrustReportOperation).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(TrustReportOperation).Assembly.GetName().Version?.ToString() ?? "";

        private static readonly JsonSerializerOptions JsonOptions = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        };

        private sealed class ReportDocument
        {
            public string Format { get; set; } = "";
            public DateTimeOffset GeneratedAt { get; set; }
            public string Host { get; set; } = "";
            public string Store { get; set; } = "";
            public string Product { get; set; } = "";
            public string ProductVersion { get; set; } = "";
            public ReportSigner Signer { get; set; } = new ReportSigner();
            public List<ReportRoot> TrustedRoots { get; set; } = new List<ReportRoot>();
            public bool Trusted { get; set; }
            public List<HsmModuleTrust> Modules { get; set; } = new List<HsmModuleTrust>();
        }

        private sealed class ReportSigner
        {
            public string Identity { get; set; } = "";
            public string Namespace { get; set; } = "";
            public string Fingerprint { get; set; } = "";
            public string PublicKey { get; set; } = "";
        }

        private sealed class ReportRoot
        {
            public string Name { get; set; } = "";
            public string Fingerprint { get; set; } = "";
        }
    }

    /// <summary>What Export-HsmTrustReport wrote: the report and its signature, and how to verify it with ssh-keygen.</summary>
    public sealed class HsmTrustReport
    {
        public string Path { get; set; } = "";
        public string SignaturePath { get; set; } = "";
        /// <summary>The SSHSIG namespace (ssh-keygen -Y verify -n).</summary>
        public string Namespace { get; set; } = "";
        /// <summary>The principal of the allowed_signers line (ssh-keygen -Y verify -I).</summary>
        public string SignerIdentity { get; set; } = "";
        public string SignerFingerprint { get; set; } = "";
        /// <summary>
        /// One allowed_signers line for the auditor (ssh-keygen -Y verify -f): identity, namespace, the host's sshadmin public key.
        /// </summary>
        public string AllowedSigners { get; set; } = "";
        /// <summary>Every module reported is trusted (and there was at least one).</summary>
        public bool Trusted { get; set; }
        public DateTime GeneratedAt { get; set; }
        public HsmModuleTrust[] Modules { get; set; } = Array.Empty<HsmModuleTrust>();
        public string HostPath { get; set; } = "";
    }

    /// <summary>One module in a trust report.</summary>
    public sealed class HsmModuleTrust
    {
        public string Esn { get; set; } = "";
        public string Mode { get; set; } = "";
        public string FirmwareVersion { get; set; } = "";
        /// <summary>Fingerprint of the module's identity key (the key the vendor's warrant names for this ESN).</summary>
        public string IdentityKey { get; set; } = "";
        /// <summary>Every service presented exactly its pinned key, and that key is the one the module certifies.</summary>
        public bool PinsMatch { get; set; }
        /// <summary>A trusted vendor root vouches for the module (warrant) and its server keys (certificates).</summary>
        public bool ChainVerified { get; set; }
        public bool Trusted { get; set; }
        /// <summary>Verified, NotVerified (no root vouches: <see cref="ChainReason"/>), or NotChecked (the identity could not be read).</summary>
        public string Chain { get; set; } = "";
        public string ChainReason { get; set; } = "";
        /// <summary>The name of the trusted root that vouched; empty when none did.</summary>
        public string TrustedRoot { get; set; } = "";
        /// <summary>Why the module is or is not trusted, in one line.</summary>
        public string Reason { get; set; } = "";
        public HsmServiceTrust[] Services { get; set; } = Array.Empty<HsmServiceTrust>();
    }

    /// <summary>One service of a module in a trust report: pinned, presented and certified fingerprints.</summary>
    public sealed class HsmServiceTrust
    {
        public string Service { get; set; } = "";
        public string Endpoint { get; set; } = "";
        /// <summary>The fingerprint this host pinned; empty when none is pinned.</summary>
        public string Pinned { get; set; } = "";
        /// <summary>The fingerprint the service presented in its SSH handshake; empty when it could not be reached.</summary>
        public string Presented { get; set; } = "";
        /// <summary>The fingerprint the module reports (and certifies) for the service; empty when its identity was not read.</summary>
        public string Certified { get; set; } = "";
        /// <summary>Valid, or Invalid: why (the certificate binding the key to the module's ESN under its identity key).</summary>
        public string Certificate { get; set; } = "";
        /// <summary>Match, Changed (another key than the pin), NotCertified, NotPinned, or Unreachable.</summary>
        public string Status { get; set; } = "";
        /// <summary>The error id when the channel failed.</summary>
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ErrorId { get; set; }
    }
}
