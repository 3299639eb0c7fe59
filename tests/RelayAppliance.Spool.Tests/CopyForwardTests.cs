using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool.Tests;

/// <summary>Copy-forward of B's mostly dead head segment (faster-spool.md §3.2): a long-lived message must not pin B.</summary>
public sealed class CopyForwardTests
{
    // 64 KiB body pages, 128 KiB body segments; copy the head segment forward at once (no minimum age).
    private static readonly SpoolTuning Tuning = SpoolTuning.Small with { BodyCopyForwardMinAge = TimeSpan.Zero };

    private static string BodySegment0(TempSpool temp) => Path.Combine(temp.BodiesDir, "log.0");

    /// <summary>The kinds of the committed journal records of one message, in order.</summary>
    private static List<RecordKind> JournalKinds(MessageSpool spool, MessageId id)
    {
        var kinds = new List<RecordKind>();
        using var iterator = spool.Journal.Log.Scan(spool.Journal.BeginAddress, spool.Journal.CommittedUntilAddress);
        while (iterator.GetNext(out byte[] entry, out int length, out _))
        {
            if (RecordHeader.TryRead(entry.AsSpan(0, length), out var header) && header.MessageId == id.Value)
                kinds.Add(header.Kind);
        }
        return kinds;
    }

    /// <summary>One old survivor in segment 0 and many deleted messages after it.</summary>
    private static async Task<(MessageId Survivor, byte[] Body)> FillAndDeleteAllButFirstAsync(MessageSpool spool, int survivorSize = 20_000)
    {
        var body = SpoolTestExtensions.Body(survivorSize, 1);
        var survivor = await spool.AcceptAsync(body);
        var others = new List<MessageId>();
        for (int i = 0; i < 12; i++)
            others.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 100 + i)));
        foreach (var id in others)
            Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
        return (survivor, body);
    }

    [Fact]
    public async Task A_long_lived_message_is_copied_forward_and_the_old_segments_are_deleted()
    {
        using var temp = new TempSpool(Tuning);
        MessageId survivor;
        byte[] body;
        QueueStats stats;
        await using (var spool = temp.Open())
        {
            (survivor, body) = await FillAndDeleteAllButFirstAsync(spool);
            int before = TempSpool.SegmentFileCount(temp.BodiesDir);
            Assert.True(before >= 10, $"expected at least 10 body segments, found {before}");
            Assert.Contains(0L, spool.Index.BodyLiveBytes.Keys); // the survivor pins segment 0 ...
            await spool.ReclaimAsync(CancellationToken.None);
            Assert.DoesNotContain(0L, spool.Index.BodyLiveBytes.Keys); // ... no longer

            await SpoolTestExtensions.WaitUntilAsync(() => TempSpool.SegmentFileCount(temp.BodiesDir) <= 2,
                $"the old body segments deleted ({TempSpool.SegmentFileCount(temp.BodiesDir)} of {before} left)");
            Assert.False(File.Exists(BodySegment0(temp)));
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
            stats = spool.GetStats();
            Assert.Equal(new QueueStats(1, 1, body.Length), stats);
            Assert.Equal([RecordKind.Accepted, RecordKind.Moved], JournalKinds(spool, survivor));
        }
        await using (var spool = temp.Open())
        {
            // Rebuilt from Accepted + Moved: the chunk list points into the surviving segments.
            Assert.Equal([survivor], spool.List().Select(m => m.Id));
            Assert.Equal(stats, spool.GetStats());
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
            var next = await spool.AcceptAsync(SpoolTestExtensions.Body(70_000, 2));
            Assert.Equal(SpoolTestExtensions.Body(70_000, 2), await spool.ReadBodyAsync(next));

            // Deleting a moved message frees its new copy too.
            Assert.True(await spool.DeleteAsync(survivor, CancellationToken.None));
        }
        await using (var spool = temp.Open())
            Assert.Single(spool.List());
    }

    [Theory]
    [InlineData("bodies-committed")]
    [InlineData("moved-appended")]
    public async Task A_crash_before_the_Moved_record_is_durable_keeps_the_old_copy(string step)
    {
        using var temp = new TempSpool(Tuning);
        MessageId survivor;
        byte[] body;
        await using (var spool = temp.Open())
        {
            (survivor, body) = await FillAndDeleteAllButFirstAsync(spool);
            spool.CopyForwardStepForTests = s =>
            {
                if (s != step)
                    return;
                // Whatever J holds uncommitted now is lost, as in a crash; B's new copy is committed but unreferenced.
                spool.Journal.AbandonUncommittedOnDispose();
                throw new InvalidOperationException("crash at " + s);
            };
            await Assert.ThrowsAsync<InvalidOperationException>(() => spool.ReclaimAsync(CancellationToken.None));
            Assert.Contains(0L, spool.Index.BodyLiveBytes.Keys);
            Assert.True(File.Exists(BodySegment0(temp)));
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([RecordKind.Accepted], JournalKinds(spool, survivor));
            Assert.Contains(0L, spool.Index.BodyLiveBytes.Keys); // read back from the old copy
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));

            // The next round moves it for good.
            await spool.ReclaimAsync(CancellationToken.None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(BodySegment0(temp)), "body segment 0 deleted");
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([survivor], spool.List().Select(m => m.Id));
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
        }
    }

    [Fact]
    public async Task A_Moved_whose_chunks_B_never_committed_falls_back_to_the_previous_chunk_list()
    {
        // Not produced by the spool (Moved follows B's commit), but recovery must not trust a Moved more than an Accepted.
        using var temp = new TempSpool(Tuning);
        MessageId survivor;
        byte[] body;
        long copy;
        await using (var spool = temp.Open())
        {
            (survivor, body) = await FillAndDeleteAllButFirstAsync(spool);
            copy = await spool.Bodies.EnqueueAsync(new byte[RecordLayout.ChunkPrefixSize + body.Length], CancellationToken.None);
            long address = await spool.Journal.EnqueueAsync(RecordLayout.CreateMoved(survivor.Value, [new BodyChunk(copy, body.Length)]), CancellationToken.None);
            spool.Journal.Signal();
            await spool.Journal.WaitForCommitAsync(address);
            Assert.True(spool.Bodies.CommittedUntilAddress <= copy);
            spool.Bodies.AbandonUncommittedOnDispose();
        }
        MessageId? next = null;
        for (int i = 0; i < 2; i++)
        {
            // Also after the Startup marker of the first reopen, when B has reused the Moved's addresses.
            await using var spool = temp.Open();
            Assert.Equal([RecordKind.Accepted, RecordKind.Moved], JournalKinds(spool, survivor));
            Assert.Equal(survivor, spool.List()[0].Id);
            Assert.Contains(0L, spool.Index.BodyLiveBytes.Keys);
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
            if (next is null)
            {
                next = await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 7));
                Assert.True(spool.Bodies.CommittedUntilAddress > RecordLayout.ChunkEnd(new BodyChunk(copy, body.Length)));
            }
            Assert.Equal(new QueueStats(2, 2, body.Length + 100_000), spool.GetStats());
        }
    }

    [Fact]
    public async Task Journal_compaction_after_a_move_carries_the_new_chunk_list()
    {
        // A two-chunk survivor: its first chunk is most of segment 0, so allow a high live fraction.
        using var temp = new TempSpool(Tuning with { BodyCopyForwardLiveFraction = 0.9 });
        string[] recipients = [.. Enumerable.Range(0, 10).Select(i => $"recipient-number-{i}@a-rather-long-domain.example.net")];
        var body = SpoolTestExtensions.Body(100_000, 1);
        MessageId survivor;
        await using (var spool = temp.Open())
        {
            survivor = await spool.AcceptAsync(body, recipients: recipients);
            var others = new List<MessageId>();
            for (int i = 0; i < 80; i++)
                others.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(5000, 100 + i), recipients: recipients));
            Assert.True(TempSpool.SegmentFileCount(temp.JournalDir) >= 3);
            foreach (var id in others)
                Assert.True(await spool.DeleteAsync(id, CancellationToken.None));

            // One round: Moved, then Carry (with the new chunks), then both truncations.
            await spool.ReclaimAsync(CancellationToken.None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(BodySegment0(temp)), "body segment 0 deleted");
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.JournalDir, "log.0")), "journal segment 0 deleted");
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
        }
        await using (var spool = temp.Open())
        {
            // Had the Carry kept the old chunk list, recovery would refuse: those addresses are below B's begin now.
            var kinds = JournalKinds(spool, survivor);
            Assert.DoesNotContain(RecordKind.Accepted, kinds);
            Assert.Equal(RecordKind.Carry, kinds[^1]);
            Assert.Equal([survivor], spool.List().Select(m => m.Id));
            Assert.Equal(new QueueStats(1, 10, body.Length), spool.GetStats());
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
        }
    }

    [Fact]
    public async Task A_reader_of_the_old_copy_keeps_its_segment_until_it_is_done()
    {
        using var temp = new TempSpool(Tuning with { BodyCopyForwardLiveFraction = 0.9 });
        await using var spool = temp.Open();
        var (survivor, body) = await FillAndDeleteAllButFirstAsync(spool, survivorSize: 100_000);

        // A delivery is reading the body (two chunks) and stalls after the first one.
        var destination = new StallingStream();
        var read = spool.CopyBodyToAsync(survivor, destination, CancellationToken.None).AsTask();
        await destination.FirstWrite.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await spool.ReclaimAsync(CancellationToken.None);
        Assert.DoesNotContain(0L, spool.Index.BodyLiveBytes.Keys); // moved ...
        Assert.True(spool.Bodies.BeginAddress < 1L << Tuning.BodySegmentBits); // ... but not truncated under the reader
        Assert.True(File.Exists(BodySegment0(temp)));

        destination.Release.SetResult();
        await read;
        Assert.Equal(body, destination.ToArray());

        await spool.ReclaimAsync(CancellationToken.None);
        await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(BodySegment0(temp)), "body segment 0 deleted");
        Assert.Equal(body, await spool.ReadBodyAsync(survivor));
    }

    private sealed class StallingStream : MemoryStream
    {
        public TaskCompletionSource FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await base.WriteAsync(buffer, cancellationToken);
            FirstWrite.TrySetResult();
            await Release.Task;
        }
    }
}
