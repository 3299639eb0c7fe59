namespace RelayAppliance.Spool.Tests;

public sealed class ReclamationTests
{
    [Fact]
    public async Task Deleting_old_messages_truncates_the_body_log_and_deletes_its_segments()
    {
        using var temp = new TempSpool(); // 64 KiB body pages, 128 KiB segments: a 100 KiB body fills one segment
        var ids = new List<MessageId>();
        await using (var spool = temp.Open())
        {
            for (int i = 0; i < 10; i++)
                ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, i)));
            int before = TempSpool.SegmentFileCount(temp.BodiesDir);
            Assert.True(before >= 10, $"expected at least 10 body segments, found {before}");

            foreach (var id in ids.Take(8))
                Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
            await spool.ReclaimAsync(CancellationToken.None);

            // FASTER deletes the segments below the new begin address at the truncation commit.
            // FASTER deletes them one by one after the commit (epoch-protected), so wait for the count.
            await SpoolTestExtensions.WaitUntilAsync(() => TempSpool.SegmentFileCount(temp.BodiesDir) <= before - 7,
                $"at least 7 of {before} body segments deleted");
            Assert.False(File.Exists(Path.Combine(temp.BodiesDir, "log.0")));
            Assert.Equal(SpoolTestExtensions.Body(100_000, 9), await spool.ReadBodyAsync(ids[9]));
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal(ids.Skip(8), spool.List().Select(m => m.Id));
            Assert.Equal(SpoolTestExtensions.Body(100_000, 8), await spool.ReadBodyAsync(ids[8]));
            Assert.Equal(SpoolTestExtensions.Body(100_000, 9), await spool.ReadBodyAsync(ids[9]));
            // New mail after a truncated restart still lands and reads back.
            var next = await spool.AcceptAsync(SpoolTestExtensions.Body(70_000, 11));
            Assert.Equal(SpoolTestExtensions.Body(70_000, 11), await spool.ReadBodyAsync(next));
        }
    }

    [Fact]
    public async Task Segment_files_left_below_the_begin_address_are_deleted_at_the_next_start()
    {
        using var temp = new TempSpool();
        var ids = new List<MessageId>();
        long beginSegment;
        await using (var spool = temp.Open())
        {
            for (int i = 0; i < 5; i++)
                ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, i)));
            foreach (var id in ids.Take(4))
                Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
            await spool.ReclaimAsync(CancellationToken.None);
            beginSegment = spool.Bodies.BeginAddress >> spool.Bodies.SegmentBits;
            Assert.True(beginSegment >= 2, $"the body log's begin moved to segment {beginSegment} only");
            // Let FASTER's own deletion finish, so that nothing but the next start can delete the files made below.
            await SpoolTestExtensions.WaitUntilAsync(
                () => Enumerable.Range(0, (int)beginSegment).All(n => !File.Exists(Path.Combine(temp.BodiesDir, $"log.{n}"))),
                "FASTER deleted the body segments below the begin address");
        }
        // What a crash right after the truncating commit leaves: the segments below the begin address, still there.
        var leftovers = Enumerable.Range(0, (int)beginSegment).Select(n => Path.Combine(temp.BodiesDir, $"log.{n}")).ToArray();
        foreach (var path in leftovers)
            File.WriteAllBytes(path, new byte[4096]);

        await using (var spool = temp.Open())
        {
            Assert.All(leftovers, path => Assert.False(File.Exists(path), path));
            Assert.True(File.Exists(Path.Combine(temp.BodiesDir, $"log.{beginSegment}")));
            Assert.Equal(ids.Skip(4), spool.List().Select(m => m.Id));
            Assert.Equal(SpoolTestExtensions.Body(100_000, 4), await spool.ReadBodyAsync(ids[4]));
        }
    }

    [Fact]
    public async Task Journal_is_compacted_with_carry_records_when_old_survivors_pin_its_head()
    {
        using var temp = new TempSpool(); // 8 KiB journal pages, 16 KiB segments
        string[] recipients = [.. Enumerable.Range(0, 10).Select(i => $"recipient-number-{i}@a-rather-long-domain.example.net")];
        var ids = new List<MessageId>();
        await using (var spool = temp.Open())
        {
            for (int i = 0; i < 80; i++)
                ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(500, i), recipients: recipients));
            int before = TempSpool.SegmentFileCount(temp.JournalDir);
            Assert.True(before >= 3, $"expected several journal segments, found {before}");

            // The two oldest stay queued (as long-deferred mail would) and pin journal segment 0.
            foreach (var id in ids.Skip(2))
                Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
            await spool.ReclaimAsync(CancellationToken.None);

            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.JournalDir, "log.0")), "journal segment 0 deleted");
            Assert.True(spool.Journal.BeginAddress > 1L << SpoolTuning.Small.JournalSegmentBits);
        }
        await using (var spool = temp.Open())
        {
            // Rebuilt from the Carry records: same messages, same envelopes, bodies intact.
            var list = spool.List();
            Assert.Equal(ids.Take(2), list.Select(m => m.Id));
            Assert.Equal(recipients, list[0].Recipients.Select(r => r.Address));
            Assert.Equal(SpoolTestExtensions.Body(500, 0), await spool.ReadBodyAsync(ids[0]));
            Assert.Equal(SpoolTestExtensions.Body(500, 1), await spool.ReadBodyAsync(ids[1]));
            Assert.Equal(new QueueStats(2, 20, 1000), spool.GetStats());

            // Deleting a carried message is durable too (its MessageDone follows the Carry).
            Assert.True(await spool.DeleteAsync(ids[0], CancellationToken.None));
        }
        await using (var spool = temp.Open())
            Assert.Equal([ids[1]], spool.List().Select(m => m.Id));
    }

    [Fact]
    public async Task A_body_being_written_is_never_truncated()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var old = await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 1));

        // A session is mid-DATA: chunks appended, no Accepted yet.
        var writer = spool.CreateBodyWriter();
        var body = SpoolTestExtensions.Body(300_000, 2);
        await SpoolTestExtensions.WriteBodyAsync(writer, body);
        await writer.FlushChunkAsync(CancellationToken.None);

        Assert.True(await spool.DeleteAsync(old, CancellationToken.None));
        await spool.ReclaimAsync(CancellationToken.None);

        var envelope = new EnvelopeBuilder();
        envelope.SetSender("a@example.org"u8, false, false);
        envelope.AddRecipient("b@example.net"u8, RecipientRoute.Remote);
        var id = await spool.AcceptAsync(writer, envelope, CancellationToken.None);
        Assert.Equal(body, await spool.ReadBodyAsync(id));
    }
}
