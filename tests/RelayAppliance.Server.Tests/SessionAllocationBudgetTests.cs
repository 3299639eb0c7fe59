using RelayAppliance.Testing;

namespace RelayAppliance.Server.Tests;

[CollectionDefinition(nameof(AllocationMeasurement), DisableParallelization = true)]
public sealed class AllocationMeasurement;

/// <summary>
/// The embedded SMTP session (perf/RelayAppliance.Benchmarks/Session/EmbeddedSessionBenchmarks: the real SmtpSession
/// over an in-memory pipe, a real spool on tmpfs) against its budget in perf/allocation-budgets.json, the way
/// tests/RelayAppliance.Protocol.Tests/AllocationBudgetTests.cs checks the parsers. Part of a session runs on the
/// spool's commit thread, so allocations are counted process-wide (GC.GetTotalAllocatedBytes); the collection runs
/// alone, and the best of a few rounds is taken so that a one-off runtime or background allocation does not count.
/// </summary>
[Collection(nameof(AllocationMeasurement))]
public sealed class SessionAllocationBudgetTests
{
    private const string FileName = AllocationBudgetFile.FileName;
    private const string ThisProject = "RelayAppliance.Server.Tests";
    private const int WarmUp = 100;
    private const int Iterations = 300;
    private const int Rounds = 3;

    private static readonly string[] Known = ["smtp.session.lockstep-1KiB-tmpfs-spool", "smtp.session.pipelined-1KiB-tmpfs-spool"];

    public static TheoryData<string> Operations() => [.. Known];

    [Theory]
    [MemberData(nameof(Operations))]
    public async Task SessionStaysWithinItsAllocationBudget(string operation)
    {
        Dictionary<string, long> budgets = LoadBudgets();
        Assert.True(budgets.TryGetValue(operation, out long budget), $"{operation} has no entry for {ThisProject} in {FileName}.");

        await using var transaction = new EmbeddedSmtpTransaction(SpoolParent());
        Func<Task<int>> run = operation.Contains("pipelined", StringComparison.Ordinal) ? transaction.RunPipelinedAsync : transaction.RunLockstepAsync;
        Assert.Equal(7, await run());
        Assert.Equal([220, 250, 250, 250, 354, 250, 221], transaction.LastCodes[..7]);

        for (int i = 0; i < WarmUp; i++)
        {
            await run();
        }

        long best = long.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < Iterations; i++)
            {
                await run();
            }

            best = Math.Min(best, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        double bytesPerOp = (double)best / Iterations;
        Assert.True(bytesPerOp <= budget,
            $"{operation} allocates {bytesPerOp:0} bytes per session; its budget in {FileName} is {budget} bytes.");
    }

    [Fact]
    public void EveryBudgetOfThisProjectNamesAKnownOperation()
    {
        string[] unknown = [.. LoadBudgets().Keys.Where(name => !Known.Contains(name, StringComparer.Ordinal) 
            && name is not SocketSessionAllocationTests.MessageOperation and not SocketSessionAllocationTests.ConnectionOperation)];
        Assert.True(unknown.Length == 0, $"{FileName} has {ThisProject} budgets for operations no test runs: {string.Join(", ", unknown)}.");
    }

    [Fact]
    public async Task TheMeasurementSeesAnAllocationOnAnotherThread()
    {
        // Part of the session runs on the spool's thread: the count must see allocations there too.
        long before = GC.GetTotalAllocatedBytes(precise: true);
        int length = await Task.Run(() => new byte[100_000].Length);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before >= length);
    }

    private static string SpoolParent() => Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();

    private static Dictionary<string, long> LoadBudgets() => AllocationBudgetFile.Read(ThisProject);
}
