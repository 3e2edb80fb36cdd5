using System.Collections.Generic;
using System.Linq;
using NShield.HsmAdmin.Modules;
using NShield.HsmAdmin.Trust;
using NShield.HsmAdmin.Keys;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>
    /// Checks a module's server keys against the host's trusted vendor roots: root → warrant (module
    /// identity key for this ESN) → certificate per service key; and that the sshadmin key the module
    /// actually presented is the certified one.
    /// </summary>
    internal static class TrustVerification
    {
        /// <summary>Null when some trusted root vouches for every server key; otherwise why not.</summary>
        public static string? VerifyAgainstRoots(HostStore store, string esn, ModuleIdentity identity, SshPublicKey presentedAdminKey)
        {
            var roots = store.GetTrustedRoots();
            if (roots.Count == 0) return "no trusted vendor root is configured";
            var structural = CheckShape(identity, presentedAdminKey);
            if (structural != null) return structural;
            var reasons = new List<string>();
            foreach (var root in roots)
            {
                var reason = VerifyChain(root.PublicKey, esn, identity);
                if (reason == null) return null;
                reasons.Add($"{root.Name}: {reason}");
            }
            return string.Join("; ", reasons);
        }

        /// <summary>
        /// As <see cref="VerifyAgainstRoots"/>, and which trusted root vouched (the trust report says why a module is trusted):
        /// (root name, null) when one does, (null, why not) otherwise.
        /// </summary>
        public static (string? Root, string? Reason) VerifyingRoot(HostStore store, string esn, ModuleIdentity identity,
            SshPublicKey presentedAdminKey)
        {
            var roots = store.GetTrustedRoots();
            if (roots.Count == 0) return (null, "no trusted vendor root is configured");
            var structural = CheckShape(identity, presentedAdminKey);
            if (structural != null) return (null, structural);
            var reasons = new List<string>();
            foreach (var root in roots)
            {
                var reason = VerifyChain(root.PublicKey, esn, identity);
                if (reason == null) return (root.Name, null);
                reasons.Add($"{root.Name}: {reason}");
            }
            return (null, string.Join("; ", reasons));
        }

        /// <summary>The certificate the module sent for one service binds that key to this ESN under its identity key: null, or why not.</summary>
        public static string? CheckCertificate(string esn, ModuleIdentity identity, string service)
        {
            if (identity.IdentityKey == null) return "the module sent no identity key";
            if (!identity.ServerKeys.TryGetValue(service, out var key)) return $"the module reported no {service} server key";
            if (!identity.Certificates.TryGetValue(service, out var cert)) return $"no certificate for {service}";
            try
            {
                var result = TrustChain.VerifyCertificate(esn, identity.IdentityKey.ToAuthorizedKeysLine(), service, key.Blob, cert);
                return result.Ok ? null : result.Reason;
            }
            catch (System.Exception ex) when (!(ex is System.OperationCanceledException))
            {
                return $"the {service} certificate cannot be read ({ex.GetType().Name})";
            }
        }

        /// <summary>Every service reported, and the presented sshadmin key is the one the module reports.</summary>
        public static string? CheckShape(ModuleIdentity identity, SshPublicKey presentedAdminKey)
        {
            if (!ModuleServices.All.All(identity.ServerKeys.ContainsKey)) return "the module did not report a server key for every service";
            if (!identity.ServerKeys[ModuleServices.SshAdmin].Blob.SequenceEqual(presentedAdminKey.Blob))
                return $"the sshadmin server key presented ({presentedAdminKey.Fingerprint}) is not the one " +
                    $"the module certifies ({identity.ServerKeys[ModuleServices.SshAdmin].Fingerprint})";
            return null;
        }

        private static string? VerifyChain(SshPublicKey root, string esn, ModuleIdentity identity)
        {
            if (identity.IdentityKey == null) return "the module sent no identity key";
            foreach (var service in ModuleServices.All)
            {
                if (!identity.Certificates.TryGetValue(service, out var cert)) return $"no certificate for {service}";
                TrustChainResult result;
                // Module-supplied bytes: whatever goes wrong reading them is a reason to refuse, never an untyped exception.
                try
                {
                    result = TrustChain.Verify(root.ToAuthorizedKeysLine(), esn, identity.IdentityKey.ToAuthorizedKeysLine(), identity.Warrant,
                        service, identity.ServerKeys[service].Blob, cert);
                }
                catch (System.Exception ex) when (!(ex is System.OperationCanceledException))
                {
                    return $"the {service} certificate chain cannot be read ({ex.GetType().Name})";
                }
                if (!result.Ok) return result.Reason;
            }
            return null;
        }
    }
}
