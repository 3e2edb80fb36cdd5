using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {StdOut}\nstderr: {StdErr}";
    }

    /// <summary>Runs a child process with an argument list (no shell quoting), optional stdin and a timeout.</summary>
    public static class ProcessRunner
    {
        public static ProcessResult Run(string fileName, IEnumerable<string> args, string? stdin = null,
            TimeSpan? timeout = null, string? workingDirectory = null)
        {
            var psi = new ProcessStartInfo(fileName)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);

            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {fileName}.");
            // Read both streams concurrently so a chatty child cannot deadlock on a full pipe.
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            if (stdin != null) p.StandardInput.Write(stdin);
            p.StandardInput.Close();

            if (!p.WaitForExit((int)(timeout ?? TimeSpan.FromSeconds(60)).TotalMilliseconds))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new TimeoutException($"{fileName} did not finish in time.");
            }
            p.WaitForExit(); // flushes the async readers
            return new ProcessResult(p.ExitCode, stdout.Result, stderr.Result);
        }

        public static ProcessResult Run(string fileName, params string[] args) => Run(fileName, (IEnumerable<string>)args);
    }
}
