using System;
using System.IO;
using System.Text;
using NShield.HsmAdmin.Protocol;

namespace NShield.HsmAdmin.Firmware
{
    /// <summary>
    /// Entry point of nshield-sim-firmware, the forced command of every simulated endpoint:
    /// <c>nshield-sim-firmware --module-dir DIR --service SVC --key SHA256:...</c>; verb from $SSH_ORIGINAL_COMMAND,
    /// JSON body from stdin (only for verbs that take one), ONE JSON line on stdout, exit 0 ok / 1 error.
    /// </summary>
    public static class FirmwareMain
    {
        public static int Run(string[] args, Stream stdin, Stream stdout)
        {
            string? dir = null, svc = null, key = null;
            for (int i = 0; i + 1 < args.Length; i += 2)
            {
                switch (args[i])
                {
                    case "--module-dir": dir = args[i + 1]; break;
                    case "--service": svc = args[i + 1]; break;
                    case "--key": key = args[i + 1]; break;
                }
            }
            var verb = Environment.GetEnvironmentVariable("SSH_ORIGINAL_COMMAND") ?? "";
            FirmwareReply reply;
            if (dir == null || svc == null || key == null)
            {
                reply = new FirmwareReply { ExitCode = 1,
                    Json = ReplyWriter.Error(FirmwareErrorCodes.Internal, "firmware misconfigured: --module-dir, --service and --key are required") };
            }
            else
            {
                var body = FirmwareVerbs.TakesBody(verb.Trim()) ? ReadBounded(stdin, FirmwareProtocol.MaxBodyBytes + 1) : new byte[0];
                reply = ModuleFirmware.Handle(new FirmwareRequest { ModuleDir = dir, Service = svc, KeyFingerprint = key, Verb = verb, Body = body });
            }
            if (reply.Dropped)
            {
                // Drop the connection: kill our sshd session process (only when it really is sshd), reply nothing.
                var ppid = ProcessTools.ParentPid();
                if (Environment.GetEnvironmentVariable("SSH_CONNECTION") != null
                    && (ProcessTools.Comm(ppid) ?? "").StartsWith("sshd", StringComparison.Ordinal))
                    ProcessTools.Signal(ppid, ProcessTools.SIGKILL);
                return 255;
            }
            if (HostileReplies.TryWrite(dir, reply, stdout, out var hostileExit)) return hostileExit; // simulator: -Hostile
            var bytes = Encoding.UTF8.GetBytes(reply.Json + "\n");
            stdout.Write(bytes, 0, bytes.Length);
            stdout.Flush();
            return reply.ExitCode;
        }

        private static byte[] ReadBounded(Stream s, int max)
        {
            var ms = new MemoryStream();
            var buf = new byte[8192];
            int n;
            while (ms.Length < max && (n = s.Read(buf, 0, (int)Math.Min(buf.Length, max - ms.Length))) > 0) ms.Write(buf, 0, n);
            return ms.ToArray();
        }
    }
}
