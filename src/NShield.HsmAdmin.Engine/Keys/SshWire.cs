using System;
using System.IO;
using System.Text;
using Org.BouncyCastle.Math;

namespace NShield.HsmAdmin.Keys
{
    /// <summary>Reads the SSH wire encoding (RFC 4251 §5): uint32, string, mpint.</summary>
    internal sealed class SshWireReader
    {
        private readonly byte[] _data;
        private readonly string _endOfDataErrorId;
        private int _pos;

        /// <param name="endOfDataErrorId">What running out of bytes means to the caller (truncated vs corrupt).</param>
        public SshWireReader(byte[] data, string endOfDataErrorId = HsmErrorIds.KeyFileCorrupt)
        {
            _data = data;
            _endOfDataErrorId = endOfDataErrorId;
        }

        public int Remaining => _data.Length - _pos;

        public uint ReadUInt32()
        {
            Need(4);
            uint v = (uint)(_data[_pos] << 24 | _data[_pos + 1] << 16 | _data[_pos + 2] << 8 | _data[_pos + 3]);
            _pos += 4;
            return v;
        }

        public byte[] ReadBytes(int count)
        {
            Need(count);
            var b = new byte[count];
            Buffer.BlockCopy(_data, _pos, b, 0, count);
            _pos += count;
            return b;
        }

        public byte[] ReadString()
        {
            uint len = ReadUInt32();
            if (len > (uint)Remaining) Fail();
            return ReadBytes((int)len);
        }

        /// <summary>Names (key types, ciphers) are ASCII; anything else is damage, not a name.</summary>
        public string ReadName()
        {
            var b = ReadString();
            foreach (var c in b)
                if (c < 0x20 || c > 0x7e) throw SshKeyFormatException.Corrupt("a name field holds non-ASCII bytes");
            return Encoding.ASCII.GetString(b);
        }

        public string ReadUtf8() => Encoding.UTF8.GetString(ReadString());

        public BigInteger ReadMpint()
        {
            var b = ReadString();
            return b.Length == 0 ? BigInteger.Zero : new BigInteger(b);
        }

        public byte[] ReadRest() => ReadBytes(Remaining);

        private void Need(int n)
        {
            if (n < 0 || n > Remaining) Fail();
        }

        private void Fail()
        {
            throw _endOfDataErrorId == HsmErrorIds.KeyFileTruncated
                ? new SshKeyFormatException(HsmErrorIds.KeyFileTruncated, "The key file ends too early: it is truncated. Restore it from a backup.")
                : SshKeyFormatException.Corrupt("a length field points past the end of the data");
        }
    }

    /// <summary>Writes the SSH wire encoding (RFC 4251 §5).</summary>
    internal sealed class SshWireWriter
    {
        private readonly MemoryStream _ms = new MemoryStream();

        public int Length => (int)_ms.Length;

        public SshWireWriter UInt32(uint v)
        {
            _ms.WriteByte((byte)(v >> 24));
            _ms.WriteByte((byte)(v >> 16));
            _ms.WriteByte((byte)(v >> 8));
            _ms.WriteByte((byte)v);
            return this;
        }

        public SshWireWriter Raw(byte[] b)
        {
            _ms.Write(b, 0, b.Length);
            return this;
        }

        public SshWireWriter String(byte[] b) => UInt32((uint)b.Length).Raw(b);

        public SshWireWriter String(string s) => String(Encoding.UTF8.GetBytes(s));

        /// <summary>BigInteger.ToByteArray is already minimal two's complement, which is what mpint wants; zero is empty.</summary>
        public SshWireWriter Mpint(BigInteger v) => String(v.SignValue == 0 ? new byte[0] : v.ToByteArray());

        public byte[] ToArray() => _ms.ToArray();
    }
}
