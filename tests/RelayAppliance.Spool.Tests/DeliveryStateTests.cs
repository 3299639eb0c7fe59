namespace RelayAppliance.Spool.Tests;

public sealed class DeliveryStateTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    // Whole milliseconds: that is what the journal keeps.
    private static DateTimeOffset InMinutes(int minutes) =>
        DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(minutes).ToUnixTimeMilliseconds());

    private static RecipientResult Delivered(int index) => new(index, RecipientOutcome.Delivered, "250 2.0.0 Ok: queued as X", "mx1.example.net");
    private static RecipientResult Deferred(int index, string detail = "451 4.7.1 Try again later") => new(index, RecipientOutcome.Deferred, detail, "mx1.example.net");
    private static RecipientResult Failed(int index) => new(index, RecipientOutcome.Failed, "550 5.1.1 No such user", "mx2.example.net");

    [Fact]
    public async Task All_final_results_remove_the_message_and_make_its_body_space_reclaimable()
    {
        using var temp = new TempSpool(); // 128 KiB body segments: a 100 KiB body fills one
        MessageId done, kept;
        await using (var spool = temp.Open())
        {
            done = await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 1), recipients: ["a@example.net", "b@example.net"]);
            kept = await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 2));
            Assert.Equal(new QueueStats(2, 3, 200_000), spool.GetStats());

            Assert.True(await spool.RecordResultsAsync(done, [Delivered(0), Failed(1)], null, None));

            Assert.Null(spool.Find(done));
            Assert.Equal([kept], spool.List().Select(m => m.Id));
            Assert.Equal(new QueueStats(1, 1, 100_000), spool.GetStats());
            Assert.False(await spool.RecordResultsAsync(done, [Delivered(0)], null, None));

            await spool.ReclaimAsync(None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.BodiesDir, "log.0")), "body segment 0 deleted");
            Assert.Equal(SpoolTestExtensions.Body(100_000, 2), await spool.ReadBodyAsync(kept));
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([kept], spool.List().Select(m => m.Id));
            Assert.Equal(new QueueStats(1, 1, 100_000), spool.GetStats());
        }
    }

    [Fact]
    public async Task Deferred_recipients_show_attempts_next_attempt_and_last_result_and_survive_reopen()
    {
        using var temp = new TempSpool();
        var first = InMinutes(5);
        var second = InMinutes(20);
        MessageId id;
        QueuedMessageInfo before;
        await using (var spool = temp.Open())
        {
            id = await spool.AcceptAsync(SpoolTestExtensions.Body(3000, 1), recipients: ["a@example.net", "b@example.net"]);
            Assert.True(await spool.RecordResultsAsync(id, [Deferred(0, "421 4.4.2 Connection dropped")], first, None));
            Assert.True(await spool.RecordResultsAsync(id, [Deferred(0)], second, None));

            before = spool.Find(id)!;
            Assert.Equal(
                new RecipientInfo("a@example.net", RecipientRoute.Remote, RecipientState.Deferred)
                {
                    Attempts = 2, NextAttemptAt = second, LastResult = "451 4.7.1 Try again later", LastRemoteHost = "mx1.example.net",
                },
                before.Recipients[0]);
            Assert.Equal(new RecipientInfo("b@example.net", RecipientRoute.Remote, RecipientState.Queued), before.Recipients[1]);
            Assert.Equal(new QueueStats(1, 2, 3000), spool.GetStats());
        }
        await using (var spool = temp.Open())
        {
            var after = Assert.Single(spool.List());
            Assert.Equal(before.Recipients, after.Recipients);
            Assert.Equal(new QueueStats(1, 2, 3000), spool.GetStats());
            Assert.Equal(SpoolTestExtensions.Body(3000, 1), await spool.ReadBodyAsync(id));
        }
    }

    [Fact]
    public async Task Partial_results_survive_reopen_and_the_last_one_finishes_the_message()
    {
        using var temp = new TempSpool();
        MessageId id;
        await using (var spool = temp.Open())
        {
            id = await spool.AcceptAsync(SpoolTestExtensions.Body(1000, 1), recipients: ["a@example.net", "b@example.net", "c@example.net"]);
            Assert.True(await spool.RecordResultsAsync(id, [Delivered(1)], null, None));
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([RecipientState.Queued, RecipientState.Delivered, RecipientState.Queued], spool.Find(id)!.Recipients.Select(r => r.State));
            Assert.Equal(new QueueStats(1, 2, 1000), spool.GetStats());
            Assert.True(await spool.RecordResultsAsync(id, [Delivered(0), Failed(2)], null, None));
            Assert.Null(spool.Find(id));
        }
        await using (var spool = temp.Open())
        {
            Assert.Empty(spool.List());
            Assert.Equal(new QueueStats(0, 0, 0), spool.GetStats());
        }
    }

    [Fact]
    public async Task Results_survive_journal_compaction_and_reopen()
    {
        using var temp = new TempSpool(); // 16 KiB journal segments
        string[] recipients = [.. Enumerable.Range(0, 10).Select(i => $"recipient-number-{i}@a-rather-long-domain.example.net")];
        var next = InMinutes(30);
        var ids = new List<MessageId>();
        await using (var spool = temp.Open())
        {
            ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(500, 0), recipients: recipients));
            ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(500, 1), recipients: recipients));
            // These result records sit in journal segment 0 and are truncated with it: only the Carry keeps them.
            Assert.True(await spool.RecordResultsAsync(ids[0], [Delivered(0), Deferred(1)], next, None));
            Assert.True(await spool.RecordResultsAsync(ids[1], [Failed(2)], null, None));
            for (int i = 2; i < 80; i++)
                ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(500, i), recipients: recipients));
            foreach (var id in ids.Skip(2))
                Assert.True(await spool.DeleteAsync(id, None));

            await spool.ReclaimAsync(None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.JournalDir, "log.0")), "journal segment 0 deleted");
            // And a result after the Carry applies on top of it.
            Assert.True(await spool.RecordResultsAsync(ids[0], [Deferred(3, "452 4.2.2 Mailbox full")], next, None));
        }
        await using (var spool = temp.Open())
        {
            var list = spool.List();
            Assert.Equal(ids.Take(2), list.Select(m => m.Id));
            var a = list[0].Recipients;
            Assert.Equal(RecipientState.Delivered, a[0].State);
            Assert.Equal("250 2.0.0 Ok: queued as X", a[0].LastResult);
            Assert.Equal(new RecipientInfo(recipients[1], RecipientRoute.Remote, RecipientState.Deferred)
            {
                Attempts = 1, NextAttemptAt = next, LastResult = "451 4.7.1 Try again later", LastRemoteHost = "mx1.example.net",
            }, a[1]);
            Assert.Equal(RecipientState.Queued, a[2].State);
            Assert.Equal("452 4.2.2 Mailbox full", a[3].LastResult);
            Assert.Equal(RecipientState.Failed, list[1].Recipients[2].State);
            Assert.Equal("mx2.example.net", list[1].Recipients[2].LastRemoteHost);
            Assert.Equal(new QueueStats(2, 18, 1000), spool.GetStats());
            Assert.Equal(SpoolTestExtensions.Body(500, 0), await spool.ReadBodyAsync(ids[0]));
        }
    }

    [Fact]
    public async Task Results_before_and_after_a_copy_forward_survive_reopen()
    {
        // 128 KiB body segments; copy the head segment forward at once.
        using var temp = new TempSpool(SpoolTuning.Small with { BodyCopyForwardMinAge = TimeSpan.Zero });
        var next = InMinutes(10);
        var body = SpoolTestExtensions.Body(20_000, 1);
        MessageId survivor;
        await using (var spool = temp.Open())
        {
            survivor = await spool.AcceptAsync(body, recipients: ["a@example.net", "b@example.net"]);
            Assert.True(await spool.RecordResultsAsync(survivor, [Deferred(0)], next, None));
            for (int i = 0; i < 12; i++)
                Assert.True(await spool.DeleteAsync(await spool.AcceptAsync(SpoolTestExtensions.Body(100_000, 100 + i)), None));
            await spool.ReclaimAsync(None);
            Assert.DoesNotContain(0L, spool.Index.BodyLiveBytes.Keys); // moved (Moved record after the RcptDeferred)
            Assert.True(await spool.RecordResultsAsync(survivor, [Delivered(1)], null, None));
        }
        await using (var spool = temp.Open())
        {
            var recipients = spool.Find(survivor)!.Recipients;
            Assert.Equal([RecipientState.Deferred, RecipientState.Delivered], recipients.Select(r => r.State));
            Assert.Equal(next, recipients[0].NextAttemptAt);
            Assert.Equal(new QueueStats(1, 1, body.Length), spool.GetStats());
            Assert.Equal(body, await spool.ReadBodyAsync(survivor));
        }
    }

    [Fact]
    public async Task PendingRemote_lists_due_times_in_order_without_local_only_or_remote_done_messages()
    {
        using var temp = new TempSpool();
        var soon = InMinutes(1);
        var later = InMinutes(5);
        await using (var spool = temp.Open())
        {
            var fresh = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1));
            var deferredLater = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 2), recipients: ["a@example.net", "b@example.net"]);
            var deferredSoon = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 3));
            await spool.AcceptAsync(SpoolTestExtensions.Body(100, 4), recipients: ["user@local.test"]);
            var remoteDone = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 5), recipients: ["a@example.net", "user@local.test"]);

            // The earliest of the message's remote recipients counts; a final one does not.
            Assert.True(await spool.RecordResultsAsync(deferredLater, [Deferred(0), Failed(1)], later, None));
            Assert.True(await spool.RecordResultsAsync(deferredSoon, [Deferred(0)], soon, None));
            Assert.True(await spool.RecordResultsAsync(remoteDone, [Delivered(0)], null, None));
            Assert.NotNull(spool.Find(remoteDone)); // its local recipient is still queued

            PendingDelivery[] expected = [new(fresh, spool.Find(fresh)!.ReceivedAt), new(deferredSoon, soon), new(deferredLater, later)];
            Assert.Equal(expected, spool.PendingRemote());
            await spool.DisposeAsync();
            await using var reopened = temp.Open();
            Assert.Equal(expected, reopened.PendingRemote());
        }
    }

    [Fact]
    public async Task Hold_and_delay_warned_flags_survive_compaction_and_reopen_and_held_mail_is_not_pending()
    {
        using var temp = new TempSpool(); // 16 KiB journal segments
        string[] recipients = [.. Enumerable.Range(0, 10).Select(i => $"recipient-number-{i}@a-rather-long-domain.example.net")];
        MessageId held, warned;
        await using (var spool = temp.Open())
        {
            held = await spool.AcceptAsync(SpoolTestExtensions.Body(500, 0), recipients: recipients);
            warned = await spool.AcceptAsync(SpoolTestExtensions.Body(500, 1), recipients: recipients);
            Assert.True(await spool.SetHeldAsync(held, true, None));
            Assert.True(await spool.SetHeldAsync(held, true, None)); // idempotent
            Assert.True(await spool.MarkDelayWarnedAsync(warned, None));
            Assert.True(spool.Find(held)!.Held);
            Assert.False(spool.Find(held)!.DelayWarned);
            Assert.True(spool.Find(warned)!.DelayWarned);
            Assert.Equal([warned], spool.PendingRemote().Select(p => p.Id));
            Assert.False(await spool.SetHeldAsync(new MessageId(999_999), true, None));

            // Push the flag records out with journal segment 0: only the Carry keeps them.
            var filler = new List<MessageId>();
            for (int i = 2; i < 80; i++)
                filler.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(500, i), recipients: recipients));
            foreach (var id in filler)
                Assert.True(await spool.DeleteAsync(id, None));
            await spool.ReclaimAsync(None);
            await SpoolTestExtensions.WaitUntilAsync(() => !File.Exists(Path.Combine(temp.JournalDir, "log.0")), "journal segment 0 deleted");
        }
        await using (var spool = temp.Open())
        {
            Assert.True(spool.Find(held)!.Held);
            Assert.True(spool.Find(warned)!.DelayWarned);
            Assert.False(spool.Find(warned)!.Held);
            Assert.Equal([warned], spool.PendingRemote().Select(p => p.Id));
            // A release after the Carry applies on top of it.
            Assert.True(await spool.SetHeldAsync(held, false, None));
        }
        await using (var spool = temp.Open())
        {
            Assert.False(spool.Find(held)!.Held);
            Assert.Equal([held, warned], spool.PendingRemote().Select(p => p.Id).OrderBy(id => id.Value));
        }
    }

    [Fact]
    public async Task MessageAccepted_fires_once_per_accept_and_a_failing_handler_breaks_nothing()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var seen = new List<MessageId>();
        spool.MessageAccepted += _ => throw new InvalidOperationException("a broken subscriber");
        spool.MessageAccepted += seen.Add;

        var ids = new List<MessageId>();
        for (int i = 0; i < 3; i++)
            ids.Add(await spool.AcceptAsync(SpoolTestExtensions.Body(200, i)));

        Assert.Equal(ids, seen);
        Assert.Equal(3, spool.List().Count);
    }

    [Fact]
    public async Task Results_for_final_recipients_are_ignored_also_at_recovery()
    {
        using var temp = new TempSpool();
        MessageId id;
        await using (var spool = temp.Open())
        {
            id = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1), recipients: ["a@example.net", "b@example.net"]);
            Assert.True(await spool.RecordResultsAsync(id, [Delivered(0)], null, None));
            Assert.True(await spool.RecordResultsAsync(id, [Failed(0)], null, None)); // nothing to journal
            Assert.True(await spool.RecordResultsAsync(id, [Deferred(0), Deferred(1)], InMinutes(5), None));

            var recipients = spool.Find(id)!.Recipients;
            Assert.Equal(RecipientState.Delivered, recipients[0].State);
            Assert.Equal(1, recipients[0].Attempts);
            Assert.Equal(RecipientState.Deferred, recipients[1].State);
            Assert.Equal(new QueueStats(1, 1, 100), spool.GetStats());
        }
        await using (var spool = temp.Open())
        {
            var recipients = spool.Find(id)!.Recipients;
            Assert.Equal([RecipientState.Delivered, RecipientState.Deferred], recipients.Select(r => r.State));
            Assert.Equal("250 2.0.0 Ok: queued as X", recipients[0].LastResult);
            Assert.Equal(new QueueStats(1, 1, 100), spool.GetStats());
        }
    }

    [Fact]
    public async Task Unknown_deleted_or_done_messages_answer_false()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        Assert.False(await spool.RecordResultsAsync(new MessageId(12345), [Delivered(0)], null, None));

        var deleted = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1));
        Assert.True(await spool.DeleteAsync(deleted, None));
        Assert.False(await spool.RecordResultsAsync(deleted, [Delivered(0)], null, None));

        var done = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 2));
        Assert.True(await spool.RecordResultsAsync(done, [Failed(0)], null, None));
        Assert.False(await spool.RecordResultsAsync(done, [Delivered(0)], null, None));
        Assert.False(await spool.DeleteAsync(done, None));
    }

    [Fact]
    public async Task Bad_results_are_refused_before_anything_is_written()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var id = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1), recipients: ["a@example.net", "b@example.net"]);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => spool.RecordResultsAsync(id, [Delivered(2)], null, None).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => spool.RecordResultsAsync(id, [Delivered(0), Deferred(0)], null, None).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => spool.RecordResultsAsync(id, [new RecipientResult(0, (RecipientOutcome)9, "", null)], null, None).AsTask());
        Assert.All(spool.Find(id)!.Recipients, r => Assert.Equal(RecipientState.Queued, r.State));
        // The lock was released: the spool still works.
        Assert.True(await spool.RecordResultsAsync(id, [Delivered(0), Delivered(1)], null, None));
    }

    [Fact]
    public async Task Long_details_are_truncated_at_a_character_boundary()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var id = await spool.AcceptAsync(SpoolTestExtensions.Body(100, 1));
        var detail = "451 x" + new string('é', 600); // 2 bytes each in UTF-8
        Assert.True(await spool.RecordResultsAsync(id, [Deferred(0, detail)], null, None));

        var kept = spool.Find(id)!.Recipients[0].LastResult!;
        Assert.StartsWith("451 xééé", kept, StringComparison.Ordinal);
        Assert.Equal(511, System.Text.Encoding.UTF8.GetByteCount(kept)); // 5 + 253 × 2: the 254th 'é' would not fit
    }
}
