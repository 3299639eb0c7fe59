namespace RelayAppliance.Delivery.Scheduling;

/// <summary>Concurrency settings per destination, after Postfix's qmgr defaults.</summary>
public sealed record ConcurrencyOptions
{
    /// <summary>Postfix initial_destination_concurrency.</summary>
    public int Initial { get; init; } = 5;
    /// <summary>Postfix default_destination_concurrency_limit (Delivery:MaxConnectionsPerDestination).</summary>
    public int Limit { get; init; } = 20;
    /// <summary>Consecutive failed connections, with nothing else in flight, after which the destination is
    /// considered dead for <see cref="DeadInterval"/> (Postfix default_destination_concurrency_failed_cohort_limit).</summary>
    public int FailedCohortLimit { get; init; } = 1;
    /// <summary>How long a dead destination is left alone before one probe (Postfix: minimal_backoff_time).</summary>
    public TimeSpan DeadInterval { get; init; } = TimeSpan.FromSeconds(300);
}

/// <summary>
/// How many deliveries one destination (an MX set) may have in flight: slow start from
/// <see cref="ConcurrencyOptions.Initial"/> towards the limit with +1/window per success and −1/window per failure
/// (Postfix's 1/concurrency feedback), and a dead state after a failed cohort so a dead site costs one probe per
/// interval instead of a connection timeout per message. Not thread-safe: the scheduler owns it.
/// </summary>
public sealed class DestinationWindow(ConcurrencyOptions options)
{
    private double _window = Math.Min(options.Initial, options.Limit);
    private int _consecutiveFailures;

    public int InFlight { get; private set; }
    public int Window => Math.Max(1, (int)_window);
    public DateTimeOffset? DeadUntil { get; private set; }

    public bool CanStart(DateTimeOffset now)
    {
        if (DeadUntil is { } until)
        {
            if (now < until)
            {
                return false;
            }
            // After the dead interval, one probe at a time until something succeeds.
            return InFlight == 0;
        }
        return InFlight < Window;
    }

    public void Start() => InFlight++;

    public void Succeeded()
    {
        InFlight--;
        _consecutiveFailures = 0;
        DeadUntil = null;
        _window = Math.Min(options.Limit, _window + 1 / _window);
    }

    /// <summary>
    /// `relayd queue flush`: forget that the destination was found dead, and start again from at least the initial
    /// concurrency. An operator flushes because the site is back; Postfix's flush purges its dead sites too.
    /// </summary>
    public void Revive()
    {
        DeadUntil = null;
        _consecutiveFailures = 0;
        _window = Math.Max(_window, Math.Min(options.Initial, options.Limit));
    }

    /// <summary>A connection-level failure (refused, timeout, 421): the site may be overloaded or down.</summary>
    public void Failed(DateTimeOffset now)
    {
        InFlight--;
        _consecutiveFailures++;
        _window = Math.Max(1, _window - 1 / _window);
        if (_consecutiveFailures >= options.FailedCohortLimit && InFlight == 0)
        {
            DeadUntil = now + options.DeadInterval;
        }
    }
}
