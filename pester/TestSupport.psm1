# Shared set-up of the Pester suite: every test host and simulator lives under one temporary root,
# and every simulator a test starts is stopped by Remove-TestHosts.
$script:Root = Join-Path ([IO.Path]::GetTempPath()) ("nshield-pester-" + $PID)
$script:Simulators = [Collections.Generic.List[string]]::new()

# The root is owner-only whatever the umask: host stores refuse folders others can write (StrictModes).
if (-not (Test-Path $script:Root)) {
    New-Item -ItemType Directory -Force $script:Root | Out-Null
    if (-not $IsWindows) { chmod 700 $script:Root }
}

function New-TestHostPath([string] $Name = 'host') {
    $path = Join-Path $script:Root ("$Name-" + [guid]::NewGuid().ToString('N').Substring(0, 6))
    New-Item -ItemType Directory -Force $path | Out-Null
    if (-not $IsWindows) { chmod 755 $path }
    $path
}

# The host's pins as its known_hosts lines (none: an empty list).
function Get-PinLines([string] $HostPath) {
    $file = Join-Path $HostPath 'known_hosts'
    if (Test-Path $file) { @(Get-Content $file) } else { @() }
}

# Another OS install's machine folder for a store: its own global nonce for the store (another value), so G keys and
# verbatim backups made here do not open there. The product moves a host only to a folder holding its keys' nonces.
function New-OtherMachineFolder([string] $HostPath) {
    $folder = New-TestHostPath 'other-machine'
    $nonceDir = Join-Path $folder "stores/$((Get-Content (Join-Path $HostPath 'store-id')).Trim())"
    New-Item -ItemType Directory -Force $nonceDir | Out-Null
    $nonce = [Convert]::ToBase64String([Security.Cryptography.RandomNumberGenerator]::GetBytes(32))
    Set-Content -NoNewline -Path (Join-Path $nonceDir 'global.nonce') -Value $nonce
    if (-not $IsWindows) { chmod 700 $nonceDir; chmod 600 (Join-Path $nonceDir 'global.nonce') }
    $folder
}

# Suites that claim real SSH get it or fail: no quiet fallback to the in-process transport.
function Start-TestSimulator([int] $ModuleCount = 1, [string] $HostPath = (New-TestHostPath), [string] $Transport = 'Ssh') {
    if ($Transport -eq 'Ssh' -and -not (Test-Path /usr/sbin/sshd) -and -not (Get-Command sshd -ErrorAction SilentlyContinue)) {
        throw "These tests run over real SSH and need OpenSSH's sshd: apt-get install openssh-server (or run .ci/run)."
    }
    $simPath = Join-Path $script:Root ("sim-" + [guid]::NewGuid().ToString('N').Substring(0, 6))
    $params = @{ ModuleCount = $ModuleCount; HostPath = $HostPath; SimulatorPath = $simPath; Transport = $Transport }
    $sim = Start-HsmSimulator @params
    $script:Simulators.Add($sim.Path)
    if ($sim.HostPath -ne $HostPath) { throw "The simulator started on '$($sim.HostPath)', not on '$HostPath'." }
    $sim
}

function Remove-TestHosts {
    foreach ($path in $script:Simulators) { Stop-HsmSimulator -Path $path -ErrorAction Continue }
    $script:Simulators.Clear()
    Remove-Item $script:Root -Recurse -Force -ErrorAction SilentlyContinue
}

# Hash of every file of a host store except the append-only audit log: "nothing changed" checks.
function Get-StoreSnapshot([string] $HostPath) {
    Get-ChildItem $HostPath -Recurse -File | Where-Object { $_.Name -notin 'audit.log', 'audit-head.json' -and $_.Name -notlike 'store.lock*' } | Sort-Object FullName | ForEach-Object {
        '{0} {1}' -f $_.FullName.Substring($HostPath.Length), (Get-FileHash $_.FullName -Algorithm SHA256).Hash
    }
}

function Get-AuditLines([string] $HostPath) {
    $log = Join-Path $HostPath 'audit.log'
    if (Test-Path $log) { @(Get-Content $log) } else { @() }
}

# A script fragment for a child pwsh: loads the test-only crash hook (out/testhooks, built by build.ps1, never shipped)
# into the product's context; the child then dies at the crash point NSHIELD_HSMADMIN_KILL_AT names.
function Get-CrashHookScript {
    $hooks = Join-Path (Split-Path $PSScriptRoot) 'out/testhooks'
    if (-not (Test-Path (Join-Path $hooks 'NShield.HsmAdmin.TestHooks.dll'))) { throw "The test crash hook is not built ($hooks): run ./build.ps1 build." }
    "`$null = [NShield.HsmAdmin.Loader.ModuleLoader]::LoadExtension('$hooks', 'NShield.HsmAdmin.TestHooks').GetType('NShield.HsmAdmin.TestHooks.CrashPointHook').GetMethod('InstallFromEnvironment').Invoke(`$null, @());"
}

# The client keys a simulated module holds, as the module itself would list them (keys.list, read from its own
# authorized_keys): service -> sorted fingerprints (an empty array for a service that accepts no key).
function Get-ModuleKeys($Simulator, [string] $Esn) {
    $m = (Get-HsmSimulator -Path $Simulator.Path).Modules | Where-Object Esn -eq $Esn
    if (-not $m) { throw "The simulator in $($Simulator.Path) has no module $Esn." }
    $keys = @{}
    foreach ($service in $m.ClientKeys.Keys) { $keys[$service] = @($m.ClientKeys[$service] | Sort-Object) }
    $keys
}

# Injected step faults the module has not fired yet (a fault that fired is consumed: 1 -> 0).
function Get-PendingFaults($Simulator, [string] $Esn) {
    ((Get-HsmSimulator -Path $Simulator.Path).Modules | Where-Object Esn -eq $Esn).PendingFaults
}

# The host's client keys: service -> fingerprint.
function Get-HostKeys([string] $HostPath) {
    $keys = @{}
    foreach ($k in Get-HsmSshKey -HostPath $HostPath -Role Client) { $keys[$k.Service] = $k.Fingerprint }
    $keys
}

# Every listed module holds exactly the host's current client key for every service (so no other key, the old ones
# included), and none of the -Gone fingerprints anywhere. Read from the modules, not from the host's view.
# Without -HostPath and -Esn: the simulator's own host and every module it started.
function Assert-ModulesHoldHostKeys($Simulator, [string] $HostPath, [string[]] $Esn, [string[]] $Gone = @()) {
    if (-not $HostPath) { $HostPath = $Simulator.HostPath }
    if (-not $Esn) { $Esn = @($Simulator.Modules.Esn) }
    @($Esn).Count | Should -BeGreaterThan 0 -Because 'some module must be checked'
    $hostKeys = Get-HostKeys $HostPath
    $hostKeys.Count | Should -Be 6 -Because 'the host has a client key for each of the six services'
    foreach ($e in $Esn) {
        $held = Get-ModuleKeys $Simulator $e
        $held.Count | Should -Be 6
        foreach ($service in $hostKeys.Keys) {
            $held[$service] | Should -Be @($hostKeys[$service]) -Because "module $e must accept exactly the host's $service key"
        }
        foreach ($fp in $Gone) {
            $held.Values | ForEach-Object { $_ } | Should -Not -Contain $fp -Because "module $e must no longer accept the old key $fp"
        }
    }
}

# A PowerShell host for tests that meet the module as a person at the console would: its UI records every line
# written (warnings, verbose, debug too), every choice prompt and every secure prompt, and answers from queues.
# Choices: the next queued index, or the prompt's own default when none is left or it is -1. Secure prompts
# (Prompt fields, ReadLineAsSecureString): the next queued text, or SecureDefault when none is left.
if (-not ('NShieldTest.RecordingHost' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace NShieldTest
{
    public sealed class ChoiceRecord
    {
        public string Caption = "", Message = "", WrittenBefore = "";
        public string[] Labels = new string[0];
        public int Default, Answer;
        public string Text { get { return Caption + " " + Message; } }
    }

    public sealed class RecordingUI : PSHostUserInterface
    {
        public readonly Queue<int> ChoiceAnswers = new Queue<int>();
        public readonly Queue<string> SecureAnswers = new Queue<string>();
        public string SecureDefault = "";
        public readonly List<string> Written = new List<string>();
        public readonly List<ChoiceRecord> Choices = new List<ChoiceRecord>();
        public readonly List<string> SecurePrompts = new List<string>();
        // A command line (program, arguments) run to its end while the next choice prompt waits, as another process
        // would act while a person reads the question; its exit code and output are kept in DuringPromptResults.
        public readonly Queue<string[]> DuringPrompt = new Queue<string[]>();
        public readonly List<string> DuringPromptResults = new List<string>();
        public string Text { get { return string.Concat(Written); } }

        SecureString NextSecure()
        {
            var t = SecureAnswers.Count > 0 ? SecureAnswers.Dequeue() : SecureDefault;
            var s = new SecureString();
            foreach (var c in t ?? "") s.AppendChar(c);
            return s;
        }
        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
        {
            if (DuringPrompt.Count > 0)
            {
                var command = DuringPrompt.Dequeue();
                var start = new System.Diagnostics.ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                for (int i = 1; i < command.Length; i++) start.ArgumentList.Add(command[i]);
                using (var p = System.Diagnostics.Process.Start(start))
                {
                    var err = p.StandardError.ReadToEndAsync();
                    var output = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    DuringPromptResults.Add("exit " + p.ExitCode + "\n" + output + err.Result);
                }
            }
            int answer = ChoiceAnswers.Count > 0 ? ChoiceAnswers.Dequeue() : -1;
            if (answer < 0) answer = defaultChoice;
            var labels = new List<string>();
            foreach (var c in choices) labels.Add(c.Label);
            Choices.Add(new ChoiceRecord { Caption = caption ?? "", Message = message ?? "", Labels = labels.ToArray(),
                Default = defaultChoice, Answer = answer, WrittenBefore = Text });
            return answer;
        }
        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> fields)
        {
            SecurePrompts.Add(caption + " " + message); Written.Add(caption + " " + message + "\n");
            var d = new Dictionary<string, PSObject>();
            foreach (var f in fields) d[f.Name] = new PSObject(NextSecure());
            return d;
        }
        public override SecureString ReadLineAsSecureString() { SecurePrompts.Add(""); return NextSecure(); }
        public override string ReadLine() { return ""; }
        public override PSHostRawUserInterface RawUI { get { return null; } }
        public override PSCredential PromptForCredential(string c, string m, string u, string t) { throw new NotImplementedException(); }
        public override PSCredential PromptForCredential(string c, string m, string u, string t, PSCredentialTypes a, PSCredentialUIOptions o) { throw new NotImplementedException(); }
        public override void Write(string v) { Written.Add(v); }
        public override void Write(ConsoleColor f, ConsoleColor b, string v) { Written.Add(v); }
        public override void WriteLine(string v) { Written.Add(v + "\n"); }
        public override void WriteErrorLine(string v) { Written.Add(v + "\n"); }
        public override void WriteDebugLine(string v) { Written.Add("DEBUG: " + v + "\n"); }
        public override void WriteVerboseLine(string v) { Written.Add("VERBOSE: " + v + "\n"); }
        public override void WriteWarningLine(string v) { Written.Add("WARNING: " + v + "\n"); }
        public override void WriteProgress(long id, ProgressRecord r) { }
    }

    public sealed class RecordingHost : PSHost
    {
        private readonly Guid _id = Guid.NewGuid();
        public readonly RecordingUI Recorder = new RecordingUI();
        public override CultureInfo CurrentCulture { get { return CultureInfo.InvariantCulture; } }
        public override CultureInfo CurrentUICulture { get { return CultureInfo.InvariantCulture; } }
        public override Guid InstanceId { get { return _id; } }
        public override string Name { get { return "NShieldTestHost"; } }
        public override PSHostUserInterface UI { get { return Recorder; } }
        public override Version Version { get { return new Version(1, 0); } }
        public override void EnterNestedPrompt() { throw new NotImplementedException(); }
        public override void ExitNestedPrompt() { throw new NotImplementedException(); }
        public override void NotifyBeginApplication() { }
        public override void NotifyEndApplication() { }
        public override void SetShouldExit(int exitCode) { }
    }
}
'@
}

# A new recording host (see above) with its queues filled; its UI is .Recorder.
function New-TestPromptHost([int[]] $Choices = @(), [string[]] $SecureAnswers = @(), [string] $SecureDefault = '') {
    $testHost = [NShieldTest.RecordingHost]::new()
    foreach ($c in $Choices) { $testHost.Recorder.ChoiceAnswers.Enqueue($c) }
    foreach ($a in $SecureAnswers) { $testHost.Recorder.SecureAnswers.Enqueue($a) }
    $testHost.Recorder.SecureDefault = $SecureDefault
    $testHost
}

# Runs a command in a child pwsh that kills itself at the named crash point, as a crash or power loss would (the
# test-only hook; the shipped module has none). Fails unless the child really died at that point.
function Invoke-Killed([string] $Point, [string] $Command) {
    $manifest = Join-Path (Split-Path $PSScriptRoot) 'NShield.HsmAdmin.psd1'
    $env:NSHIELD_HSMADMIN_KILL_AT = $Point
    try {
        $out = & dotnet (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command "Import-Module '$manifest'; $(Get-CrashHookScript) $Command" 2>&1
        $r = [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out -join "`n") }
    }
    finally { Remove-Item Env:NSHIELD_HSMADMIN_KILL_AT }
    $r.Output | Should -Match ([regex]::Escape("[crash point] $Point")) -Because 'the child must have died at the crash point, not for another reason'
    $r.ExitCode | Should -Not -Be 0
    $r
}

Export-ModuleMember -Function Invoke-Killed, New-TestHostPath, New-OtherMachineFolder, Get-PinLines, Start-TestSimulator, Remove-TestHosts, Get-StoreSnapshot, Get-AuditLines, Get-CrashHookScript,
    Get-ModuleKeys, Get-PendingFaults, Get-HostKeys, Assert-ModulesHoldHostKeys, New-TestPromptHost
