using System.Threading.Tasks;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Add-HsmTrustedRoot and Remove-HsmTrustedRoot: a vendor root decides which module server keys this host trusts, so
    /// both ask first, No by default (-Confirm:$false answers). The store is written under its own lock after the answer.
    /// </summary>
    public static class TrustedRootOperation
    {
        /// <summary>Trusts <paramref name="key"/> as root <paramref name="name"/> once confirmed; null when the answer was No.</summary>
        public static Task<TrustedRoot?> AddAsync(HostStore store, string name, SshPublicKey key, bool overwrite, IOperationReporter reporter)
        {
            var action = $"Trust vendor root '{name}' ({key.Fingerprint}) to vouch for module server keys";
            var answer = reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Trust a vendor root",
                $"{action}? Every module whose certificate chain this key signs will be enrolled without a fingerprint check. " +
                "Answer Yes only if the fingerprint matches the one the vendor published.", store.Root, action));
            return Task.FromResult(answer == ConfirmAnswer.Yes ? store.AddTrustedRoot(name, key, overwrite) : null);
        }

        /// <summary>Stops trusting root <paramref name="name"/> once confirmed; UnknownTrustedRoot when there is none.</summary>
        public static Task RemoveAsync(HostStore store, string name, IOperationReporter reporter)
        {
            const string action = "Stop trusting it to vouch for module server keys";
            if (reporter.Confirm(new ConfirmQuestion(QuestionKind.Change, "Stop trusting a vendor root",
                    $"Stop trusting vendor root '{name}' of {store.Root}? Modules it vouched for then need a fingerprint check to be enrolled again.",
                    $"vendor root '{name}' of {store.Root}", action)) != ConfirmAnswer.Yes)
                return Task.CompletedTask;
            if (!store.RemoveTrustedRoot(name))
                reporter.Error(new HsmException(HsmErrorIds.UnknownTrustedRoot, HsmErrorKind.ObjectNotFound,
                    $"This host has no trusted root named '{name}'.", name));
            return Task.CompletedTask;
        }
    }
}
