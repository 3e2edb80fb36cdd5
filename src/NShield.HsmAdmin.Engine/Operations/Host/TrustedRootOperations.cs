using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>A vendor root this host trusts to vouch for module server keys (warrant and certificates).</summary>
    public sealed class HsmTrustedRootInfo
    {
        public string Name { get; set; } = "";
        public string Algorithm { get; set; } = "";
        public string Fingerprint { get; set; } = "";
        public string PublicKey { get; set; } = "";
        public string Path { get; set; } = "";
        /// <summary>The host store that trusts it (binds to -HostPath down the pipeline).</summary>
        public string HostPath { get; set; } = "";

        internal static HsmTrustedRootInfo From(HostStore store, TrustedRoot root) => new HsmTrustedRootInfo
        {
            Name = root.Name, Algorithm = root.PublicKey.Algorithm.ToString(), Fingerprint = root.PublicKey.Fingerprint,
            PublicKey = root.PublicKey.ToAuthorizedKeysLine(), Path = root.Path, HostPath = store.Root,
        };
    }

    /// <summary>Get-HsmTrustedRoot: the roots whose name matches a wildcard pattern (* ? [ ]; case-insensitive).</summary>
    public sealed class GetTrustedRootRequest : HostRequest
    {
        public string Name { get; set; } = "*";
    }

    /// <summary>Add-HsmTrustedRoot: a root public key (authorized_keys line) or a .pub file (full path), under a name.</summary>
    public sealed class AddTrustedRootRequest : HostRequest
    {
        public string Name { get; set; } = "";
        public string? PublicKey { get; set; }
        public string? PublicKeyFile { get; set; }
        /// <summary>Replace a root of the same name.</summary>
        public bool Force { get; set; }
    }

    /// <summary>Remove-HsmTrustedRoot: the root's name.</summary>
    public sealed class RemoveTrustedRootRequest : HostRequest
    {
        public string Name { get; set; } = "";
    }

    /// <summary>Get-HsmTrustedRoot: the vendor roots this host trusts.</summary>
    public sealed class GetTrustedRootOperation : IHsmOperation<GetTrustedRootRequest>
    {
        public Task RunAsync(GetTrustedRootRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            var pattern = Wildcard.ToRegex(request.Name);
            foreach (var root in store.GetTrustedRoots().Where(r => pattern.IsMatch(r.Name)))
                reporter.Result(HsmTrustedRootInfo.From(store, root));
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// Add-HsmTrustedRoot: a vendor root decides which module server keys this host trusts, so it asks first, No by
    /// default; only -Confirm:$false answers for a script (not $ConfirmPreference None). Written under the store's lock after
    /// the answer.
    /// </summary>
    public sealed class AddTrustedRootOperation : IHsmOperation<AddTrustedRootRequest>
    {
        public Task RunAsync(AddTrustedRootRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var line = request.PublicKeyFile == null ? request.PublicKey ?? "" : ReadKeyFile(request.PublicKeyFile);
            var key = SshPublicKey.Parse(line);
            var store = HostStore.Open(request.HostPath);
            var action = $"Trust vendor root '{request.Name}' ({key.Fingerprint}) to vouch for module server keys";
            var answer = reporter.Confirm(new ConfirmQuestion(QuestionKind.Confirmation, "Trust a vendor root",
                $"{action}? Every module whose certificate chain this key signs will be enrolled without a fingerprint check. " +
                "Answer Yes only if the fingerprint matches the one the vendor published.", store.Root, action));
            if (answer == ConfirmAnswer.Yes)
                reporter.Result(HsmTrustedRootInfo.From(store, store.AddTrustedRoot(request.Name, key, request.Force)));
            return Task.CompletedTask;
        }

        private static string ReadKeyFile(string path) => File.Exists(path)
            ? File.ReadAllText(path).Trim()
            : throw new HsmException(HsmErrorIds.KeyFileNotFound, HsmErrorKind.ObjectNotFound, $"'{path}' does not exist.", path);
    }

    /// <summary>Remove-HsmTrustedRoot: asks first (No by default); UnknownTrustedRoot when the store has no such root.</summary>
    public sealed class RemoveTrustedRootOperation : IHsmOperation<RemoveTrustedRootRequest>
    {
        public Task RunAsync(RemoveTrustedRootRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.Open(request.HostPath);
            const string action = "Stop trusting it to vouch for module server keys";
            if (reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Stop trusting a vendor root",
                    $"Stop trusting vendor root '{request.Name}' of {store.Root}? Modules it vouched for then need a fingerprint " +
                    "check to be enrolled again.", $"vendor root '{request.Name}' of {store.Root}", action)) != ConfirmAnswer.Yes)
                return Task.CompletedTask;
            if (!store.RemoveTrustedRoot(request.Name))
                reporter.Error(new HsmException(HsmErrorIds.UnknownTrustedRoot, HsmErrorKind.ObjectNotFound,
                    $"The host store {store.Root} has no trusted root named '{request.Name}'.", request.Name));
            return Task.CompletedTask;
        }
    }
}
