using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Delivery.Tests.Dns;
using RelayAppliance.Spool;
using static RelayAppliance.Delivery.Tests.Scheduling.DeliveryHarness;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>
/// The delivery service on a <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/>: retries happen when the
/// test moves the clock and not before; limits observed from the peers' side. Failover when the best MX refuses or
/// answers 4xx is covered in <see cref="DeliveryServiceTests"/>.
/// </summary>
public sealed class DeliveryServiceClockTests : IAsyncLifetime
{
    private readonly DeliveryHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static string? TryLater(string line) => line.StartsWith("RCPT", StringComparison.Ordinal) ? "451 4.3.0 Try again later" : null;

    [Fact]
    public async Task A4xxDefersWithBackoffAndTheRetryWaitsForTheClock()
    {
        var peer = _h.Peer("127.0.0.61", respond: TryLater);
        _h.Start(o => Transport(o, "partner.test", peer));
        var t0 = _h.Time.GetUtcNow();
        var id = await _h.QueueAsync("a@local.test", "bob@partner.test");

        var first = await _h.WaitForDeferralAsync(id, attempts: 1);
        Assert.Contains("451 4.3.0", first.LastResult);
        // RetryPolicy defaults: minimum backoff 300 s, jitter +20 % at most (never below the minimum).
        Assert.InRange(first.NextAttemptAt!.Value, t0.AddSeconds(300), t0.AddSeconds(360));
        Assert.Equal(1, Count(peer, "MAIL"));

        _h.Time.Advance(first.NextAttemptAt.Value - _h.Time.GetUtcNow() - TimeSpan.FromSeconds(1));
        await SettleAsync();
        Assert.Equal(1, Count(peer, "MAIL"));
        Assert.Equal(1, _h.Recipient(id).Attempts);

        _h.Time.Advance(TimeSpan.FromSeconds(1));
        var second = await _h.WaitForDeferralAsync(id, attempts: 2);
        Assert.Equal(2, Count(peer, "MAIL"));
        // Doubled: 600 s ± 20 % after the second attempt.
        var t1 = first.NextAttemptAt.Value;
        Assert.InRange(second.NextAttemptAt!.Value, t1.AddSeconds(480), t1.AddSeconds(720));
    }

    [Theory]
    [InlineData("alice@local.test")]
    [InlineData("")]
    public async Task DeferredPastTheQueueLifetimeFailsWith547AndBouncesOnceButNeverToANullSender(string sender)
    {
        var peer = _h.Peer("127.0.0.62", respond: TryLater);
        _h.Start(o => Transport(o, "partner.test", peer) with
        {
            Retry = new RetryPolicy { MinimumBackoff = TimeSpan.FromMinutes(5), MaximumBackoff = TimeSpan.FromHours(1), QueueLifetime = TimeSpan.FromMinutes(10) },
        });
        var t0 = _h.Time.GetUtcNow();
        // The local recipient keeps the message in the queue after bob's final result, so his state can be read.
        var id = await _h.QueueAsync(sender, "bob@partner.test", "me@local.test");

        var first = await _h.WaitForDeferralAsync(id, attempts: 1);
        _h.Time.Advance(first.NextAttemptAt!.Value - _h.Time.GetUtcNow());
        var second = await _h.WaitForDeferralAsync(id, attempts: 2);
        // The doubled backoff would pass the lifetime: one last attempt at its end instead.
        Assert.Equal(t0.AddMinutes(10), second.NextAttemptAt);
        Assert.Single(_h.Spool.List()); // no bounce while it is only deferred

        _h.Time.Advance(second.NextAttemptAt!.Value - _h.Time.GetUtcNow());
        await _h.WaitForAsync(() => _h.Recipient(id).State == RecipientState.Failed, "the recipient to expire");
        var bob = _h.Recipient(id);
        Assert.StartsWith("554 5.4.7", bob.LastResult);
        Assert.Contains("451 4.3.0", bob.LastResult); // the last error is kept
        Assert.Equal(3, Count(peer, "MAIL"));

        await SettleAsync();
        var bounces = _h.Spool.List().Where(m => m.Id != id).ToList();
        if (sender.Length == 0)
        {
            Assert.Empty(bounces);
            return;
        }
        var bounce = Assert.Single(bounces);
        Assert.Equal("", bounce.Sender);
        Assert.Equal("alice@local.test", Assert.Single(bounce.Recipients).Address);
        var report = _h.Body(bounce.Id);
        Assert.Contains("Final-Recipient: rfc822; bob@partner.test", report);
        Assert.Contains("Status: 5.4.7", report);
        Assert.DoesNotContain("me@local.test", report); // only the failed recipient is reported
    }

    [Fact]
    public async Task NoMoreConnectionsToADestinationThanItsLimit()
    {
        var release = new TaskCompletionSource();
        var peer = _h.Peer("127.0.0.63");
        peer.HoldGreeting = release.Task;
        _h.Start(o => Transport(o, "partner.test", peer) with { MaxConnections = 10, PerDestination = new ConcurrencyOptions { Initial = 2, Limit = 2 } });
        var ids = new List<MessageId>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await _h.QueueAsync("a@local.test", $"user{i}@partner.test"));
        }

        await _h.WaitForAsync(() => peer.Active == 2, "two connections held by the slow peer");
        await SettleAsync();
        Assert.Equal(2, peer.Connections);
        release.SetResult();
        await _h.WaitForAsync(() => ids.All(id => _h.Spool.Find(id) is null), "all six to be delivered");
        Assert.Equal(6, Count(peer, "MAIL"));
        Assert.Equal(2, peer.MaxActive);
        Assert.Equal(2, peer.Connections); // the two were reused (the fake clock never lets them idle out)
    }

    [Fact]
    public async Task An_idle_connection_is_kept_for_the_idle_time_and_then_closed()
    {
        var peer = _h.Peer("127.0.0.67");
        _h.Start(o => Transport(o, "partner.test", peer) with { ConnectionIdleTime = TimeSpan.FromSeconds(5) });
        var id = await _h.QueueAsync("a@local.test", "bob@partner.test");
        await _h.WaitForAsync(() => _h.Spool.Find(id) is null, "the message to be delivered");

        _h.Time.Advance(TimeSpan.FromSeconds(4)); // the loop wakes at least once a second to look
        await SettleAsync();
        Assert.Equal(1, peer.Active);
        Assert.Equal(0, Count(peer, "QUIT"));

        _h.Time.Advance(TimeSpan.FromSeconds(1));
        await _h.WaitForAsync(() => Count(peer, "QUIT") == 1 && peer.Active == 0, "the idle connection to be closed");
    }

    [Fact]
    public async Task A_domain_follows_its_new_mail_exchanger_once_the_old_answer_expires()
    {
        var before = _h.Peer("127.0.0.68");
        var after = _h.Peer("127.0.0.69", port: before.EndPoint.Port);
        _h.Dns.Mx("moving.test", 10, "mx1.moving.test", ttl: 600).Address("mx1.moving.test", "127.0.0.68", ttl: 600);
        _h.Start(mxPort: before.EndPoint.Port);
        var first = await _h.QueueAsync("a@local.test", "bob@moving.test");
        await _h.WaitForAsync(() => _h.Spool.Find(first) is null, "the first message to be delivered");

        _h.Dns.Forget("moving.test").Forget("mx1.moving.test")
            .Mx("moving.test", 10, "mx2.moving.test", ttl: 600).Address("mx2.moving.test", "127.0.0.69", ttl: 600);
        var second = await _h.QueueAsync("a@local.test", "carol@moving.test");
        await _h.WaitForAsync(() => _h.Spool.Find(second) is null, "the second message to be delivered");
        Assert.Equal(2, Count(before, "MAIL")); // the cached answer still holds

        _h.Time.Advance(TimeSpan.FromSeconds(601));
        var third = await _h.QueueAsync("a@local.test", "dave@moving.test");
        await _h.WaitForAsync(() => _h.Spool.Find(third) is null, "the third message to be delivered");
        Assert.Equal(2, Count(before, "MAIL"));
        Assert.Equal(1, Count(after, "MAIL"));
        Assert.Contains(after.Commands, c => c.Contains("dave@moving.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_full_window_hands_each_freed_place_to_one_queued_delivery()
    {
        var release = new TaskCompletionSource();
        var peer = _h.Peer("127.0.0.66");
        peer.HoldGreeting = release.Task;
        var service = _h.Start(o => Transport(o, "partner.test", peer) with { PerDestination = new ConcurrencyOptions { Initial = 1, Limit = 1 } });
        var ids = new List<MessageId>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await _h.QueueAsync("a@local.test", $"user{i}@partner.test"));
        }

        await _h.WaitForAsync(() => peer.Active == 1 && service.QueuedForWindows == 5, "one connection held by the slow peer, five queued");
        Assert.Equal(0, service.WindowHandOffs);
        release.SetResult();
        await _h.WaitForAsync(() => ids.All(id => _h.Spool.Find(id) is null), "all six to be delivered");
        // The five that queued behind the first were each handed its place once: not woken by every delivery that ended.
        Assert.Equal(5, service.WindowHandOffs);
        Assert.Equal(1, peer.MaxActive);
        Assert.Equal(6, Count(peer, "MAIL"));
    }

    [Fact]
    public async Task TheGlobalLimitCapsConnectionsAcrossDestinations()
    {
        var release = new TaskCompletionSource();
        var a = _h.Peer("127.0.0.64");
        var b = _h.Peer("127.0.0.65");
        a.HoldGreeting = b.HoldGreeting = release.Task;
        _h.Start(o => Transport(Transport(o, "a.test", a), "b.test", b) with { MaxConnections = 3 });
        var ids = new List<MessageId>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await _h.QueueAsync("x@local.test", $"user{i}@a.test"));
            ids.Add(await _h.QueueAsync("x@local.test", $"user{i}@b.test"));
        }

        await _h.WaitForAsync(() => a.Active + b.Active == 3, "three connections in all");
        await SettleAsync();
        Assert.Equal(3, a.Connections + b.Connections); // each destination's window (5) would allow 8
        release.SetResult();
        await _h.WaitForAsync(() => ids.All(id => _h.Spool.Find(id) is null), "all eight to be delivered");
        Assert.Equal(8, Count(a, "MAIL") + Count(b, "MAIL"));
    }

    [Fact]
    public async Task ASlowDestinationHoldingItsConnectionsDoesNotStarveAnother()
    {
        var slow = _h.Peer("127.0.0.66");
        slow.HoldGreeting = new TaskCompletionSource().Task; // never answers while the test runs
        var healthy = _h.Peer("127.0.0.67");
        _h.Start(o => Transport(Transport(o, "slow.test", slow), "ok.test", healthy) with
        {
            MaxConnections = 3,
            PerDestination = new ConcurrencyOptions { Initial = 2, Limit = 2 },
        });
        for (var i = 0; i < 5; i++)
        {
            await _h.QueueAsync("x@local.test", $"user{i}@slow.test");
        }
        await _h.WaitForAsync(() => slow.Active == 2, "the slow site to hold its two connections");

        var id = await _h.QueueAsync("x@local.test", "bob@ok.test");
        await _h.WaitForAsync(() => _h.Spool.Find(id) is null, "delivery to the healthy site");
        Assert.Equal(1, Count(healthy, "MAIL"));
        Assert.Equal(2, slow.Connections);
    }

    [Fact]
    public async Task ADeadDestinationIsDeferredWithoutConnectingAgainAndOthersStillGo()
    {
        var dead = _h.Peer("127.0.0.68", greeting: "421 4.3.2 Service not available");
        var healthy = _h.Peer("127.0.0.69");
        _h.Start(o => Transport(Transport(o, "dead.test", dead), "ok.test", healthy));
        var first = await _h.WaitForDeferralAsync(await _h.QueueAsync("x@local.test", "bob@dead.test"), attempts: 1);
        Assert.Contains("421 4.3.2", first.LastResult);

        var later = new List<MessageId>();
        for (var i = 0; i < 9; i++)
        {
            later.Add(await _h.QueueAsync("x@local.test", $"user{i}@dead.test"));
        }
        var ok = await _h.QueueAsync("x@local.test", "carol@ok.test");

        await _h.WaitForAsync(() => _h.Spool.Find(ok) is null, "delivery to the healthy site");
        await _h.WaitForAsync(() => later.All(id => _h.Recipient(id).State == RecipientState.Deferred), "the dead site's mail to be deferred");
        Assert.All(later, id => Assert.Contains("not answering", _h.Recipient(id).LastResult));
        Assert.Equal(1, dead.Connections); // one failed cohort, then no connection until the dead interval is over
    }

    [Fact]
    public async Task AFlushTriesADeadDestinationAgainAtOnce()
    {
        var site = _h.Peer("127.0.0.75", greeting: "421 4.3.2 Service not available");
        _h.Start(o => Transport(o, "back.test", site));
        var first = await _h.QueueAsync("x@local.test", "bob@back.test");
        await _h.WaitForDeferralAsync(first, attempts: 1);
        var second = await _h.QueueAsync("x@local.test", "carol@back.test");
        await _h.WaitForDeferralAsync(second, attempts: 1);
        Assert.Contains("not answering", _h.Recipient(second).LastResult);
        Assert.Equal(1, site.Connections);

        // The site is back and the operator flushes; the fake clock stands still, so the dead interval never ends.
        site.Greeting = "220 back.test ESMTP";
        Assert.Equal(2, _h.Service.Flush());
        await _h.WaitForAsync(() => _h.Spool.Find(first) is null && _h.Spool.Find(second) is null, "both to be delivered after the flush");
        Assert.Equal(2, Count(site, "MAIL"));
    }

    [Fact]
    public async Task TheLowestPreferenceMxIsUsedWhileItAnswers()
    {
        var best = _h.Peer("127.0.0.71");
        var worse = _h.Peer("127.0.0.72", best.EndPoint.Port);
        // Listed worst first: the order on the wire must not matter.
        _h.Dns.Mx("pref.test", 20, "mx-b.pref.test").Mx("pref.test", 10, "mx-a.pref.test")
            .Address("mx-a.pref.test", "127.0.0.71").Address("mx-b.pref.test", "127.0.0.72");
        _h.Start(mxPort: best.EndPoint.Port);
        var ids = new List<MessageId>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await _h.QueueAsync("a@local.test", $"user{i}@pref.test"));
        }

        await _h.WaitForAsync(() => ids.All(id => _h.Spool.Find(id) is null), "delivery through the best MX");
        Assert.Equal(3, Count(best, "MAIL"));
        Assert.Equal(0, worse.Connections);
    }

    [Fact]
    public async Task EqualPreferenceMxHostsAreBothUsed()
    {
        var one = _h.Peer("127.0.0.73");
        var two = _h.Peer("127.0.0.74", one.EndPoint.Port);
        _h.Dns.Mx("equal.test", 10, "mx1.equal.test", ttl: 60).Mx("equal.test", 10, "mx2.equal.test", ttl: 60)
            .Address("mx1.equal.test", "127.0.0.73", ttl: 60).Address("mx2.equal.test", "127.0.0.74", ttl: 60);
        _h.Start(mxPort: one.EndPoint.Port, shuffle: new Random(3)); // seeded: the same shuffles every run
        for (var i = 0; i < 12; i++)
        {
            var id = await _h.QueueAsync("a@local.test", $"user{i}@equal.test");
            await _h.WaitForAsync(() => _h.Spool.Find(id) is null, $"message {i} to be delivered");
            _h.Time.Advance(TimeSpan.FromSeconds(61)); // past the cached answer: the next lookup shuffles afresh
        }

        Assert.Equal(12, _h.Dns.Queries("equal.test", TestDnsServer.TypeMx));
        Assert.Equal(12, Count(one, "MAIL") + Count(two, "MAIL"));
        Assert.InRange(Count(one, "MAIL"), 1, 11);
    }
}
