using System;
using System.Collections.Generic;

namespace NShield.HsmAdmin.Operations
{
    public enum EnrollAction
    {
        /// <summary>Keys already valid: nothing was changed.</summary>
        NoAction,
        /// <summary>A factory-state, recovery or newly arrived module was enrolled with this host's keys.</summary>
        Enrolled,
        /// <summary>An enrolled module lacked some of this host's keys; they were installed.</summary>
        Repaired,
        /// <summary>The module is no longer attached; it was dropped from the host's list.</summary>
        Dropped,
        /// <summary>The module was released to another host and waits to be removed.</summary>
        AwaitingRemoval,
        /// <summary>-WhatIf: what would have happened.</summary>
        WouldEnroll,
    }

    /// <summary>One module's outcome of Invoke-HsmEnroll.</summary>
    public sealed class HsmEnrollResult
    {
        public string Esn { get; set; } = "";
        public EnrollAction Action { get; set; }
        public string Mode { get; set; } = "";
        /// <summary>How the server keys were trusted: Certificate (vendor chain), Fingerprint (confirmed) or Pinned (already known).</summary>
        public string ServerKeyVerification { get; set; } = "";
        public string[] ServicesVerified { get; set; } = Array.Empty<string>();
        public string Message { get; set; } = "";
        public string HostPath { get; set; } = "";
    }

    public enum HsmKeyRole { Client, Server }

    /// <summary>A public key the host holds or pins. Never carries private material.</summary>
    public sealed class HsmSshKeyInfo
    {
        public HsmKeyRole Role { get; set; }
        /// <summary>The module the server key belongs to; empty for the host's client keys.</summary>
        public string Esn { get; set; } = "";
        public string Service { get; set; } = "";
        public string Algorithm { get; set; } = "";
        public string Fingerprint { get; set; } = "";
        /// <summary>Client keys: the protection inputs (e.g. KFG). Server keys: empty.</summary>
        public string Protection { get; set; } = "";
        /// <summary>
        /// Client keys: when the key was proven on every module (UTC; a roll, restore or enrollment verified it everywhere).
        /// Null while it is not yet on every module. Keys from stores written before this was recorded show when they were switched in.
        /// </summary>
        public DateTime? InstalledAt { get; set; }
        /// <summary>Client keys: when the host staged (generated or restored) the key (UTC).</summary>
        public DateTime? StagedAt { get; set; }
        /// <summary>
        /// Client keys: when the key pair was generated (UTC). Null when unknown: a key restored from a backup that does not say
        /// when it was made (a portable OpenSSH file), or a key recorded before creation times were kept. Server keys: null.
        /// </summary>
        public DateTime? Created { get; set; }
        /// <summary>Client keys: how old the key is now (from <see cref="Created"/>); null when its creation time is unknown.</summary>
        public TimeSpan? Age { get; set; }
        /// <summary>Client keys: the group allowed to read the key besides its owner (Set-HsmSshKeyPermission); empty when owner-only.</summary>
        public string AccessGroup { get; set; } = "";
        public string PublicKey { get; set; } = "";
        public string HostPath { get; set; } = "";
    }

    /// <summary>A module as this host sees it (Get-HsmModule).</summary>
    public sealed class HsmModuleInfo
    {
        public string Esn { get; set; } = "";
        /// <summary>Operational, FactoryState, Recovery, or Unknown when the module could not be asked.</summary>
        public string Mode { get; set; } = "Unknown";
        public bool Enrolled { get; set; }
        public bool Attached { get; set; }
        /// <summary>
        /// Enrolled, NotEnrolled, Released (moved to another host, waiting to be removed), Detached, or Unreachable (registered,
        /// but the connection to it failed just now).
        /// </summary>
        public string Status { get; set; } = "";
        public string FirmwareVersion { get; set; } = "";
        /// <summary>Where the module is registered: its address ("" when it is not registered any more).</summary>
        public string Address { get; set; } = "";
        /// <summary>The SSH login name its endpoints accept.</summary>
        public string User { get; set; } = "";
        /// <summary>"ssh" for real modules; another name for a transport another module provides.</summary>
        public string Transport { get; set; } = "";
        /// <summary>Service → "address:port".</summary>
        public Dictionary<string, string> Endpoints { get; set; } = new Dictionary<string, string>();
        /// <summary>Service → TCP port, as registered (binds to Register-HsmModule -Port from the pipeline).</summary>
        public Dictionary<string, int> Ports { get; set; } = new Dictionary<string, int>();
        /// <summary>Whether the hardserver runs with the host's current ncoreapi client key (null: unknown).</summary>
        public bool? HardserverKeyCurrent { get; set; }
        /// <summary>
        /// The client keys the module holds against the host's current ones (Get-HsmSshKey -Module): "None", or per service
        /// what is missing or stale. Null when the module was not asked (-Offline, not enrolled, unreachable).
        /// </summary>
        public string? KeyDrift { get; set; }
        /// <summary>An open key roll or restore this module is still part of, e.g. "Roll (Installing)"; empty when none.</summary>
        public string OpenOperation { get; set; } = "";
        /// <summary>Module clock minus this host's UTC, in seconds (null: not asked, or the clock is invalid); Set-HsmModuleTime fixes it.</summary>
        public double? ClockOffsetSeconds { get; set; }
        /// <summary>Whether the module's clock is valid (null: not asked). An invalid clock blocks key changes outside Recovery mode.</summary>
        public bool? ClockValid { get; set; }
        public string HostPath { get; set; } = "";
        // Firmware images and VSN (issue 22 item 3); empty/null when the module was not asked or reports none.
        /// <summary>The recovery image's version (<see cref="FirmwareVersion"/> is the primary image's).</summary>
        public string RecoveryFirmwareVersion { get; set; } = "";
        /// <summary>Version Security Number of the primary image, of the recovery image, and the lowest the module accepts.</summary>
        public int? FirmwareVsn { get; set; }
        public int? RecoveryFirmwareVsn { get; set; }
        public int? MinimumVsn { get; set; }
        /// <summary>ncoreapi is operational (the hardserver holds a session): firmware and log changes are refused until it is stopped.</summary>
        public bool? NCoreApiOperational { get; set; }
    }

    /// <summary>One channel's check (Test-HsmConnection -Detailed).</summary>
    public sealed class HsmConnectionTestResult
    {
        public string Esn { get; set; } = "";
        public string Service { get; set; } = "";
        public string Endpoint { get; set; } = "";
        /// <summary>The module presented the pinned server key.</summary>
        public bool PinMatches { get; set; }
        /// <summary>The module accepted the host's client key for this service.</summary>
        public bool Authenticated { get; set; }
        public bool Success { get; set; }
        public string ErrorId { get; set; } = "";
        public string Message { get; set; } = "";
        public double ElapsedMs { get; set; }
        /// <summary>An open key roll or restore this module is still part of, e.g. "Roll (Installing)"; empty when none.</summary>
        public string OpenOperation { get; set; } = "";
        public string HostPath { get; set; } = "";

        /// <summary>The failure, for the cmdlet to report as an error record; not serialised.</summary>
        [System.Text.Json.Serialization.JsonIgnore]
        internal HsmException? Error { get; set; }
    }
}

namespace NShield.HsmAdmin.Operations
{
    /// <summary>One module's outcome of Move-HsmModule.</summary>
    public sealed class HsmMoveResult
    {
        public string Esn { get; set; } = "";
        public string Status { get; set; } = "";
        public string DestinationKeyFingerprint { get; set; } = "";
        public string Message { get; set; } = "";
        public string HostPath { get; set; } = "";
    }

    /// <summary>The outcome of Update-HsmSshKey or Restore-HsmSshKey.</summary>
    public sealed class HsmKeyRollResult
    {
        public string Operation { get; set; } = "";
        /// <summary>Completed, Incomplete (rerun to finish), or Reverted.</summary>
        public string Status { get; set; } = "";
        public string[] Services { get; set; } = new string[0];
        /// <summary>Modules that hold only the new keys (done). A module is in exactly one of Updated, Pending and Excluded.</summary>
        public string[] ModulesUpdated { get; set; } = new string[0];
        /// <summary>Modules a rerun still has to work on: the new keys not installed yet, or the old ones not removed yet.</summary>
        public string[] ModulesPending { get; set; } = new string[0];
        /// <summary>Enrolled modules left out with -ExcludeEsn: they keep the old keys, archived on the host until they
        /// are brought up to date.</summary>
        public string[] ModulesExcluded { get; set; } = new string[0];
        public System.Collections.Generic.Dictionary<string, string> NewFingerprints { get; set; } =
            new System.Collections.Generic.Dictionary<string, string>();
        public bool HardserverRestartNeeded { get; set; }
        public string HostPath { get; set; } = "";
    }
}

namespace NShield.HsmAdmin.Operations
{
    /// <summary>The hardserver after Restart-HsmHardserver.</summary>
    public sealed class HsmHardserverInfo
    {
        /// <summary>What is restarted (the init script, or the Windows service).</summary>
        public string Description { get; set; } = "";
        /// <summary>Whether a hardserver process runs (null: cannot be known).</summary>
        public bool? Running { get; set; }
        public int? ProcessId { get; set; }
        /// <summary>When the running hardserver process started (it loads the ncoreapi key then).</summary>
        public DateTimeOffset? StartedAt { get; set; }
        /// <summary>When the host's current ncoreapi client key was switched in.</summary>
        public DateTimeOffset? NcoreapiKeyActivatedAt { get; set; }
        /// <summary>Whether it runs with the host's current ncoreapi client key: it started after that key was switched
        /// in (null: cannot be known).</summary>
        public bool? KeyCurrent { get; set; }
        /// <summary>Why Running or KeyCurrent is unknown, when it is.</summary>
        public string? UnknownReason { get; set; }
        public string HostPath { get; set; } = "";
    }

    /// <summary>The host's settings as they apply (Get-HsmHostConfiguration): configured values, else the defaults.</summary>
    public sealed class HsmHostConfigurationInfo
    {
        public string HostPath { get; set; } = "";
        public string FactoryCredentialPath { get; set; } = "";
        /// <summary>The factory credential file exists (enrolling a factory-state module needs it).</summary>
        public bool FactoryCredentialFound { get; set; }
        public string HardserverRestart { get; set; } = "";
        public string? HardserverPidFile { get; set; }
        public string HardserverProcessName { get; set; } = "";
        /// <summary>The machine folder in effect (each store's own global nonce G lives in its stores/ folder).</summary>
        public string MachineFolder { get; set; } = "";
        /// <summary>The settings as stored (null values take the defaults).</summary>
        public Store.HostConfiguration Configured { get; set; } = new Store.HostConfiguration();

        public static HsmHostConfigurationInfo From(Store.HostStore store)
        {
            var config = store.GetConfiguration();
            var hardserver = new Hardserver.PlatformHardserver(config.Hardserver);
            return new HsmHostConfigurationInfo
            {
                HostPath = store.Root,
                FactoryCredentialPath = store.FactoryCredentialPath,
                FactoryCredentialFound = System.IO.File.Exists(store.FactoryCredentialPath),
                HardserverRestart = hardserver.Description,
                HardserverPidFile = config.Hardserver.PidFile,
                HardserverProcessName = config.Hardserver.ProcessName ?? Hardserver.PlatformHardserver.DefaultProcessName,
                MachineFolder = store.MachineRoot,
                Configured = config,
            };
        }
    }
}
