using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using NShield.HsmAdmin.Interop;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Protection
{
    /// <summary>
    /// The real machine: S and B from SMBIOS (Linux /sys/class/dmi/id, Windows GetSystemFirmwareTable),
    /// G from a root/Administrators-only file in the machine folder. The folder defaults to
    /// /etc/opt/nfast/hsmadmin (Linux) or %ProgramData%\nCipher\hsmadmin-machine (Windows); a host store may name its own
    /// (the host configuration's MachineFolder, Set-HsmHostConfiguration -MachineFolder), which is how a simulated host, a
    /// test or a second install on one machine gets an install identity of its own. No environment variable moves it.
    /// </summary>
    internal sealed class LocalMachineIdentity : IMachineIdentity
    {
        public const string GlobalNonceFileName = "global.nonce";
        const int GlobalNonceLength = 32;

        readonly string _dmiDirectory;

        public string MachineDirectory { get; }
        public string GlobalNoncePath => Path.Combine(MachineDirectory, GlobalNonceFileName);
        public string Description => $"this machine (machine folder {MachineDirectory})";

        /// <param name="machineDirectory">Folder of the global nonce; null = the system default.</param>
        /// <param name="dmiDirectory">Linux DMI folder; a parameter only so tests can point at a fake sysfs.</param>
        public LocalMachineIdentity(string? machineDirectory = null, string dmiDirectory = "/sys/class/dmi/id")
        {
            MachineDirectory = machineDirectory ?? DefaultMachineDirectory();
            _dmiDirectory = dmiDirectory;
        }

        /// <summary>The machine folder: the host configuration's MachineFolder, else the system default.</summary>
        public static string ResolveRoot(string? configured) =>
            !string.IsNullOrWhiteSpace(configured) ? Path.GetFullPath(configured) : DefaultMachineDirectory();

        public static string DefaultMachineDirectory() => RuntimeInformation.IsOSPlatform(OSPlatform.Windows)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "nCipher", "hsmadmin-machine")
            : "/etc/opt/nfast/hsmadmin";

        public byte[] GetSystemUuid() => ReadSmbiosValue(ProtectionInput.SystemUuid, "product_uuid", "system UUID");
        public byte[] GetBaseboardId() => ReadSmbiosValue(ProtectionInput.BaseboardId, "board_serial", "baseboard serial");

        byte[] ReadSmbiosValue(ProtectionInput input, string dmiFile, string what)
        {
            string? value;
            string source;
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
            {
                source = "SMBIOS (GetSystemFirmwareTable)";
                var table = WindowsNative.ReadSmbiosTable();
                value = table == null ? null : input == ProtectionInput.SystemUuid ? SmbiosParser.SystemUuid(table)
                    : SmbiosParser.BaseboardSerial(table);
            }
            else if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            {
                var path = Path.Combine(_dmiDirectory, dmiFile);
                source = path;
                try { value = File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
                catch (UnauthorizedAccessException e)
                {
                    throw new ProtectionInputUnavailableException(input, UnavailableReason.AccessDenied,
                        $"Protection input {ProtectionSpec.LetterOf(input)} ({what}) cannot be read: {path} is readable by root only. " +
                        "Run as root, or choose a protection without it.", path, e);
                }
                if (value == null && !Directory.Exists(_dmiDirectory))
                    throw Absent(input, what, $"{_dmiDirectory} does not exist (no DMI/SMBIOS: typical of VMs and containers)", path);
            }
            else
            {
                throw Absent(input, what, "reading SMBIOS is not supported on this operating system", null);
            }
            if (IsPlaceholder(value))
                throw Absent(input, what,
                    value == null ? $"{source} has no {what}" : $"{source} holds the placeholder '{value}', not a unique id", source);
            return Encoding.UTF8.GetBytes(value!.ToUpperInvariant());
        }

        static ProtectionInputUnavailableException Absent(ProtectionInput input, string what, string why, string? target) =>
            new ProtectionInputUnavailableException(input, UnavailableReason.Absent,
                $"Protection input {ProtectionSpec.LetterOf(input)} ({what}) is not available on this machine: {why}. " +
                "Choose a protection without it (the default 'KFG' works everywhere).", target);

        /// <summary>Vendors fill unset SMBIOS fields with fixed text or zeros; using one would tie keys to nothing.</summary>
        static bool IsPlaceholder(string? v)
        {
            if (string.IsNullOrWhiteSpace(v)) return true;
            var t = v!.Trim().ToLowerInvariant();
            if (t.Replace("-", "").Trim('0').Length == 0 || t.Replace("-", "").Trim('f').Length == 0) return true;
            return t is "none" or "not specified" or "default string" or "to be filled by o.e.m." or "not applicable" or "n/a" or "0123456789";
        }

        public byte[] GetGlobalNonce(bool createIfMissing)
        {
            var path = GlobalNoncePath;
            try
            {
                var existing = ReadNonce(path);
                if (existing != null) return existing;
                if (!createIfMissing)
                    throw new ProtectionInputUnavailableException(ProtectionInput.GlobalNonce, UnavailableReason.Absent,
                        $"Protection input G (global nonce) does not exist: {path} is missing, so " +
                        "this is not the OS install the key was protected on.", path);

                SecureFiles.EnsureDirectory(MachineDirectory, FileAccessScope.Administrators);
                // Creators take turns under a lock file and look again inside it: whatever File.Move does on a given
                // file system, two creators can never each keep a nonce of their own (a key protected with the loser's
                // would never open again).
                using (FileLock.Acquire(path + ".lock", TimeSpan.FromSeconds(30)))
                {
                    var raced = ReadNonce(path);
                    if (raced != null) return raced;
                    var nonce = new byte[GlobalNonceLength];
                    using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(nonce);
                    SecureFiles.WriteAtomic(path, Encoding.ASCII.GetBytes(Convert.ToBase64String(nonce) + "\n"), FileAccessScope.Administrators);
                    return nonce;
                }
            }
            catch (UnauthorizedAccessException e)
            {
                throw new ProtectionInputUnavailableException(ProtectionInput.GlobalNonce, UnavailableReason.AccessDenied,
                    $"Protection input G (global nonce) cannot be read by this account: {path} is accessible to " +
                    "root/Administrators only, so keys protected with G cannot be opened here. " +
                    "This is a permission problem, not another machine: run elevated, or have an administrator grant your " +
                    "group the key (Set-HsmSshKeyPermission -Service <service> -Group <group>).", path, e);
            }
        }

        static byte[]? ReadNonce(string path)
        {
            string text;
            // Not File.Exists: it says "no" for a file in a folder this account may not enter, which would read as another OS install.
            try { text = File.ReadAllText(path).Trim(); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            byte[] bytes;
            try { bytes = Convert.FromBase64String(text); }
            catch (FormatException) { bytes = Array.Empty<byte>(); }
            if (bytes.Length != GlobalNonceLength)
                throw new HsmException(HsmErrorIds.StoreCorrupt, HsmErrorKind.InvalidData,
                    $"The global nonce file {path} is corrupt (expected {GlobalNonceLength} " +
                    "bytes in base64). Keys protected with G cannot be opened; " +
                    "restore the file from backup.", path);
            return bytes;
        }
    }
}
