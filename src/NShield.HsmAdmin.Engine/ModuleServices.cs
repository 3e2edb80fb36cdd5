using System;
using System.Collections.Generic;
using System.Linq;

namespace NShield.HsmAdmin
{
    /// <summary>The services of an nShield 5s, each with its own SSH endpoint, server key and client key.</summary>
    public static class ModuleServices
    {
        public const string SshAdmin = "sshadmin";
        public const string NCoreApi = "ncoreapi";
        public const string Setup = "setup";
        public const string Updater = "updater";
        public const string Monitor = "monitor";
        public const string Launcher = "launcher";

        /// <summary>sshadmin first: it is the channel every other key is installed through.</summary>
        public static readonly IReadOnlyList<string> All = new[] { SshAdmin, NCoreApi, Setup, Updater, Monitor, Launcher };

        public static bool IsKnown(string? name) => name != null && All.Contains(name, StringComparer.Ordinal);

        /// <summary>Case-insensitive lookup that returns the canonical name, or throws a typed error.</summary>
        public static string Canonical(string name)
        {
            var hit = All.FirstOrDefault(s => string.Equals(s, name?.Trim(), StringComparison.OrdinalIgnoreCase));
            if (hit == null)
                throw new HsmException(HsmErrorIds.UnknownService, HsmErrorKind.InvalidArgument,
                    $"'{name}' is not a module service. Valid services: {string.Join(", ", All)}.", name);
            return hit;
        }
    }
}
