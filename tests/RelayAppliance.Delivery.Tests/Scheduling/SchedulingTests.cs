using Microsoft.Extensions.Time.Testing;
using RelayAppliance.Delivery.Scheduling;

namespace RelayAppliance.Delivery.Tests.Scheduling;

public sealed class RetryPolicyTests
{
    private static readonly DateTimeOffset Received = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void BackoffDoublesWithinBoundsAndJitter()
    {
        var policy = new RetryPolicy { Jitter = 0 };
        var random = new Random(1);
        var delays = Enumerable.Range(1, 8).Select(attempt => (policy.NextAttempt(attempt, Received, Received, random)!.Value - Received).TotalSeconds).ToArray();
        Assert.Equal([300, 600, 1200, 2400, 4000, 4000, 4000, 4000], delays);
    }

    [Fact]
    public void JitterStaysWithinTwentyPercentAndTheBounds()
    {
        var policy = new RetryPolicy();
        var random = new Random(7);
        var seen = new HashSet<int>();
        for (var i = 0; i < 1000; i++)
        {
            var delay = (policy.NextAttempt(2, Received, Received, random)!.Value - Received).TotalSeconds;
            Assert.InRange(delay, 480, 720);
            seen.Add((int)delay);
            var first = (policy.NextAttempt(1, Received, Received, random)!.Value - Received).TotalSeconds;
            Assert.InRange(first, 300, 360); // never below the minimum backoff
        }
        Assert.True(seen.Count > 50, "jitter spreads retries");
    }

    [Fact]
    public void QueueLifetimeEndsRetries()
    {
        var policy = new RetryPolicy { QueueLifetime = TimeSpan.FromHours(1), Jitter = 0 };
        var random = new Random(1);
        var late = Received + TimeSpan.FromMinutes(58);
        Assert.Equal(Received + TimeSpan.FromHours(1), policy.NextAttempt(5, Received, late, random)); // last try at expiry
        Assert.Null(policy.NextAttempt(6, Received, Received + TimeSpan.FromHours(1), random));
        Assert.Null(policy.NextAttempt(1, Received, Received + TimeSpan.FromDays(2), random));
    }

    [Fact]
    public void HugeAttemptCountsDoNotOverflow()
    {
        var policy = new RetryPolicy { Jitter = 0 };
        Assert.Equal(Received + TimeSpan.FromSeconds(4000), policy.NextAttempt(10_000, Received, Received, new Random(1)));
    }
}

public sealed class DueQueueTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void TakesOnlyDueItemsInDueOrder()
    {
        var time = new FakeTimeProvider(T0);
        var queue = new DueQueue<string>();
        queue.Schedule("c", T0.AddSeconds(30));
        queue.Schedule("a", T0.AddSeconds(10));
        queue.Schedule("b", T0.AddSeconds(20));
        Assert.False(queue.TryTakeDue(time.GetUtcNow(), out _));
        Assert.Equal(T0.AddSeconds(10), queue.NextDueAt);

        time.Advance(TimeSpan.FromSeconds(25));
        Assert.True(queue.TryTakeDue(time.GetUtcNow(), out var first));
        Assert.True(queue.TryTakeDue(time.GetUtcNow(), out var second));
        Assert.False(queue.TryTakeDue(time.GetUtcNow(), out _));
        Assert.Equal(["a", "b"], new[] { first, second });
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void ScheduleAllMixesWithSingleSchedulesAndTheLatestTimeOfAKeyWins()
    {
        var queue = new DueQueue<string>();
        queue.Schedule("new", T0.AddSeconds(5)); // accepted while the start-up scan ran
        queue.ScheduleAll([("c", T0.AddSeconds(30)), ("a", T0.AddSeconds(10)), ("new", T0.AddSeconds(1)), ("b", T0.AddSeconds(20))]);
        Assert.Equal(4, queue.Count);
        var taken = new List<string>();
        while (queue.TryTakeDue(T0.AddSeconds(60), out var key))
        {
            taken.Add(key);
        }
        Assert.Equal(["new", "a", "b", "c"], taken);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void ReschedulingReplacesTheDueTimeAndRemoveForgets()
    {
        var queue = new DueQueue<int>();
        queue.Schedule(1, T0.AddSeconds(5));
        queue.Schedule(1, T0.AddSeconds(50)); // deferred again: the earlier entry is stale
        queue.Schedule(2, T0.AddSeconds(10));
        Assert.True(queue.TryTakeDue(T0.AddSeconds(20), out var due));
        Assert.Equal(2, due);
        Assert.False(queue.TryTakeDue(T0.AddSeconds(20), out _));
        Assert.True(queue.Remove(1));
        Assert.Null(queue.NextDueAt);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void FlushMakesSelectedItemsDueNow()
    {
        var queue = new DueQueue<string>();
        queue.Schedule("x@a.test", T0.AddHours(1));
        queue.Schedule("y@b.test", T0.AddHours(1));
        Assert.Equal(1, queue.MakeDue(T0, key => key.EndsWith("a.test", StringComparison.Ordinal)));
        Assert.True(queue.TryTakeDue(T0, out var flushed));
        Assert.Equal("x@a.test", flushed);
        Assert.False(queue.TryTakeDue(T0, out _));
    }

    [Fact]
    public void CostStaysLogarithmicWithALargeQueue()
    {
        // A million deferred items: taking the few due ones must not touch the rest.
        var queue = new DueQueue<int>();
        for (var i = 0; i < 1_000_000; i++)
        {
            queue.Schedule(i, T0.AddHours(1).AddSeconds(i % 3600));
        }
        queue.Schedule(-1, T0);
        Assert.True(queue.TryTakeDue(T0, out var due));
        Assert.Equal(-1, due);
        Assert.False(queue.TryTakeDue(T0, out _));
    }
}

public sealed class DestinationWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void SlowStartGrowsFromInitialToTheLimit()
    {
        var window = new DestinationWindow(new ConcurrencyOptions { Initial = 2, Limit = 5 });
        Assert.Equal(2, window.Window);
        window.Start();
        window.Start();
        Assert.False(window.CanStart(T0));
        for (var i = 0; i < 200; i++)
        {
            window.Succeeded();
            window.Start();
        }
        Assert.Equal(5, window.Window);
        Assert.True(window.CanStart(T0));
    }

    [Fact]
    public void FailuresShrinkTheWindowButNotBelowOne()
    {
        var window = new DestinationWindow(new ConcurrencyOptions { Initial = 5, Limit = 20, FailedCohortLimit = 100 });
        for (var i = 0; i < 50; i++)
        {
            window.Start();
            window.Failed(T0);
        }
        Assert.Equal(1, window.Window);
        Assert.True(window.CanStart(T0));
    }

    [Fact]
    public void AFailedCohortMarksTheDestinationDeadThenAllowsOneProbe()
    {
        var time = new FakeTimeProvider(T0);
        var window = new DestinationWindow(new ConcurrencyOptions { FailedCohortLimit = 1, DeadInterval = TimeSpan.FromMinutes(5) });
        window.Start();
        window.Failed(time.GetUtcNow());
        Assert.False(window.CanStart(time.GetUtcNow()));

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(window.CanStart(time.GetUtcNow()));
        window.Start();
        Assert.False(window.CanStart(time.GetUtcNow())); // one probe at a time while dead
        window.Succeeded();
        Assert.Null(window.DeadUntil);
        Assert.True(window.CanStart(time.GetUtcNow()));
    }

    [Fact]
    public void ReviveEndsTheDeadStateAndRestoresTheInitialConcurrency()
    {
        var window = new DestinationWindow(new ConcurrencyOptions { Initial = 3, FailedCohortLimit = 1, DeadInterval = TimeSpan.FromMinutes(5) });
        for (var i = 0; i < 3; i++)
        {
            window.Start();
        }
        for (var i = 0; i < 3; i++)
        {
            window.Failed(T0);
        }
        Assert.NotNull(window.DeadUntil);
        Assert.Equal(1, window.Window);

        window.Revive();
        Assert.Null(window.DeadUntil);
        Assert.Equal(3, window.Window);
        Assert.True(window.CanStart(T0));
    }

    [Fact]
    public void AFailureWithOtherDeliveriesInFlightIsNotACohort()
    {
        var window = new DestinationWindow(new ConcurrencyOptions { FailedCohortLimit = 1 });
        window.Start();
        window.Start();
        window.Failed(T0);
        Assert.Null(window.DeadUntil); // the other connection may still succeed
        Assert.True(window.CanStart(T0));
    }
}
