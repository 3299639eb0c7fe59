using System.Buffers.Binary;
using RelayAppliance.Spool.Records;
using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool.Tests;

public sealed class RecoveryTests
{
    private static string CommitFile(string logDirectory) => Path.Combine(logDirectory, SpoolLog.CommitFileName);

    /// <summary>Index of the slot with the higher commit number (both slots must carry the magic).</summary>
    private static int NewestSlot(string commitFile)
    {
        var bytes = File.ReadAllBytes(commitFile);
        long a = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
        long b = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(SlotCommitManager.SlotSize + 8));
        return a >= b ? 0 : 1;
    }

    private static void OverwriteSlot(string commitFile, int slot, Action<byte[]> damage)
    {
        var bytes = File.ReadAllBytes(commitFile);
        var slotBytes = bytes.AsSpan(slot * SlotCommitManager.SlotSize, SlotCommitManager.SlotSize).ToArray();
        damage(slotBytes);
        slotBytes.CopyTo(bytes, slot * SlotCommitManager.SlotSize);
        File.WriteAllBytes(commitFile, bytes);
    }

    [Theory]
    [InlineData("zeroed")]
    [InlineData("torn")]
    public async Task Damaged_newest_journal_slot_falls_back_to_the_previous_one_and_loses_nothing(string damage)
    {
        using var temp = new TempSpool();
        MessageId first, second;
        await using (var spool = temp.Open())
        {
            first = await spool.AcceptAsync(SpoolTestExtensions.Body(2000, 1));
            // A slot is written at most once a second after the first: this makes the second commit write the other one.
            await Task.Delay(TimeSpan.FromSeconds(1.1));
            second = await spool.AcceptAsync(SpoolTestExtensions.Body(2000, 2));
        }

        var file = CommitFile(temp.JournalDir);
        int newest = NewestSlot(file);
        OverwriteSlot(file, newest, slot =>
        {
            if (damage == "zeroed")
                Array.Clear(slot);
            else
                slot[49] ^= 0xFF; // a torn write: the header survives, the metadata does not match its checksum
        });

        MessageId third;
        await using (var spool = temp.Open())
        {
            // Recovery starts from the older slot and finds the newer commit in the log (fast-commit mode).
            Assert.Equal([first, second], spool.List().Select(m => m.Id));
            Assert.Equal(SpoolTestExtensions.Body(2000, 2), await spool.ReadBodyAsync(second));
            third = await spool.AcceptAsync(SpoolTestExtensions.Body(500, 3));
            Assert.True(third.Value > second.Value);
        }
        // Commits after the fallback overwrite the damaged slot and keep the good one.
        await using (var spool = temp.Open())
            Assert.Equal([first, second, third], spool.List().Select(m => m.Id));
    }

    [Theory]
    [InlineData("journal", "zero both slots")]
    [InlineData("bodies", "zero both slots")]
    [InlineData("journal", "empty file")]
    [InlineData("bodies", "delete file")]
    public async Task Lost_commit_metadata_with_data_in_segments_refuses_to_start(string log, string damage)
    {
        using var temp = new TempSpool();
        await using (var spool = temp.Open())
            await spool.AcceptAsync(SpoolTestExtensions.Body(10_000, 1));

        var file = CommitFile(Path.Combine(temp.Directory, log));
        switch (damage)
        {
            case "zero both slots":
                File.WriteAllBytes(file, new byte[2 * SlotCommitManager.SlotSize]);
                break;
            case "empty file":
                File.WriteAllBytes(file, []);
                break;
            default:
                File.Delete(file);
                break;
        }

        var ex = Assert.Throws<SpoolRecoveryException>(() => temp.Open());
        Assert.Contains(log, ex.Message, StringComparison.Ordinal);
        Assert.Contains("refusing to start", ex.Message, StringComparison.Ordinal);
        // The refusal released the lock and left the segment files alone.
        Assert.True(TempSpool.SegmentFileCount(Path.Combine(temp.Directory, log)) > 0);
        Assert.Throws<SpoolRecoveryException>(() => temp.Open());
    }

    [Fact]
    public async Task Recovery_below_the_high_water_mark_refuses_to_start()
    {
        using var temp = new TempSpool();
        await using (var spool = temp.Open())
        {
            await spool.AcceptAsync(SpoolTestExtensions.Body(1000, 1));
            await spool.AcceptAsync(SpoolTestExtensions.Body(1000, 2));
        }
        // Newest slot claims a high-water mark beyond what its commit metadata says (as if FASTER came back short).
        var file = CommitFile(temp.JournalDir);
        using (var manager = SlotCommitManager.Open(file))
        {
            var metadata = manager.GetCommitMetadata(manager.ListCommits().First());
            manager.Commit(64, 1L << 40, metadata, manager.ListCommits().First() + 1, false);
        }
        var ex = Assert.Throws<SpoolRecoveryException>(() => temp.Open());
        Assert.Contains("high-water", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Slot_manager_keeps_the_previous_commit()
    {
        using var temp = new TempSpool();
        var file = Path.Combine(temp.Directory, "slots");
        using (var manager = SlotCommitManager.Open(file))
        {
            Assert.True(manager.Created);
            Assert.False(manager.HasValidCommit);
            manager.Commit(64, 100, [1, 2, 3], 1, false);
            manager.Commit(64, 200, [4, 5], 2, false);
            manager.Commit(64, 300, [6], 3, false);
            Assert.Equal([3, 2], manager.ListCommits());
        }
        using (var manager = SlotCommitManager.Open(file))
        {
            Assert.False(manager.Created);
            Assert.Equal([3, 2], manager.ListCommits());
            Assert.Equal([6], manager.GetCommitMetadata(3));
            Assert.Equal([4, 5], manager.GetCommitMetadata(2));
            Assert.Equal(300, manager.OpenedHighWater);
        }
    }

    [Fact]
    public async Task An_Accepted_whose_body_was_never_committed_is_dropped_and_stays_dropped()
    {
        using var temp = new TempSpool();
        var keptBody = SpoolTestExtensions.Body(2000, 1);
        var orphanBody = SpoolTestExtensions.Body(150_000, 2); // three chunks, spanning body pages
        MessageId kept, orphan;
        long orphanStart, orphanEnd;
        await using (var spool = temp.Open())
        {
            kept = await spool.AcceptAsync(keptBody);

            // The crash window of the concurrent commit: chunks appended to B, Accepted committed in J, B not committed.
            var writer = spool.CreateBodyWriter();
            await SpoolTestExtensions.WriteBodyAsync(writer, orphanBody);
            await writer.FlushChunkAsync(CancellationToken.None);
            orphan = new MessageId(writer.EnsureMessageId());
            var envelope = new EnvelopeBuilder();
            envelope.SetSender("orphan@example.org"u8, false, false);
            envelope.AddRecipient("b@example.net"u8, RecipientRoute.Remote);
            var record = AcceptedRecord.Create(orphan.Value, DateTimeOffset.UtcNow, writer.Length, writer.Chunks, envelope);
            orphanStart = writer.Chunks[0].Address;
            orphanEnd = RecordLayout.ChunkEnd(writer.Chunks[^1]);
            long address = await spool.Journal.EnqueueAsync(record, CancellationToken.None);
            spool.Journal.Signal();
            await spool.Journal.WaitForCommitAsync(address);
            Assert.True(spool.Bodies.CommittedUntilAddress <= orphanStart);
            spool.Bodies.AbandonUncommittedOnDispose();
        }

        var nextBody = SpoolTestExtensions.Body(200_000, 3);
        MessageId next;
        await using (var spool = temp.Open())
        {
            Assert.Equal([kept], spool.List().Select(m => m.Id));
            Assert.Null(spool.Find(orphan));
            // B restarts at its committed address: the new body reuses the orphan's addresses and commits past them.
            Assert.True(spool.Bodies.TailAddress <= orphanStart);
            next = await spool.AcceptAsync(nextBody);
            Assert.True(spool.Bodies.CommittedUntilAddress >= orphanEnd);
            Assert.True(next.Value > orphan.Value); // the dropped id is not handed out again
            Assert.Equal(nextBody, await spool.ReadBodyAsync(next));
        }

        // The orphan's chunk references now lie inside committed B (someone else's bytes): the Startup marker of the
        // previous open keeps it dropped, in this open and the ones after.
        for (int i = 0; i < 2; i++)
        {
            await using var spool = temp.Open();
            Assert.Equal([kept, next], spool.List().Select(m => m.Id));
            Assert.Null(spool.Find(orphan));
            Assert.Equal(keptBody, await spool.ReadBodyAsync(kept));
            Assert.Equal(nextBody, await spool.ReadBodyAsync(next));
        }
    }

    [Fact]
    public async Task Concurrent_multi_chunk_accepts_survive_repeated_reopens()
    {
        using var temp = new TempSpool();
        var bodies = new Dictionary<MessageId, byte[]>();
        for (int round = 0; round < 3; round++)
        {
            await using (var spool = temp.Open())
            {
                Assert.Equal(bodies.Keys.OrderBy(k => k.Value), spool.List().Select(m => m.Id));
                var accepted = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
                {
                    var body = SpoolTestExtensions.Body(((i % 4) * 70_000) + 100 + round, (round * 100) + i);
                    return (Id: await spool.AcceptAsync(body), Body: body);
                })));
                foreach (var (id, body) in accepted)
                    bodies.Add(id, body);
            }
            await using (var spool = temp.Open())
            {
                Assert.Equal(bodies.Keys.OrderBy(k => k.Value), spool.List().Select(m => m.Id));
                foreach (var (id, body) in bodies)
                    Assert.Equal(body, await spool.ReadBodyAsync(id));
            }
        }
    }
}
