using System;
using System.IO;
using System.Text;

namespace NShield.HsmAdmin.Drivers
{
    /// <summary>
    /// Collects a command's output up to a cap. Reads only what is already buffered (never blocks), and never keeps
    /// more than the cap: a byte past it marks the buffer Overflowed and nothing more is read.
    /// </summary>
    internal sealed class CappedBuffer
    {
        private readonly MemoryStream _data = new MemoryStream();
        private readonly byte[] _chunk = new byte[16 * 1024];

        public CappedBuffer(int cap) { Cap = cap; }

        public int Cap { get; }
        public bool Overflowed { get; private set; }
        public long Length => _data.Length;

        /// <summary>Moves the bytes the stream already holds (its Length) into the buffer, stopping one byte past the cap.</summary>
        public void DrainAvailable(Stream stream)
        {
            while (!Overflowed)
            {
                long available;
                try { available = stream.Length; }
                catch (ObjectDisposedException) { return; }
                if (available <= 0) return;
                int want = (int)Math.Min(Math.Min(available, _chunk.Length), Cap - _data.Length + 1);
                int n = stream.Read(_chunk, 0, want);
                if (n <= 0) return;
                Append(_chunk, n);
            }
        }

        internal void Append(byte[] bytes, int count)
        {
            int room = (int)(Cap - _data.Length);
            if (count > room)
            {
                _data.Write(bytes, 0, Math.Max(0, room));
                Overflowed = true;
                return;
            }
            _data.Write(bytes, 0, count);
        }

        public string ToUtf8() => Encoding.UTF8.GetString(_data.GetBuffer(), 0, (int)_data.Length);
    }

    /// <summary>What an SSH channel negotiated (implemented by SshModuleTransport's channels; for diagnostics and tests).</summary>
    public interface ISshChannelInfo
    {
        string KeyExchangeAlgorithm { get; }
        string ClientToModuleCipher { get; }
        string ModuleToClientCipher { get; }
        string ClientToModuleMac { get; }
        string ModuleToClientMac { get; }
    }
}
