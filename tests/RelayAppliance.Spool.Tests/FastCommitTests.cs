using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool.Tests;

/// <summary>
/// A spool log in FASTER's fast-commit mode: commits newer than the commit slot are found by recovery's forward scan,
/// and a start cuts the log at its recovered tail, so that an earlier run's leftovers can never join a later run's
/// commit chain.
/// </summary>
public sealed class FastCommitTests : IDisposable
{
    private const int SegmentBits = 20;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-fastcommit-tests", Guid.NewGuid().ToString("n"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <param name="onFailure">Default: a log failure fails the test.</param>
    private SpoolLog Open(bool commitWritesInline = true, Action<SpoolLog, Exception>? onFailure = null) => SpoolLog.Open("journal",
        _directory, pageBits: 16, memoryBits: 18, SegmentBits, zeroAhead: 64 * 1024, commitWritesInline, NullLoggerFactory.Instance,
        onFailure ?? (static (_, ex) => throw new InvalidOperationException("unexpected log failure", ex)));

    private static byte[] Entry(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private static async Task<long> AppendAsync(SpoolLog log, byte[] entry) => await log.EnqueueAsync(entry, CancellationToken.None);

    private static async Task CommitAsync(SpoolLog log, long address)
    {
        log.Signal();
        await log.WaitForCommitAsync(address).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static List<byte[]> Entries(SpoolLog log)
    {
        var entries = new List<byte[]>();
        using var iterator = log.Log.Scan(log.BeginAddress, log.CommittedUntilAddress);
        while (iterator.GetNext(out byte[] entry, out int length, out _))
            entries.Add(entry[..length]);
        return entries;
    }

    // A commit completes its waiters inline on FASTER's commit callback, so whatever an awaiting caller does next runs
    // there, closing the log included; and FasterLog.Dispose waits for that very callback to return. After a storage
    // failure nothing in DisposeAsync awaited before it, so this hung for good (once in CI, at the end of a failure test).
    [Fact]
    public async Task A_log_closed_from_a_continuation_its_commit_released_closes_even_after_a_failure()
    {
        var log = Open(onFailure: static (_, _) => { }); // the failure below is the test's own
        var address = await AppendAsync(log, Entry(200, 1));
        var committed = log.WaitForCommitAsync(address).AsTask();
        Task? closing = null;
        var continuation = committed.ContinueWith(_ =>
        {
            log.Fail(new IOException("simulated device failure"));
            closing = log.DisposeAsync().AsTask();
        }, TaskContinuationOptions.ExecuteSynchronously);
        log.Signal();

        await continuation.WaitAsync(TimeSpan.FromSeconds(10));
        await closing!.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Commits_after_the_last_commit_slot_are_recovered_by_the_forward_scan()
    {
        await using (var log = Open())
        {
            for (byte i = 1; i <= 5; i++)
                await CommitAsync(log, await AppendAsync(log, Entry(200, i)));
            // Only the first commit wrote the slot (the next is due in a second): the other four live only in the log.
            Assert.Equal(1, log.Commits.SlotWrites);
            log.AbandonUncommittedOnDispose();
        }
        await using (var log = Open())
        {
            Assert.Equal(Enumerable.Range(1, 5).Select(i => Entry(200, (byte)i)), Entries(log));
            Assert.Equal(log.CommittedUntilAddress, log.TailAddress);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Commit_writes_run_on_the_committing_thread_only_when_the_log_is_opened_so(bool inline)
    {
        await using (var log = Open(inline))
        {
            for (byte i = 1; i <= 3; i++)
                await CommitAsync(log, await AppendAsync(log, Entry(200, i)));
            if (inline)
                Assert.True(log.Device.InlineWrites >= 3, $"{log.Device.InlineWrites} inline writes");
            else
                Assert.Equal(0, log.Device.InlineWrites); // the writer thread wrote them, and the commits still waited
            log.AbandonUncommittedOnDispose();
        }
        await using (var log = Open(inline))
            Assert.Equal(Enumerable.Range(1, 3).Select(i => Entry(200, (byte)i)), Entries(log));
    }

    [Fact]
    public async Task A_record_signalled_soon_is_committed_by_the_deadline_with_no_other_signal()
    {
        await using var log = Open();
        long address = await AppendAsync(log, Entry(200, 1));
        log.SignalSoon(address);
        await log.WaitForCommitAsync(address).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, log.CommitsIssued);
    }

    [Fact]
    public async Task A_record_signalled_soon_waits_for_the_next_signalled_commit_and_rides_on_it()
    {
        await using var log = Open();
        log.SoonDelay = TimeSpan.FromSeconds(2);
        long first = await AppendAsync(log, Entry(200, 1));
        log.SignalSoon(first);
        await Task.Delay(300);
        Assert.True(log.CommittedUntilAddress <= first, "committed before the delay and with no other signal");
        Assert.Equal(0, log.CommitsIssued);

        long second = await AppendAsync(log, Entry(200, 2));
        await CommitAsync(log, second);
        await log.WaitForCommitAsync(first).AsTask().WaitAsync(TimeSpan.FromSeconds(1)); // long before its deadline
        Assert.Equal(1, log.CommitsIssued);

        await Task.Delay(TimeSpan.FromSeconds(2.5)); // past the deadline: it was covered, so nothing more is issued
        Assert.Equal(1, log.CommitsIssued);
    }

    [Fact]
    public async Task An_earlier_runs_records_past_the_recovered_tail_never_come_back()
    {
        // Run 1: A, A' (measures a record's and a commit record's size), then B1, B2, D in one commit. B1 is then torn
        // on disk, as a power loss during that write could leave it: recovery stops before it, but B2, D and their
        // commit record survive past the recovered tail.
        long recordSize, commitSize, t1, d;
        await using (var log = Open())
        {
            long a = await AppendAsync(log, Entry(96, 0xA1));
            long a2 = await AppendAsync(log, Entry(96, 0xA2));
            await CommitAsync(log, a2);
            recordSize = a2 - a;
            t1 = log.CommittedUntilAddress;
            commitSize = t1 - a2 - recordSize;
            Assert.Equal(t1, await AppendAsync(log, Entry(96, 0xB1)));
            // D starts on a sector boundary: run 2's last write then ends there instead of zeroing D's first bytes.
            long b2 = t1 + recordSize, header = recordSize - 96;
            await AppendAsync(log, Entry((int)((b2 + header + 600 + 511) / 512 * 512 - b2 - header), 0xB2));
            d = await AppendAsync(log, Entry(96, 0xD0));
            Assert.Equal(0, d % 512);
            await CommitAsync(log, d);
        }
        using (var segment = new FileStream(Path.Combine(_directory, "log.0"), FileMode.Open, FileAccess.ReadWrite))
        {
            segment.Position = t1 + recordSize / 2; // inside B1's payload: its checksum no longer matches
            segment.Write(Entry(8, 0x5A));
        }

        // Run 2 recovers A, A' and appends C sized so that C and its commit record end exactly where D begins.
        await using (var log = Open())
        {
            Assert.Equal(t1, log.TailAddress);
            int header = (int)recordSize - 96;
            await CommitAsync(log, await AppendAsync(log, Entry((int)(d - t1 - commitSize) - header, 0xC0)));
            Assert.Equal(d, log.CommittedUntilAddress); // the layout this test is about
        }

        // Run 3: had D and run 1's last commit record still been on disk, the forward scan would have adopted them.
        await using (var log = Open())
        {
            var entries = Entries(log);
            Assert.Equal([0xA1, 0xA2, 0xC0], entries.Select(e => e[0]));
            Assert.Equal(d, log.TailAddress);
        }
    }

    [Fact]
    public async Task A_start_cuts_the_segments_at_the_recovered_tail()
    {
        long tail;
        await using (var log = Open())
        {
            await CommitAsync(log, await AppendAsync(log, Entry(500, 1)));
            tail = log.TailAddress;
        }
        // Leftovers past the tail in the tail segment and a later segment, as an earlier run's uncommitted flushes.
        await File.WriteAllBytesAsync(Path.Combine(_directory, "log.1"), Entry(4096, 0x77));
        using (var segment = new FileStream(Path.Combine(_directory, "log.0"), FileMode.Open, FileAccess.ReadWrite))
        {
            segment.Position = tail;
            segment.Write(Entry(8192, 0x77));
        }

        await using (var log = Open())
        {
            Assert.Equal(tail, log.TailAddress);
            Assert.Equal(tail, new FileInfo(Path.Combine(_directory, "log.0")).Length);
            Assert.Equal(0, new FileInfo(Path.Combine(_directory, "log.1")).Length);
            // And the log goes on from there.
            await CommitAsync(log, await AppendAsync(log, Entry(500, 2)));
        }
        await using (var log = Open())
            Assert.Equal([Entry(500, 1), Entry(500, 2)], Entries(log));
    }

    [Fact]
    public async Task A_clean_restart_keeps_the_zero_filled_space_past_the_tail()
    {
        var segment = Path.Combine(_directory, "log.0");
        long tail;
        await using (var log = Open())
        {
            await CommitAsync(log, await AppendAsync(log, Entry(500, 1)));
            tail = log.TailAddress;
            await SpoolTestExtensions.WaitUntilAsync(() => new FileInfo(segment).Length >= tail + 32 * 1024, "zero-fill ahead of the tail");
        }
        long length = new FileInfo(segment).Length;

        await using (var log = Open())
        {
            Assert.Equal(tail, log.TailAddress);
            Assert.Equal(length, new FileInfo(segment).Length); // only zeros followed the tail: nothing to cut
        }
    }

    [Fact]
    public void The_slot_manager_writes_the_first_forced_and_interval_commits_only()
    {
        var file = Path.Combine(_directory, "slots");
        Directory.CreateDirectory(_directory);
        using var manager = SlotCommitManager.Open(file, TimeSpan.FromHours(1));
        manager.Commit(64, 100, [1], 1, forceWriteMetadata: false);
        manager.Commit(64, 200, [2], 2, forceWriteMetadata: false);
        Assert.Equal(1, manager.SlotWrites);
        Assert.Equal([1], manager.ListCommits());
        manager.Commit(128, 300, [3], 3, forceWriteMetadata: true); // the begin address moved
        Assert.Equal(2, manager.SlotWrites);
        Assert.Equal([3, 1], manager.ListCommits());
    }

    /// <summary>Rewrites slot 0 of <paramref name="file"/> with another layout version and a matching checksum.</summary>
    private static void SetSlotVersion(string file, ushort version)
    {
        var bytes = File.ReadAllBytes(file);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), version);
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(40));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(44), SlotCommitManager.Checksum(bytes.AsSpan(0, 44), bytes.AsSpan(48, length)));
        File.WriteAllBytes(file, bytes);
    }

    [Fact]
    public void A_slot_of_the_version_before_fast_commit_is_read_and_the_next_is_written_as_version_2()
    {
        var file = Path.Combine(_directory, "slots");
        Directory.CreateDirectory(_directory);
        using (var manager = SlotCommitManager.Open(file))
            manager.Commit(64, 100, [1, 2], 7, forceWriteMetadata: false);
        SetSlotVersion(file, 1);

        using (var manager = SlotCommitManager.Open(file))
        {
            Assert.Equal([7], manager.ListCommits());
            Assert.Equal([1, 2], manager.GetCommitMetadata(7));
            manager.Commit(64, 200, [3], 8, forceWriteMetadata: false); // goes to slot 1
        }
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(File.ReadAllBytes(file).AsSpan(SlotCommitManager.SlotSize + 4)));
    }

    [Fact]
    public void A_slot_of_an_unknown_newer_version_is_not_read()
    {
        var file = Path.Combine(_directory, "slots");
        Directory.CreateDirectory(_directory);
        using (var manager = SlotCommitManager.Open(file))
            manager.Commit(64, 100, [1], 1, forceWriteMetadata: false);
        SetSlotVersion(file, 3);

        using var reopened = SlotCommitManager.Open(file);
        Assert.False(reopened.HasValidCommit);
    }
}
