using System;
using System.Diagnostics;
using NShield.HsmAdmin.Store;

// Usage: StoreStress <store folder> <iterations> <worker id> [lock timeout ms]
// Each iteration: lock, read the counter document, increment, write it, append one audit line.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: StoreStress <store folder> <iterations> <worker id>");
    return 2;
}
var store = new HostStore(args[0]);
int iterations = int.Parse(args[1]);
string worker = args[2];
var lockTimeout = TimeSpan.FromMilliseconds(args.Length > 3 ? int.Parse(args[3]) : 120_000);
var clock = Stopwatch.StartNew();
try
{
for (int i = 0; i < iterations; i++)
{
    using (store.AcquireLock(lockTimeout))
    {
        var counter = store.ReadDocument<Counter>("counter") ?? new Counter();
        counter.Value++;
        store.WriteDocument("counter", counter);
        store.AppendAudit(new AuditEntry { Operation = "StressIncrement", Result = "Success", Detail = $"{worker}:{i}:{counter.Value}" });
    }
}
}
catch (NShield.HsmAdmin.HsmException e)
{
    Console.Error.WriteLine($"{e.ErrorId}: {e.Message}");
    return 3;
}
Console.WriteLine($"{worker} done {iterations} in {clock.ElapsedMilliseconds} ms");
return 0;

public sealed class Counter
{
    public int Value { get; set; }
}
