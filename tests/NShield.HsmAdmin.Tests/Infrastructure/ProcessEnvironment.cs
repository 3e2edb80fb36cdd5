using System;
using Xunit;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    /// <summary>
    /// Tests that change process environment variables: they run in this collection, which xUnit runs alone
    /// (no other test reads a half-changed environment).
    /// </summary>
    [CollectionDefinition(Name, DisableParallelization = true)]
    public sealed class ProcessEnvironmentCollection
    {
        public const string Name = "Process environment";
    }
}
