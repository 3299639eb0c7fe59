using System.Collections.Concurrent;
using System.Net;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// Counts failed logins per client address in a fixed window; once a client has used up its budget its further
/// attempts are refused without running PBKDF2 (which would otherwise be a CPU lever for the attacker).
/// </summary>
internal sealed class LoginThrottle(int maxFailures, TimeSpan window, TimeProvider time)
{
    private const int SweepThreshold = 10_000;

    private readonly ConcurrentDictionary<IPAddress, Entry> _failures = new();

    private readonly record struct Entry(int Count, DateTimeOffset WindowStart);

    public bool IsBlocked(IPAddress client)
    {
        var now = time.GetUtcNow();
        return _failures.TryGetValue(client, out var entry) && now - entry.WindowStart < window && entry.Count >= maxFailures;
    }

    public void RecordFailure(IPAddress client)
    {
        var now = time.GetUtcNow();
        _failures.AddOrUpdate(client, static (_, now) => new Entry(1, now),
            (_, entry, now) => now - entry.WindowStart < window ? entry with { Count = entry.Count + 1 } : new Entry(1, now), now);
        if (_failures.Count > SweepThreshold)
        {
            foreach (var (address, entry) in _failures)
            {
                if (now - entry.WindowStart >= window)
                {
                    _failures.TryRemove(new KeyValuePair<IPAddress, Entry>(address, entry));
                }
            }
        }
    }
}
