namespace NShield.HsmAdmin
{
    /// <summary>
    /// Stable error ids (the FullyQualifiedErrorId prefix). Append only: runbooks match on these.
    /// docs/errors.md lists each with its category and what to do.
    /// </summary>
    public static class HsmErrorIds
    {
        // Input
        public const string UnknownService = "UnknownService";
        public const string InvalidEsn = "InvalidEsn";
        public const string UnknownModule = "UnknownModule";
        public const string InvalidProtection = "InvalidProtection";
        public const string InvalidAlgorithm = "InvalidAlgorithm";

        // Key files and formats
        public const string KeyFileNotFound = "KeyFileNotFound";
        public const string KeyFileTruncated = "KeyFileTruncated";
        public const string KeyFileCorrupt = "KeyFileCorrupt";
        public const string KeyWrongPassphrase = "KeyWrongPassphrase";
        public const string KeyPassphraseRequired = "KeyPassphraseRequired";
        public const string KeyTypeUnsupported = "KeyTypeUnsupported";
        public const string NotAnOpenSshKey = "NotAnOpenSshKey";
        public const string KeyTiedToAnotherMachine = "KeyTiedToAnotherMachine";
        public const string ProtectionInputUnavailable = "ProtectionInputUnavailable";
        public const string MachineFolderMissingNonce = "MachineFolderMissingNonce";

        // Store
        public const string StoreLockTimeout = "StoreLockTimeout";
        public const string StoreCorrupt = "StoreCorrupt";
        public const string NoClientKeys = "NoClientKeys";
        public const string FileExists = "FileExists";

        // Trust and transport
        public const string ServerKeyChanged = "ServerKeyChanged";
        public const string ServerKeyNotPinned = "ServerKeyNotPinned";
        public const string CertificateInvalid = "CertificateInvalid";
        public const string NoTrustedRoot = "NoTrustedRoot";
        public const string FingerprintNotConfirmed = "FingerprintNotConfirmed";
        public const string AuthenticationFailed = "AuthenticationFailed";
        public const string ConnectionFailed = "ConnectionFailed";
        public const string ConnectionTimeout = "ConnectionTimeout";
        public const string ServiceNotRunning = "ServiceNotRunning";
        public const string ModuleError = "ModuleError";
        public const string ProtocolError = "ProtocolError";

        // Operations
        public const string ModuleNotEnrolled = "ModuleNotEnrolled";
        public const string ModuleInFactoryState = "ModuleInFactoryState";
        public const string RollIncomplete = "RollIncomplete";
        public const string RestoreKeyNotAccepted = "RestoreKeyNotAccepted";
        public const string BackupFromAnotherMachine = "BackupFromAnotherMachine";
        public const string MigrationKeyRejected = "MigrationKeyRejected";
        public const string ModuleReleased = "ModuleReleased";
        public const string HardserverRestartFailed = "HardserverRestartFailed";
        public const string Cancelled = "Cancelled";

        public const string UnknownTrustedRoot = "UnknownTrustedRoot";

        // Store (appended)
        /// <summary>A trusted root or store document name with characters a file name must not have.</summary>
        public const string InvalidName = "InvalidName";
        /// <summary>This account may not write the host store folder (system default needs root/Administrators).</summary>
        public const string StoreAccessDenied = "StoreAccessDenied";

        // Module registry, host configuration (appended)
        /// <summary>An address that is neither an IP address nor a DNS host name (or one the transport cannot reach).</summary>
        public const string InvalidAddress = "InvalidAddress";
        /// <summary>A TCP port outside 1-65535.</summary>
        public const string InvalidPort = "InvalidPort";
        /// <summary>An SSH login name with characters a user name cannot have.</summary>
        public const string InvalidUserName = "InvalidUserName";
        /// <summary>No transport of that name is available in this session.</summary>
        public const string UnknownTransport = "UnknownTransport";
        /// <summary>The ESN is registered at other endpoints (replace needs -Force).</summary>
        public const string ModuleAlreadyRegistered = "ModuleAlreadyRegistered";
        /// <summary>The vendor's factory sshadmin credential is not where the host configuration says.</summary>
        public const string FactoryCredentialNotConfigured = "FactoryCredentialNotConfigured";
        /// <summary>A file a setting names does not exist.</summary>
        public const string PathNotFound = "PathNotFound";

        // Operations (appended)
        /// <summary>A per-module job failed with an exception that is not an HsmException (a bug: the fleet runner
        /// reports it, the other modules go on).</summary>
        public const string UnexpectedError = "UnexpectedError";

        // Trust and transport (appended, issue 16)
        /// <summary>The module offers no key exchange, cipher or MAC this host accepts (weak algorithms only); refused
        /// before authentication.</summary>
        public const string AlgorithmNegotiationFailed = "AlgorithmNegotiationFailed";
        /// <summary>A module reply exceeded the reply size cap (SshModuleTransport.MaxReplyBytes); reading stopped at the cap.</summary>
        public const string ReplyTooLarge = "ReplyTooLarge";
        /// <summary>A module reply names a firmware protocol major version this host does not speak.</summary>
        public const string ProtocolVersionUnsupported = "ProtocolVersionUnsupported";
        /// <summary>A key file or backup asks for more bcrypt rounds than OpenSshPrivateKey.MaxRounds.</summary>
        public const string KeyRoundsTooHigh = "KeyRoundsTooHigh";

        // Store security (appended)
        /// <summary>
        /// A host store folder or file another account can write to, a private key file others can read, or an item owned
        /// by another non-root account (Linux, like OpenSSH's StrictModes). The target is the path.
        /// </summary>
        public const string StoreInsecurePermissions = "StoreInsecurePermissions";

        // Lockouts (appended, issue 16)
        /// <summary>An enrolled module on the host's list that a roll must reach is not registered
        /// (Unregister-HsmModule); the host does not switch.</summary>
        public const string EnrolledModuleAbsent = "EnrolledModuleAbsent";
        /// <summary>A roll was asked while the host's list has no enrolled module to roll (or every one is excluded):
        /// refused, nothing changed.</summary>
        public const string NoModulesToRoll = "NoModulesToRoll";
        /// <summary>Invoke-HsmEnroll refused: a key roll or restore journal (roll-journal.json) is open.</summary>
        public const string RollInProgress = "RollInProgress";
        /// <summary>A roll or restore refused: an interrupted Invoke-HsmEnroll (enroll-journal.json) left modules half enrolled.</summary>
        public const string EnrollInProgress = "EnrollInProgress";
        /// <summary>Restore-HsmSshKey refused: modules that accept the current sshadmin key do not accept the backup
        /// (or could not be checked).</summary>
        public const string RestoreWouldLockOut = "RestoreWouldLockOut";

        // Pins and clock (appended, issue 16)
        /// <summary>
        /// The module reports an invalid clock and is not in Recovery mode: firmware 13.5+ refuses SSH key changes then
        /// (the host refuses up front; the firmware's E_CLOCK maps here too).
        /// </summary>
        public const string ModuleClockInvalid = "ModuleClockInvalid";

        /// <summary>
        /// Invoke-HsmEnroll -Forget in a session that cannot ask for confirmation, without -Force: an enrolled module is
        /// never forgotten without an explicit yes (issue 16, lockouts).
        /// </summary>
        public const string ConfirmationRequired = "ConfirmationRequired";

        // Operator-proof edges (appended, issue 23)
        /// <summary>
        /// Update-HsmServerKeyPin read new keys over an sshadmin channel whose own server key is neither its pin nor vouched for
        /// by a trusted vendor root: nothing was re-pinned (re-pin sshadmin alone first).
        /// </summary>
        public const string RepinChannelUnverified = "RepinChannelUnverified";
        /// <summary>
        /// What a person was asked about changed before the answer came (no store lock is held while a person is asked):
        /// nothing was done to it; run the command again to be asked about what is there now.
        /// </summary>
        public const string StateChangedWhileAsked = "StateChangedWhileAsked";

        // Privilege and key permissions (appended, issue 12)
        /// <summary>
        /// A command that creates keys or changes the host's configuration was run without root (Linux) or Administrators
        /// (Windows) on a store this account does not own; refused before anything is read or changed.
        /// </summary>
        public const string PrivilegeRequired = "PrivilegeRequired";
        /// <summary>Set-HsmSshKeyPermission named a group that does not exist, or a grant cannot be applied (another
        /// group shares the global nonce).</summary>
        public const string InvalidKeyPermission = "InvalidKeyPermission";

        // Operator-proof edges (appended, issue 23)
        /// <summary>
        /// A file path the command would write to is a folder, or resolves (after links) into the host store or the machine
        /// folder, or onto a file the host configuration names. Nothing is written.
        /// </summary>
        public const string PathRefused = "PathRefused";
        /// <summary>The host store folder does not exist (a mistyped -HostPath): said, never created by a command that needs one.</summary>
        public const string StoreNotFound = "StoreNotFound";

        // Clock, reboot and timeouts (appended, issue 22)
        /// <summary>
        /// The module refused settime: a step outside maintenance, factory state or Recovery mode, or an adjustment it cannot slew.
        /// </summary>
        public const string ModuleClockNotSettable = "ModuleClockNotSettable";
        /// <summary>This host's own clock is not a plausible UTC time (before 2020): no module clock is set from it.</summary>
        public const string HostClockInvalid = "HostClockInvalid";
        /// <summary>Restart-HsmModule: the module did not answer again within -Timeout after it was told to reboot.</summary>
        public const string ModuleRebootTimeout = "ModuleRebootTimeout";
        /// <summary>Restart-HsmModule -Recovery: the module came back, but not in Recovery mode (the recovery button was not held).</summary>
        public const string RecoveryNotEntered = "RecoveryNotEntered";
        /// <summary>A module did not connect, or did not answer a command, within the cmdlet's -Timeout; the other modules go on.</summary>
        public const string ModuleTimeout = "ModuleTimeout";
        /// <summary>A timeout given to the engine is outside 3 to 120 seconds (the vendor's --timeout range); nothing was done.</summary>
        public const string InvalidTimeout = "InvalidTimeout";
        // Split custody of the sshadmin backup (appended, issue 22 item 9)
        /// <summary>Backup-HsmSshKey -Shares/-Threshold out of range (2 &lt;= Threshold &lt;= Shares &lt;= 255): nothing written.</summary>
        public const string InvalidShareSplit = "InvalidShareSplit";
        /// <summary>Fewer distinct shares than the backup's threshold were given: nothing changed.</summary>
        public const string ShareThresholdNotMet = "ShareThresholdNotMet";
        /// <summary>The shares given belong to different backups (backup id, key, threshold): nothing changed.</summary>
        public const string ShareSetMixed = "ShareSetMixed";
        /// <summary>
        /// A share file is damaged (checksum, format, values), or the shares do not combine into the backup they name: nothing
        /// changed.
        /// </summary>
        public const string ShareCorrupt = "ShareCorrupt";

        // Firmware, logs and the ncoreapi interlock (appended, issue 22 items 3, 4 and 6)
        /// <summary>A firmware package that is not a whole package of this product's format (truncated, trailing bytes, bad field).</summary>
        public const string FirmwarePackageInvalid = "FirmwarePackageInvalid";
        /// <summary>The module refused a firmware package whose signature does not chain to the vendor root it trusts.</summary>
        public const string FirmwareSignatureInvalid = "FirmwareSignatureInvalid";
        /// <summary>The module refused a firmware package whose VSN is below the module's minimum VSN.</summary>
        public const string FirmwareVsnTooLow = "FirmwareVsnTooLow";
        /// <summary>Set-HsmMinimumVsn asked for a minimum above the installed firmware's VSN or below the current minimum.</summary>
        public const string MinimumVsnInvalid = "MinimumVsnInvalid";
        /// <summary>A change refused because ncoreapi is operational (the hardserver holds a session): stop the hardserver first.</summary>
        public const string NCoreApiOperational = "NCoreApiOperational";
        /// <summary>The module's log is past its safe working capacity (13.5+): changes are refused until the log is retrieved and cleared.</summary>
        public const string ModuleLogFull = "ModuleLogFull";
        /// <summary>Get-HsmLog -Clear could not save what it read to -Path: nothing was cleared on any module.</summary>
        public const string LogSaveFailed = "LogSaveFailed";
        /// <summary>
        /// The entries saved from a module are not one unbroken run of sequence numbers: clearing the range would lose some unsaved.
        /// </summary>
        public const string LogClearNotContiguous = "LogClearNotContiguous";

        // Passphrase policy (appended, issue 21)
        /// <summary>
        /// A new passphrase (a portable backup's, or the host's P keys') breaks the policy: at least 12 characters, not one
        /// character repeated. Nothing is written. A passphrase that opens an existing backup or key is never refused.
        /// </summary>
        public const string PassphraseTooWeak = "PassphraseTooWeak";
        /// <summary>
        /// Restore-HsmSshKey on a host store with no registered module (a fresh host): register them first. Nothing is changed.
        /// </summary>
        public const string NoModulesToRestore = "NoModulesToRestore";
    }
}