using System;
using System.IO;
using System.Text;
using System.Threading;
using NShield.HsmAdmin.Protocol;
using NShield.HsmAdmin.Store;
using NShield.HsmAdmin.Files;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>How a hostile simulated module answers (Set-HsmSimulatedModule -Hostile). None is a normal module.</summary>
    public enum HostileReply
    {
        None,
        /// <summary>One well-formed JSON line of 2 MiB (over the host's 1 MiB reply cap), then exit 0.</summary>
        OversizedReply,
        /// <summary>The real reply with "protocol":2 (an unknown major version).</summary>
        WrongProtocol,
        /// <summary>A reply line cut in the middle of a JSON object.</summary>
        MalformedJson,
        /// <summary>Valid JSON whose fields have the wrong types (numbers for strings, arrays for objects...).</summary>
        MistypedJson,
        /// <summary>The real reply, one byte every 200 ms, then more bytes, never finishing (until the host hangs up).</summary>
        SlowDrip,
        /// <summary>An endless reply at full speed (a JSON string that never closes) until the host hangs up.</summary>
        EndlessReply,
        /// <summary>256 KiB on stderr (over the host's 64 KiB error-output cap), then the real reply.</summary>
        StderrFlood,
    }

    /// <summary>
    /// The simulator's hostile-module mode: a module that answers every command over SSH in a way that breaks the
    /// protocol, so tests can show that the host ends each case in a typed error within its timeout and changes nothing.
    /// The setting is the file <c>&lt;moduleDir&gt;/hostile</c> (the mode's name), read by the firmware on every command;
    /// it applies to the SSH transport (the forced command's stdout), not to -Transport InProcess.
    /// </summary>
    public static class HostileReplies
    {
        public const string FileName = "hostile";
        /// <summary>Size of the OversizedReply line.</summary>
        public const int OversizedBytes = 2 * 1024 * 1024;
        // A dripping or endless reply stops by itself after this long even if nobody hangs up.
        private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(2);

        public static void Set(string moduleDir, HostileReply mode)
        {
            var path = Path.Combine(moduleDir, FileName);
            if (mode == HostileReply.None)
            {
                try { File.Delete(path); } catch (IOException) { }
                return;
            }
            SecureFiles.WriteAtomic(path, mode + "\n", FileAccessScope.Public);
        }

        public static HostileReply Get(string moduleDir)
        {
            string text;
            try { text = File.ReadAllText(Path.Combine(moduleDir, FileName)).Trim(); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException) { return HostileReply.None; }
            return Enum.TryParse<HostileReply>(text, out var mode) ? mode : HostileReply.None;
        }

        /// <summary>
        /// Hook in the firmware's reply path (FirmwareMain): when the module is hostile, writes the hostile reply instead of
        /// the real one and returns true with the exit code to use.
        /// </summary>
        public static bool TryWrite(string? moduleDir, FirmwareReply reply, Stream stdout, out int exitCode)
        {
            exitCode = 0;
            if (string.IsNullOrEmpty(moduleDir)) return false;
            var mode = Get(moduleDir!);
            if (mode == HostileReply.None) return false;
            // .NET ignores EPIPE on the console's stdout, so a hang-up is seen as the sshd session going away (we get reparented).
            int parent = ProcessTools.ParentPid();
            bool HostGone() => ProcessTools.ParentPid() != parent;
            try
            {
                switch (mode)
                {
                    case HostileReply.OversizedReply:
                        WriteAll(stdout, "{\"protocol\":1,\"ok\":true,\"result\":{\"padding\":\"");
                        var chunk = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));
                        for (int written = 0; written < OversizedBytes; written += chunk.Length) stdout.Write(chunk, 0, chunk.Length);
                        WriteAll(stdout, "\"}}\n");
                        break;
                    case HostileReply.WrongProtocol:
                        WriteAll(stdout,
                            reply.Json.Replace("\"protocol\":" + FirmwareProtocol.Version + ",",
                            "\"protocol\":" + (FirmwareProtocol.Version + 1) + ",") + "\n");
                        exitCode = reply.ExitCode;
                        break;
                    case HostileReply.MalformedJson:
                        WriteAll(stdout, "{\"protocol\":1,\"ok\":true,\"result\":{\"esn\":\"\n");
                        break;
                    case HostileReply.MistypedJson:
                        // Right keys, wrong types, everywhere a host reads: identity, keys.list, ping, errors.
                        WriteAll(stdout, "{\"protocol\":1,\"ok\":true,\"result\":{\"esn\":42,\"mode\":[\"Operational\"],\"enrolled\":\"yes\"," +
                                         "\"identityKey\":7,\"warrant\":{},\"serverKeys\":[1,2,3],\"keys\":{\"sshadmin\":\"all of them\"}}}\n");
                        break;
                    case HostileReply.SlowDrip:
                    {
                        var clock = System.Diagnostics.Stopwatch.StartNew();
                        var bytes = Encoding.UTF8.GetBytes(reply.Json);
                        for (long i = 0; clock.Elapsed < GiveUpAfter && !HostGone(); i++)
                        {
                            // The real reply without its last byte, then spaces: it never becomes a complete line.
                            stdout.WriteByte(i < bytes.Length - 1 ? bytes[i] : (byte)' ');
                            stdout.Flush();
                            Thread.Sleep(200);
                        }
                        break;
                    }
                    case HostileReply.StderrFlood:
                    {
                        using (var stderr = Console.OpenStandardError())
                        {
                            var noise = Encoding.ASCII.GetBytes(new string('E', 64 * 1024));
                            for (int i = 0; i < 4 && !HostGone(); i++) stderr.Write(noise, 0, noise.Length);
                        }
                        WriteAll(stdout, reply.Json + "\n");
                        exitCode = reply.ExitCode;
                        break;
                    }
                    case HostileReply.EndlessReply:
                    {
                        var clock = System.Diagnostics.Stopwatch.StartNew();
                        WriteAll(stdout, "{\"protocol\":1,\"ok\":true,\"result\":{\"padding\":\"");
                        var block = Encoding.ASCII.GetBytes(new string('A', 64 * 1024));
                        while (clock.Elapsed < GiveUpAfter && !HostGone()) stdout.Write(block, 0, block.Length);
                        break;
                    }
                }
                stdout.Flush();
            }
            catch (IOException)
            {
                // The host hung up (EPIPE): that is how a dripping or endless reply normally ends.
                exitCode = 141;
            }
            return true;
        }

        private static void WriteAll(Stream s, string text)
        {
            var b = Encoding.UTF8.GetBytes(text);
            s.Write(b, 0, b.Length);
            s.Flush();
        }
    }
}
