using System;
using System.IO;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    /// <summary>A private scratch folder removed on Dispose.</summary>
    public sealed class TempDirectory : IDisposable
    {
        public string Path { get; }

        public TempDirectory()
        {
            Path = Directory.CreateTempSubdirectory("nshield-test-").FullName;
        }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        /// <summary>Writes a file readable by its owner only (ssh-keygen refuses group/world-readable private keys).</summary>
        public string WritePrivate(string name, string text)
        {
            string path = File(name);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            // Created 0600 from the start, so the key is never briefly readable by others.
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var w = new StreamWriter(new FileStream(path, options)))
                w.Write(text);
            return path;
        }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
