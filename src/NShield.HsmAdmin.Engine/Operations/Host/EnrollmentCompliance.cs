using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NShield.HsmAdmin.Store;

namespace NShield.HsmAdmin.Operations
{
    /// <summary>What Test-HsmEnrollment (and the HsmEnrollment DSC resource) is asked: the host and its desired state.</summary>
    public sealed class EnrollmentStateRequest : HostRequest
    {
        /// <summary>Client keys older than this many days are due for a roll; 0: no rotation.</summary>
        public int MaxClientKeyAgeDays { get; set; }
        /// <summary>The hardserver must run with the current ncoreapi key.</summary>
        public bool RestartHardserver { get; set; }
        public int ThrottleLimit { get; set; } = 16;
    }

    /// <summary>One reason a host is not in its desired state: Code as Azure Machine Configuration reports it, and a Phrase.</summary>
    public sealed class HsmEnrollmentReason
    {
        public string Code { get; set; } = "";
        public string Phrase { get; set; } = "";
    }

    /// <summary>
    /// A host's enrollment as the HsmEnrollment DSC resource sees it: which modules are enrolled, not enrolled, released or
    /// detached; the client keys' age; whether every channel works; the hardserver's key; and the reasons it is not in
    /// its desired state (none: <see cref="Compliant"/>).
    /// </summary>
    public sealed class HsmEnrollmentState
    {
        public string HostPath { get; set; } = "";
        public bool Compliant => Reasons.Length == 0;
        public string[] EnrolledEsns { get; set; } = Array.Empty<string>();
        public string[] NotEnrolledEsns { get; set; } = Array.Empty<string>();
        public string[] ReleasedEsns { get; set; } = Array.Empty<string>();
        public string[] DetachedEsns { get; set; } = Array.Empty<string>();
        /// <summary>Age in days of the oldest client key; -1 when the host has none.</summary>
        public double OldestClientKeyAge { get; set; } = -1;
        /// <summary>The services whose client keys a roll should replace: too old, or of unknown age, under a maximum age.</summary>
        public string[] ClientKeysDue { get; set; } = Array.Empty<string>();
        /// <summary>The services whose client keys are older than the maximum age.</summary>
        public string[] ClientKeysTooOld { get; set; } = Array.Empty<string>();
        /// <summary>
        /// The services whose client keys' creation time is unknown (restored from a portable backup, or recorded before
        /// creation times were kept): they cannot be shown to be young enough.
        /// </summary>
        public string[] ClientKeysAgeUnknown { get; set; } = Array.Empty<string>();
        public bool ChannelsHealthy { get; set; }
        /// <summary>ESN/service: error id, for each channel that failed its test.</summary>
        public string[] FailingChannels { get; set; } = Array.Empty<string>();
        /// <summary>False when an enrolled module reports the hardserver on an older ncoreapi key.</summary>
        public bool HardserverKeyCurrent { get; set; } = true;
        public HsmEnrollmentReason[] Reasons { get; set; } = Array.Empty<HsmEnrollmentReason>();
    }

    /// <summary>The compliance decision of the HsmEnrollment resource, from the facts alone (no I/O).</summary>
    public static class EnrollmentCompliance
    {
        public const string CodePrefix = "HsmEnrollment:HsmEnrollment:";

        /// <summary>The services whose key (by the time the host created it) is older than <paramref name="maxAgeDays"/> (0: none).</summary>
        public static string[] KeysDue(IReadOnlyDictionary<string, double> ageDays, int maxAgeDays) =>
            maxAgeDays <= 0 ? Array.Empty<string>()
                : ageDays.Where(a => a.Value > maxAgeDays).Select(a => a.Key).OrderBy(s => s, StringComparer.Ordinal).ToArray();

        /// <summary>One reason per unmet condition, in a fixed order; none when the host is in its desired state.</summary>
        public static HsmEnrollmentReason[] Reasons(HsmEnrollmentState s, int maxAgeDays, bool restartHardserver)
        {
            var list = new List<HsmEnrollmentReason>();
            void Add(string code, string phrase) => list.Add(new HsmEnrollmentReason { Code = CodePrefix + code, Phrase = phrase });
            if (s.NotEnrolledEsns.Length > 0) Add("NotEnrolled", $"not enrolled: {string.Join(", ", s.NotEnrolledEsns)}");
            if (s.DetachedEsns.Length > 0)
                Add("Detached", $"detached but still listed: {string.Join(", ", s.DetachedEsns)} " +
                    "(enrolled modules still hold this host's keys and key rolls stop on them: register them again, " +
                    "or forget one for good with Invoke-HsmEnroll -Esn <ESN> -Forget)");
            if (s.EnrolledEsns.Length == 0) Add("NoModuleEnrolled", $"no module enrolled with host '{s.HostPath}'");
            if (s.FailingChannels.Length > 0) Add("ChannelFailing", $"failing channels: {string.Join(", ", s.FailingChannels)}");
            else if (s.EnrolledEsns.Length > 0 && !s.ChannelsHealthy) Add("ChannelFailing", "the channels could not be tested");
            if (maxAgeDays > 0 && s.ClientKeysTooOld.Length > 0)
                Add("ClientKeyTooOld", $"client keys older than {maxAgeDays} days: {string.Join(", ", s.ClientKeysTooOld)}");
            if (maxAgeDays > 0 && s.ClientKeysAgeUnknown.Length > 0)
                Add("ClientKeyAgeUnknown",
                    $"client keys of unknown age (creation time not recorded; Set rolls them): {string.Join(", ", s.ClientKeysAgeUnknown)}");
            if (restartHardserver && !s.HardserverKeyCurrent) Add("HardserverKeyNotCurrent", "hardserver not on the current ncoreapi key");
            return list.ToArray();
        }
    }

    /// <summary>
    /// Test-HsmEnrollment: reads the host's records (which modules are attached and enrolled), its client keys' ages, and
    /// tests every channel of the attached modules, then decides compliance (<see cref="EnrollmentCompliance"/>). Reads
    /// only; never asks (a passphrase-protected key it cannot open makes the channels untested).
    /// </summary>
    public sealed class TestEnrollmentOperation : IHsmOperation<EnrollmentStateRequest>
    {
        public async Task RunAsync(EnrollmentStateRequest request, IOperationReporter reporter, CancellationToken cancellationToken)
        {
            var store = HostStore.OpenExisting(request.HostPath);
            var state = new HsmEnrollmentState { HostPath = store.Root };
            using (var host = request.OpenHost(store))
            {
                var inspection = new ModuleInspection(host);
                var quiet = new QuietReporter();
                var modules = await inspection.StatusAllAsync(inspection.Known(), false, request.ThrottleLimit, quiet, cancellationToken)
                    .ConfigureAwait(false);
                var attached = modules.Where(m => m.Attached).ToList();
                // Released modules are on their way to another host (Move-HsmModule): neither drift nor ours to enroll.
                var enrolled = attached.Where(m => m.Enrolled && m.Status != ModuleStatus.Released.ToString()).ToList();
                var notEnrolled = attached.Where(m => !m.Enrolled && m.Status != ModuleStatus.Released.ToString()).ToList();
                state.EnrolledEsns = Sorted(enrolled);
                state.NotEnrolledEsns = Sorted(notEnrolled);
                state.ReleasedEsns = Sorted(attached.Where(m => m.Status == ModuleStatus.Released.ToString()));
                state.DetachedEsns = Sorted(modules.Where(m => !m.Attached));
                state.HardserverKeyCurrent = !enrolled.Any(m => m.HardserverKeyCurrent == false);

                // A key's age runs from when it was generated (Get-HsmSshKey's Age); an unknown age is never a guess: under a
                // maximum age it is due, and the roll that replaces it records the new key's time.
                var keys = KeyInventory.ClientKeys(store).ToList();
                var ages = keys.Where(k => k.Age != null).ToDictionary(k => k.Service, k => k.Age!.Value.TotalDays);
                state.OldestClientKeyAge = ages.Count == 0 ? -1 : Math.Round(ages.Values.Max(), 2);
                state.ClientKeysTooOld = EnrollmentCompliance.KeysDue(ages, request.MaxClientKeyAgeDays);
                state.ClientKeysAgeUnknown = keys.Where(k => k.Age == null).Select(k => k.Service).OrderBy(s => s, StringComparer.Ordinal).ToArray();
                state.ClientKeysDue = request.MaxClientKeyAgeDays <= 0 ? Array.Empty<string>()
                    : state.ClientKeysTooOld.Concat(state.ClientKeysAgeUnknown).Distinct().OrderBy(s => s, StringComparer.Ordinal).ToArray();

                var checkedModules = host.Attached().Where(a => enrolled.Concat(notEnrolled).Any(m => m.Esn == a.Esn)).ToList();
                if (checkedModules.Count > 0 && KeyPassphrases.Protected(store, ModuleServices.All).Count == 0)
                {
                    var results = await inspection.TestAllAsync(checkedModules, ModuleServices.All.ToList(), request.ThrottleLimit, quiet,
                        cancellationToken).ConfigureAwait(false);
                    state.FailingChannels = results.Where(r => !r.Success).Select(r => $"{r.Esn}/{r.Service}: {r.ErrorId}").ToArray();
                    state.ChannelsHealthy = results.Count > 0 && state.FailingChannels.Length == 0;
                }
            }
            state.Reasons = EnrollmentCompliance.Reasons(state, request.MaxClientKeyAgeDays, request.RestartHardserver);
            reporter.Result(state);
        }

        private static string[] Sorted(IEnumerable<HsmModuleInfo> modules) =>
            modules.Select(m => m.Esn).OrderBy(e => e, StringComparer.Ordinal).ToArray();

        /// <summary>A compliance check reports facts, not each module's errors: those become its Reasons.</summary>
        private sealed class QuietReporter : IOperationReporter
        {
            public void Progress(OperationProgress progress) { }
            public void Warning(string message) { }
            public void Verbose(string message) { }
            public void Error(HsmException error) { }
            public void Result(object result) { }
            public bool ShouldProcess(string target, string action) => false;
            public ConfirmAnswer Confirm(ConfirmQuestion question) => ConfirmAnswer.No;
            public System.Security.SecureString? AskSecret(SecretQuestion question) => null;
        }
    }
}
