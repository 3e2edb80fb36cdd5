using System.Collections.Generic;
using NShield.HsmAdmin.Modules;

namespace NShield.HsmAdmin.Protocol
{
    // Firmware over the updater service, the module's firmware images and the ncoreapi interlock (issue 22 items 3 and 6):
    // request bodies and results of protocol version 1 (docs/firmware-protocol.md), beside FirmwareMessages.cs.

    /// <summary>firmware.chunk: one part of a package, base64, at the byte offset it starts at (0 starts a new package).</summary>
    public sealed class FirmwareChunkRequest
    {
        public long? Offset { get; set; }
        public string? Data { get; set; }
    }

    /// <summary>firmware.chunk: how many bytes the module holds staged now.</summary>
    public sealed class FirmwareChunkResult
    {
        public long Received { get; set; }
    }

    /// <summary>firmware.install: the whole package's size and SHA-256 (lower-case hex), checked against what was staged.</summary>
    public sealed class FirmwareInstallRequest
    {
        public long? Size { get; set; }
        public string? Sha256 { get; set; }
    }

    /// <summary>firmware.install.</summary>
    public sealed class FirmwareInstallResult
    {
        public string? Image { get; set; }
        public string? PreviousVersion { get; set; }
        public string? Version { get; set; }
        public int Vsn { get; set; }
        public bool Rebooting { get; set; }
        public ModuleMode? Mode { get; set; }
    }

    /// <summary>setminvsn.</summary>
    public sealed class SetMinVsnRequest
    {
        public int? Vsn { get; set; }
    }

    /// <summary>setminvsn: the minimum now, and the installed primary image's VSN.</summary>
    public sealed class SetMinVsnResult
    {
        public int MinimumVsn { get; set; }
        public int FirmwareVsn { get; set; }
    }

    /// <summary>logs.clear: the sequence numbers to clear, both included (what was read).</summary>
    public sealed class LogsClearRequest
    {
        public long? FromSeq { get; set; }
        public long? ThroughSeq { get; set; }
    }

    /// <summary>logs.clear.</summary>
    public sealed class LogsClearResult
    {
        public long Cleared { get; set; }
        public long Remaining { get; set; }
    }

    /// <summary>One firmware image in identity.</summary>
    public sealed class FirmwareImageInfo
    {
        public string? Version { get; set; }
        public int? Vsn { get; set; }
    }

    /// <summary>identity's "firmware": both images and the minimum VSN.</summary>
    public sealed class FirmwareInfo
    {
        public FirmwareImageInfo? Primary { get; set; }
        public FirmwareImageInfo? Recovery { get; set; }
        public int? MinimumVsn { get; set; }
    }
}
