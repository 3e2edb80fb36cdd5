using System;
using System.Collections.Generic;

namespace NShield.HsmAdmin.Protocol
{
    /// <summary>
    /// The module firmware protocol (docs/firmware-protocol.md), declared once: the host's drivers and operations and the
    /// simulated firmware both use these names. A test checks the document against them, and another that no other file in
    /// src/ spells a verb.
    /// </summary>
    public static class FirmwareProtocol
    {
        /// <summary>The protocol (major) version both sides speak; a fractional part in a reply is a minor version.</summary>
        public const int Version = 1;

        /// <summary>Largest request body a module reads (64 KiB); more is E_TOO_LARGE.</summary>
        public const int MaxBodyBytes = 64 * 1024;

        /// <summary>Most client keys one service holds.</summary>
        public const int MaxKeysPerService = 32;

        /// <summary>factorystate's timeoutSeconds: range and default.</summary>
        public const int MinFactoryStateTimeout = 3, MaxFactoryStateTimeout = 120, DefaultFactoryStateTimeout = 30;

        /// <summary>Most entries one logs reply carries (also the simulated module's default log bound).</summary>
        public const int MaxLogEntries = 1000;

        // Clock (issue 22): settime's limits.
        /// <summary>Largest correction settime with adjust slews (seconds); more must be set in maintenance or Recovery mode.</summary>
        public const int MaxClockAdjustSeconds = 3600;
        /// <summary>The simulated firmware's slew rate while adjusting: milliseconds corrected per second of elapsed time.</summary>
        public const int SimulatedSlewMsPerSecond = 100;
        /// <summary>Raw bytes of a firmware package one firmware.chunk carries (base64 in the body stays under <see cref="MaxBodyBytes"/>).</summary>
        public const int FirmwareChunkBytes = 32 * 1024;
    }

    /// <summary>The verbs of protocol version 1 (the SSH exec command).</summary>
    public static class FirmwareVerbs
    {
        public const string Identity = "identity";
        public const string Enroll = "enroll";
        public const string KeysList = "keys.list";
        public const string KeysAdd = "keys.add";
        public const string KeysRemove = "keys.remove";
        public const string KeysSet = "keys.set";
        public const string FactoryState = "factorystate";
        public const string Ping = "ping";
        /// <summary>The module's log of served commands; monitor service only.</summary>
        public const string Logs = "logs";
        /// <summary>Sets (steps) or adjusts (slews) the module's clock to a given UTC time; sshadmin only (issue 22).</summary>
        public const string SetTime = "settime";
        /// <summary>Reboots the module, optionally into its recovery image; sshadmin only (issue 22).</summary>
        public const string Reboot = "reboot";

        // Firmware over the updater service (issue 22 item 3)
        /// <summary>Stages one part of a firmware package (offset 0 starts a new one); updater only.</summary>
        public const string FirmwareChunk = "firmware.chunk";
        /// <summary>Checks the staged package (size, SHA-256, vendor signature, VSN) and installs it, then restarts; updater only.</summary>
        public const string FirmwareInstall = "firmware.install";
        /// <summary>Raises the minimum VSN the module accepts; updater only.</summary>
        public const string SetMinVsn = "setminvsn";
        /// <summary>Clears the log entries numbered fromSeq..throughSeq (what the host read and saved); monitor only.</summary>
        public const string LogsClear = "logs.clear";

        public static readonly IReadOnlyList<string> All = new[]
        {
            Identity, Enroll, KeysList, KeysAdd, KeysRemove, KeysSet, FactoryState, Ping, Logs,
            FirmwareChunk, FirmwareInstall, SetMinVsn, LogsClear, SetTime, Reboot,
        };

        public static bool IsKnown(string verb) => Array.IndexOf((string[])All, verb) >= 0;

        /// <summary>Verbs that read a JSON body from stdin until EOF; the others never read stdin.</summary>
        public static bool TakesBody(string verb) =>
            verb == Enroll || verb == KeysAdd || verb == KeysRemove || verb == KeysSet || verb == FactoryState || verb == Logs
            || IsFirmwareVerb(verb) || verb == LogsClear || verb == SetTime || verb == Reboot;

        /// <summary>The updater's verbs (issue 22 item 3).</summary>
        public static bool IsFirmwareVerb(string verb) => verb == FirmwareChunk || verb == FirmwareInstall || verb == SetMinVsn;

        /// <summary>
        /// Changes refused with E_NCOREAPI while ncoreapi is operational (the hardserver holds a session), as the vendor's
        /// upgrade and log clearing are: firmware, minimum VSN and log clearing. Reads (identity, ping, logs) still work.
        /// </summary>
        public static bool BlockedWhileNCoreApiOperational(string verb) => IsFirmwareVerb(verb) || verb == LogsClear;

        /// <summary>
        /// Changes refused with E_LOG_FULL while the module's log is past its safe working capacity (firmware 13.5+): key
        /// changes and firmware. enroll and factorystate stay allowed (ways out), and so do reads and log clearing.
        /// </summary>
        public static bool BlockedPastLogCapacity(string verb) =>
            verb == KeysAdd || verb == KeysRemove || verb == KeysSet || IsFirmwareVerb(verb);

        /// <summary>Verbs that change SSH keys: refused with E_CLOCK while the clock is invalid outside Recovery mode.</summary>
        public static bool ChangesKeys(string verb) =>
            verb == Enroll || verb == KeysAdd || verb == KeysRemove || verb == KeysSet || verb == FactoryState;

        /// <summary>The one service that serves the verb, or null when every service does (identity, ping).</summary>
        public static string? OnlyService(string verb) =>
            verb == Identity || verb == Ping ? null : verb == Logs || verb == LogsClear ? ModuleServices.Monitor
            : IsFirmwareVerb(verb) ? ModuleServices.Updater : ModuleServices.SshAdmin;
    }

    /// <summary>Error codes of protocol version 1. Stable: the host maps them to error ids and kinds.</summary>
    public static class FirmwareErrorCodes
    {
        public const string UnknownCommand = "E_UNKNOWN_COMMAND";
        public const string BadRequest = "E_BAD_REQUEST";
        public const string TooLarge = "E_TOO_LARGE";
        public const string WrongService = "E_WRONG_SERVICE";
        public const string Credential = "E_CREDENTIAL";
        public const string Mode = "E_MODE";
        public const string InUse = "E_IN_USE";
        public const string LastKey = "E_LAST_KEY";
        public const string Fault = "E_FAULT";
        /// <summary>A key change refused because the module's clock is invalid and it is not in Recovery mode (firmware 13.5+).</summary>
        public const string Clock = "E_CLOCK";
        public const string Internal = "E_INTERNAL";
        // Firmware, logs and the ncoreapi interlock (issue 22)
        /// <summary>A staged firmware package that is not a whole package (truncated, size or SHA-256 not as announced, bad field).</summary>
        public const string Package = "E_PACKAGE";
        /// <summary>A firmware package whose signature does not chain to the module's vendor root.</summary>
        public const string Signature = "E_SIGNATURE";
        /// <summary>A firmware package below the minimum VSN, or setminvsn above the installed VSN / below the current minimum.</summary>
        public const string Vsn = "E_VSN";
        /// <summary>A change refused while ncoreapi is operational (the hardserver holds a session).</summary>
        public const string NCoreApi = "E_NCOREAPI";
        /// <summary>A change refused while the module's log is past its safe working capacity (13.5+).</summary>
        public const string LogFull = "E_LOG_FULL";

        public static readonly IReadOnlyList<string> All = new[]
        {
            UnknownCommand, BadRequest, TooLarge, WrongService, Credential, Mode, InUse, LastKey, Fault, Clock, Internal,
            Package, Signature, Vsn, NCoreApi, LogFull,
        };
    }
}
