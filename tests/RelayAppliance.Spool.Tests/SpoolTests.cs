namespace RelayAppliance.Spool.Tests;

public sealed class SpoolTests
{
    [Fact]
    public async Task Accepted_messages_survive_reopen_byte_exact()
    {
        using var temp = new TempSpool();
        // Empty, small, exactly one chunk, and multi-chunk bodies (> 64 KiB).
        int[] sizes = [0, 1024, 65512, 65513, 200_000, 700_000];
        var written = new Dictionary<MessageId, byte[]>();
        await using (var spool = temp.Open())
        {
            var writer = spool.CreateBodyWriter();
            var envelope = new EnvelopeBuilder();
            for (int i = 0; i < sizes.Length; i++)
            {
                var body = SpoolTestExtensions.Body(sizes[i], i);
                var id = await spool.AcceptAsync(body, $"sender{i}@example.org", [$"r{i}@example.net", "box@local.test"], writer, envelope);
                written.Add(id, body);
                // Readable at once, before any restart.
                Assert.Equal(body, await spool.ReadBodyAsync(id));
            }
        }

        await using (var spool = temp.Open())
        {
            var list = spool.List();
            Assert.Equal(written.Keys.OrderBy(k => k.Value), list.Select(m => m.Id));
            for (int i = 0; i < list.Count; i++)
            {
                var info = list[i];
                Assert.Equal($"sender{i}@example.org", info.Sender);
                Assert.Equal(
                    [new RecipientInfo($"r{i}@example.net", RecipientRoute.Remote, RecipientState.Queued),
                     new RecipientInfo("box@local.test", RecipientRoute.Local, RecipientState.Queued)],
                    info.Recipients);
                Assert.Equal(sizes[i], info.Size);
                Assert.Equal("192.0.2.7", info.ClientAddress);
                Assert.Equal("client.example.org", info.Helo);
                Assert.Equal("alice", info.AuthenticatedUser);
                Assert.True(info.Tls);
                Assert.True(info.EightBitMime);
                Assert.False(info.SmtpUtf8);
                Assert.True((DateTimeOffset.UtcNow - info.ReceivedAt).Duration() < TimeSpan.FromMinutes(1));
                Assert.Equal(written[info.Id], await spool.ReadBodyAsync(info.Id));
                Assert.Equal(info, spool.Find(info.Id)! with { Recipients = info.Recipients });
            }
        }
    }

    [Fact]
    public async Task Ids_are_unique_and_increase_across_restarts()
    {
        using var temp = new TempSpool();
        MessageId first;
        await using (var spool = temp.Open())
            first = await spool.AcceptAsync([1, 2, 3]);
        await using (var spool = temp.Open())
        {
            var second = await spool.AcceptAsync([4]);
            Assert.True(second.Value > first.Value);
            Assert.Equal(16, second.ToString().Length);
        }
    }

    [Fact]
    public async Task Abandoned_body_is_not_queued_after_reopen()
    {
        using var temp = new TempSpool();
        MessageId kept;
        await using (var spool = temp.Open())
        {
            var writer = spool.CreateBodyWriter();
            await SpoolTestExtensions.WriteBodyAsync(writer, SpoolTestExtensions.Body(150_000, 1));
            await writer.FlushChunkAsync(CancellationToken.None);
            writer.Reset(); // RSET / size exceeded: the chunks become dead space.
            kept = await spool.AcceptAsync(SpoolTestExtensions.Body(3000, 2), writer: writer);
            Assert.Single(spool.List());
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([kept], spool.List().Select(m => m.Id));
            Assert.Equal(SpoolTestExtensions.Body(3000, 2), await spool.ReadBodyAsync(kept));
        }
    }

    [Fact]
    public async Task Delete_is_durable_and_stats_follow()
    {
        using var temp = new TempSpool();
        MessageId a, b, c;
        await using (var spool = temp.Open())
        {
            Assert.Equal(new QueueStats(0, 0, 0), spool.GetStats());
            a = await spool.AcceptAsync(new byte[100], recipients: ["x@example.net", "y@example.net"]);
            b = await spool.AcceptAsync(new byte[70_000]);
            c = await spool.AcceptAsync(new byte[5]);
            Assert.Equal(new QueueStats(3, 4, 70_105), spool.GetStats());

            Assert.True(await spool.DeleteAsync(b, CancellationToken.None));
            Assert.False(await spool.DeleteAsync(b, CancellationToken.None));
            Assert.False(await spool.DeleteAsync(new MessageId(12345), CancellationToken.None));
            Assert.Null(spool.Find(b));
            await Assert.ThrowsAsync<KeyNotFoundException>(async () => await spool.ReadBodyAsync(b));
            Assert.Equal(new QueueStats(2, 3, 105), spool.GetStats());
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal([a, c], spool.List().Select(m => m.Id));
            Assert.Equal(new QueueStats(2, 3, 105), spool.GetStats());
        }
    }

    [Fact]
    public async Task Second_open_of_a_locked_spool_is_refused()
    {
        using var temp = new TempSpool();
        await using (var spool = temp.Open())
        {
            var ex = Assert.Throws<SpoolLockedException>(() => temp.Open());
            Assert.Contains(temp.Directory, ex.Message, StringComparison.Ordinal);
        }
        // Released on dispose.
        await using (var again = temp.Open())
            Assert.Equal(SpoolHealth.Healthy, again.Health);
    }

    [Fact]
    public async Task Low_disk_space_is_reported_as_health()
    {
        using var temp = new TempSpool(freeSpaceFloor: long.MaxValue);
        await using var spool = temp.Open();
        Assert.Equal(SpoolHealth.LowDiskSpace, spool.Health);
    }

    [Fact]
    public async Task Sixty_four_parallel_accepts_are_durable_and_distinct()
    {
        using var temp = new TempSpool(SpoolTuning.Default with { ReclaimInterval = Timeout.InfiniteTimeSpan, BodyMemoryBits = 24, JournalMemoryBits = 23 });
        var bodies = new Dictionary<MessageId, byte[]>();
        await using (var spool = temp.Open())
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
            {
                var body = SpoolTestExtensions.Body(1024 + (i * 1500), i);
                var id = await spool.AcceptAsync(body, recipients: [$"r{i}@example.net"]);
                return (id, body);
            })));
            foreach (var (id, body) in results)
                bodies.Add(id, body); // throws on a duplicate id
            Assert.Equal(64, spool.GetStats().Messages);
        }
        await using (var spool = temp.Open())
        {
            Assert.Equal(64, spool.List().Count);
            foreach (var (id, body) in bodies)
                Assert.Equal(body, await spool.ReadBodyAsync(id));
        }
    }

    // Commits chain on one thread under steady demand and hand over to the committer thread every few: thousands of
    // back-to-back commits from concurrent sessions must neither lose a wake-up (a hang) nor a message.
    [Fact]
    public async Task Sustained_accepts_from_concurrent_sessions_all_complete_and_survive_a_reopen()
    {
        using var temp = new TempSpool();
        const int sessions = 8, perSession = 150;
        await using (var spool = temp.Open())
        {
            var all = Task.WhenAll(Enumerable.Range(0, sessions).Select(s => Task.Run(async () =>
            {
                var writer = spool.CreateBodyWriter();
                for (int i = 0; i < perSession; i++)
                    await spool.AcceptAsync(SpoolTestExtensions.Body(600, s * perSession + i), writer: writer);
            })));
            await all.WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(sessions * perSession, spool.GetStats().Messages);
        }
        await using (var spool = temp.Open())
            Assert.Equal(sessions * perSession, spool.List().Count);
    }
}

public sealed class FailureTests
{
    [Fact]
    public async Task A_commit_failure_makes_the_spool_Failed_and_accepts_throw_unavailable()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var kept = await spool.AcceptAsync([1, 2, 3]);

        spool.Journal.Fail(new IOException("simulated device error"));

        Assert.Equal(SpoolHealth.Failed, spool.Health);
        var writer = spool.CreateBodyWriter();
        await Assert.ThrowsAsync<SpoolUnavailableException>(async () => await spool.AcceptAsync([4], writer: writer));
        await Assert.ThrowsAsync<SpoolUnavailableException>(async () => await spool.DeleteAsync(kept, CancellationToken.None));
        // The queue stays readable for the operator.
        Assert.Equal([kept], spool.List().Select(m => m.Id));
        Assert.Equal(0, writer.Length); // AcceptAsync reset the writer even on failure
    }

    // FASTER calls nobody back on a failed data write (which carries the commit record in fast-commit mode): the log
    // must hear of it itself, or the message's accept would wait forever.
    [Theory]
    [InlineData("journal")]
    [InlineData("bodies")]
    public async Task A_failed_data_write_fails_the_waiting_accept_and_the_spool_instead_of_hanging(string log)
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var kept = await spool.AcceptAsync([1, 2, 3]);
        var failing = log == "journal" ? spool.Journal : spool.Bodies;
        var error = new IOException("simulated data write error");
        failing.Device.FailWritesWith = error;

        var accept = spool.AcceptAsync(SpoolTestExtensions.Body(2000, 4)).WaitAsync(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<SpoolUnavailableException>(() => accept);
        Assert.Equal(SpoolHealth.Failed, spool.Health);
        Assert.Same(error, failing.Failure);
        Assert.Equal([kept], spool.List().Select(m => m.Id));
    }

    // The commit file is a checkpoint: the commit whose slot write fails is durable already (its record is in the log),
    // so its accept may succeed, but the spool must fail rather than go on unable to checkpoint (FASTER's commit worker
    // swallows the commit manager's exception: the manager tells the log itself).
    [Theory]
    [InlineData("journal")]
    [InlineData("bodies")]
    public async Task A_failed_commit_slot_write_fails_the_spool_instead_of_going_on(string log)
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        await spool.AcceptAsync([1, 2, 3]);
        var failing = log == "journal" ? spool.Journal : spool.Bodies;
        var error = new IOException("simulated commit slot write error");
        failing.Commits.FailCommitsWith = error;

        try
        {
            await spool.AcceptAsync(SpoolTestExtensions.Body(2000, 4)).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (SpoolUnavailableException)
        {
            // refused after the failure: also right
        }

        await SpoolTestExtensions.WaitUntilAsync(() => spool.Health == SpoolHealth.Failed, "the spool failing");
        Assert.Same(error, failing.Failure);
        await Assert.ThrowsAsync<SpoolUnavailableException>(() => spool.AcceptAsync(SpoolTestExtensions.Body(500, 5)).WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
