using System;
using Xunit;

namespace RunnerFixture
{
    /// <summary>Outcomes of known shape for the runner's tests; Mixed.* is one of each.</summary>
    public class Mixed
    {
        [Fact]
        public void Passes() => Assert.True(true);

        [Fact]
        public void Fails() => Assert.Fail("fails on purpose (runner fixture)");

        [Fact(Skip = "skipped on purpose (runner fixture)")]
        public void IsSkipped() => Assert.Fail("never runs");
    }

    /// <summary>Kills the test host mid-run: only ever selected by filter (FullyQualifiedName~Crash).</summary>
    public class Crash
    {
        [Fact]
        public void KillsTheTestHost() => Environment.FailFast("runner fixture: test host crash on purpose");
    }
}
