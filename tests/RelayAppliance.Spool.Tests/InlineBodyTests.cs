using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool.Tests;

/// <summary>Small bodies stored in the journal's Accepted record (SpoolTuning.InlineBodyLimit) instead of B.</summary>
public sealed class InlineBodyTests
{
    private static readonly SpoolTuning Inline = SpoolTuning.Small with { InlineBodyLimit = 4096, InlineBodyMaxKeptBytes = 1 << 20 };

    [Fact]
    public async Task A_small_body_goes_into_the_journal_record_and_nothing_into_the_body_log()
    {
        using var temp = new TempSpool(Inline);
        await using var spool = temp.Open();
        long bodyTail = spool.Bodies.TailAddress;

        var id = await spool.AcceptAsync(SpoolTestExtensions.Body(4096, 1));
        var empty = await spool.AcceptAsync([]);

        Assert.Equal(bodyTail, spool.Bodies.TailAddress);
        Assert.True(AcceptedView.Parse(spool.Index.Find(id.Value)!.Record).HasInlineBody);
        Assert.Equal(SpoolTestExtensions.Body(4096, 1), await spool.ReadBodyAsync(id));
        Assert.Empty(await spool.ReadBodyAsync(empty));
        Assert.Equal(4096, spool.Find(id)!.Size);
    }

    [Fact]
    public async Task A_body_over_the_limit_uses_the_body_log()
    {
        using var temp = new TempSpool(Inline);
        await using var spool = temp.Open();
        var large = await spool.AcceptAsync(SpoolTestExtensions.Body(4097, 2));
        Assert.False(IsInline(spool, large)); // over the limit, with nothing queued
        Assert.Equal(SpoolTestExtensions.Body(4097, 2), await spool.ReadBodyAsync(large));
    }

    [Fact]
    public async Task Small_bodies_go_inline_only_while_the_kept_records_are_under_the_byte_budget()
    {
        // A budget of two small messages' records: a third finds it spent.
        int record = await InlineRecordSizeAsync();
        using var temp = new TempSpool(Inline with { InlineBodyMaxKeptBytes = 2 * record });
        await using var spool = temp.Open();

        var small = new List<MessageId>();
        for (int i = 0; i < 4; i++)
            small.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(100, 10 + i)));
        // Kept before each: no record, one, two, and two plus the third's (whose body went to the body log).
        Assert.Equal([true, true, false, false], small.Select(id => IsInline(spool, id)));
        for (int i = 0; i < 4; i++)
            Assert.Equal(SpoolTestExtensions.Body(100, 10 + i), await spool.ReadBodyAsync(small[i]));

        // Once messages leave, the budget is free again.
        foreach (var id in small)
            Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
        var later = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 20));
        Assert.True(IsInline(spool, later));
    }

    private static bool IsInline(MessageSpool spool, MessageId id) => AcceptedView.Parse(spool.Index.Find(id.Value)!.Record).HasInlineBody;

    private static async Task<int> InlineRecordSizeAsync()
    {
        using var temp = new TempSpool(Inline);
        await using var spool = temp.Open();
        var id = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1));
        Assert.True(IsInline(spool, id));
        return spool.Index.Find(id.Value)!.Record.Length;
    }

    [Fact]
    public async Task Inline_bodies_survive_a_restart_and_journal_compaction()
    {
        using var temp = new TempSpool(Inline);
        string[] recipients = [.. Enumerable.Range(0, 10).Select(i => $"recipient-number-{i}@a-rather-long-domain.example.net")];
        var ids = new List<MessageId>();
        await using (var spool = temp.Open())
        {
            for (int i = 0; i < 60; i++)
                ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(700, i), recipients: recipients));
            Assert.True(TempSpool.SegmentFileCount(temp.JournalDir) >= 3);
            foreach (var id in ids.Skip(2))
                Assert.True(await spool.DeleteAsync(id, CancellationToken.None));
            await spool.ReclaimAsync(CancellationToken.None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.JournalDir, "log.0")), "journal segment 0 deleted");
        }
        await using (var spool = temp.Open())
        {
            // Rebuilt from the Carry v4 records that compaction wrote, bodies included.
            Assert.Equal(ids.Take(2), spool.List().Select(m => m.Id));
            Assert.Equal(SpoolTestExtensions.Body(700, 0), await spool.ReadBodyAsync(ids[0]));
            Assert.Equal(SpoolTestExtensions.Body(700, 1), await spool.ReadBodyAsync(ids[1]));
        }
    }

    [Fact]
    public async Task An_acknowledged_inline_message_survives_a_crash()
    {
        using var temp = new TempSpool(Inline);
        MessageId id;
        var spool = temp.Open();
        id = await spool.AcceptAsync(SpoolTestExtensions.Body(1000, 5));
        // As kill -9: nothing appended after the acknowledgement is committed on the way out.
        spool.Journal.AbandonUncommittedOnDispose();
        spool.Bodies.AbandonUncommittedOnDispose();
        await spool.DisposeAsync();

        await using var reopened = temp.Open();
        Assert.Equal(SpoolTestExtensions.Body(1000, 5), await reopened.ReadBodyAsync(id));
    }

    [Fact]
    public void An_inline_body_is_refused_in_a_record_version_that_cannot_have_one()
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("192.0.2.7", "client.example.org", null, tls: false);
        envelope.SetSender("a@example.org"u8, smtpUtf8: false, eightBitMime: false);
        envelope.AddRecipient("b@example.net"u8, RecipientRoute.Remote);
        var record = AcceptedRecord.CreateInline(7, DateTimeOffset.UnixEpoch, "Subject: x\r\n\r\nhi\r\n"u8, envelope);
        Assert.Equal("Subject: x\r\n\r\nhi\r\n"u8.ToArray(), AcceptedView.Parse(record).InlineBody.ToArray());
        Assert.Equal(0, AcceptedView.Parse(record).ChunkCount);

        record[1] = 1; // Accepted v1 has no inline bodies
        Assert.Throws<InvalidDataException>(() => AcceptedView.Parse(record));
    }
}
