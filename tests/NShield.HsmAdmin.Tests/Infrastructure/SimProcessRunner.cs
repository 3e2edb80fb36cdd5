using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;

namespace NShield.HsmAdmin.Tests.Infrastructure
{
    /// <summary>Result of a finished child process.</summary>
    public sealed record SimProcessResult(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed)
    {
        public override string ToString() => $"exit {ExitCode} in {Elapsed.TotalMilliseconds:F0} ms\nstdout: {StdOut}\nstderr: {StdErr}";
    }

    /// <summary>Small process runner for the simulator tests (argument list, optional stdin, timeout).</summary>
    public static class SimProcessRunner
    {
        public static SimProcessResult Run(string file, IEnumerable<string> args, string? stdin = null, int timeoutMs = 30000, IDictionary<string, string>? env = null)
        {
            var psi = new ProcessStartInfo(file)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (env != null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            var outTask = p.StandardOutput.ReadToEndAsync();
            var errTask = p.StandardError.ReadToEndAsync();
            try
            {
                if (stdin != null) p.StandardInput.Write(stdin);
                p.StandardInput.Close();
            }
            catch (IOException) { }
            if (!p.WaitForExit(timeoutMs))
            {
                try { p.Kill(true); } catch (Exception) { }
                throw new TimeoutException($"{file} {string.Join(" ", args)} did not finish in {timeoutMs} ms");
            }
            p.WaitForExit();
            Task.WaitAll(outTask, errTask);
            return new SimProcessResult(p.ExitCode, outTask.Result, errTask.Result, sw.Elapsed);
        }
    }
}
