using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using NShield.HsmAdmin.Drivers;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Commands
{
    /// <summary>Shared shape of the completers: a fixed or computed list filtered by what was typed.</summary>
    public abstract class ListCompleter : IArgumentCompleter
    {
        protected abstract IEnumerable<(string Value, string Tooltip)> Candidates(IDictionary fakeBoundParameters);

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var typed = (wordToComplete ?? "").Trim('\'', '"');
            IEnumerable<(string Value, string Tooltip)> all;
            try { all = Candidates(fakeBoundParameters).ToList(); }
            catch (Exception) { yield break; } // completion must never throw at the user
            foreach (var c in all.Where(c => c.Value.StartsWith(typed, StringComparison.OrdinalIgnoreCase)))
                yield return new CompletionResult(c.Value, c.Value, CompletionResultType.ParameterValue, c.Tooltip);
        }
    }

    /// <summary>ESNs of the modules registered with or enrolled on the host (-HostPath if typed, else the default host).</summary>
    public sealed class EsnCompleter : ListCompleter
    {
        protected override IEnumerable<(string, string)> Candidates(IDictionary bound)
        {
            var hostPath = bound["HostPath"] as string;
            var store = HostStore.Open(hostPath);
            var attached = store.GetRegisteredModules().Select(m => m.Esn);
            var listed = store.GetModules().Select(m => m.Esn);
            return attached.Union(listed, StringComparer.Ordinal).OrderBy(e => e, StringComparer.Ordinal).Select(e => (e, $"Module {e}"));
        }
    }

    public sealed class ServiceCompleter : ListCompleter
    {
        protected override IEnumerable<(string, string)> Candidates(IDictionary bound) =>
            ModuleServices.All.Select(s => (s, $"The {s} service"));
    }

    public sealed class AlgorithmCompleter : ListCompleter
    {
        protected override IEnumerable<(string, string)> Candidates(IDictionary bound) => new[]
        {
            ("Ed25519", "Ed25519 (default): small, fast, constant-time"),
            ("EcdsaP256", "ECDSA on NIST P-256"), ("EcdsaP384", "ECDSA on NIST P-384"), ("EcdsaP521", "ECDSA on NIST P-521"),
            ("Rsa3072", "RSA 3072-bit"), ("Rsa4096", "RSA 4096-bit"),
        };
    }

    public sealed class ProtectionCompleter : ListCompleter
    {
        protected override IEnumerable<(string, string)> Candidates(IDictionary bound) => new[]
        {
            ("KFG", "Default: per-key nonce, fixed nonce, global nonce of this OS install"),
            ("KF", "Per-key and fixed nonce: not tied to this machine"),
            ("KFS", "Adds the system UUID (needs DMI)"),
            ("KFGP", "Adds a user passphrase (not for unattended ncoreapi)"),
            ("KFSBG", "Every machine input"),
        };
    }
}
