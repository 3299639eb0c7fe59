namespace RelayAppliance.Delivery.Scheduling;

/// <summary>
/// When to try a deferred recipient again: exponential backoff between <see cref="MinimumBackoff"/> and
/// <see cref="MaximumBackoff"/> (Postfix: minimal_backoff_time 300 s, maximal_backoff_time 4000 s), with ±20 %
/// jitter so a destination that comes back is not hit by the whole queue at once (KumoMTA does the same), and no
/// further attempt once the message is older than <see cref="QueueLifetime"/> (Postfix maximal_queue_lifetime: 5 d).
/// </summary>
public sealed record RetryPolicy
{
    public TimeSpan MinimumBackoff { get; init; } = TimeSpan.FromSeconds(300);
    public TimeSpan MaximumBackoff { get; init; } = TimeSpan.FromSeconds(4000);
    public TimeSpan QueueLifetime { get; init; } = TimeSpan.FromDays(5);
    public double Jitter { get; init; } = 0.2;

    /// <summary>The next attempt after failed attempt number <paramref name="attempt"/> (1 = the first), or null
    /// when the message has outlived its queue lifetime and must bounce.</summary>
    public DateTimeOffset? NextAttempt(int attempt, DateTimeOffset receivedAt, DateTimeOffset now, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var expiry = receivedAt + QueueLifetime;
        if (now >= expiry)
        {
            return null;
        }
        // min × 2^(attempt-1), computed in doubles so a large attempt count cannot overflow.
        var seconds = Math.Min(MaximumBackoff.TotalSeconds, MinimumBackoff.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, 62)));
        seconds *= 1 + Jitter * (2 * random.NextDouble() - 1);
        seconds = Math.Clamp(seconds, MinimumBackoff.TotalSeconds, MaximumBackoff.TotalSeconds);
        var next = now + TimeSpan.FromSeconds(seconds);
        // One last try at the end of the lifetime rather than none: the bounce then carries a fresh reason.
        return next < expiry ? next : expiry;
    }
}
