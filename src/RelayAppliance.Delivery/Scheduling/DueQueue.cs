namespace RelayAppliance.Delivery.Scheduling;

/// <summary>
/// Messages waiting for their next attempt, ordered by due time (a min-heap): taking what is due costs
/// O(log n) per item and never scans the queue, so scheduling cost does not grow with a large deferred queue.
/// Rescheduling a message replaces its due time; the stale heap entry is skipped when it surfaces.
/// </summary>
public sealed class DueQueue<TKey> where TKey : notnull
{
    private readonly PriorityQueue<(TKey Key, DateTimeOffset DueAt), DateTimeOffset> _heap = new();
    private readonly Dictionary<TKey, DateTimeOffset> _dueAt = [];

    public int Count => _dueAt.Count;

    public void Schedule(TKey key, DateTimeOffset dueAt)
    {
        _dueAt[key] = dueAt;
        _heap.Enqueue((key, dueAt), dueAt);
    }

    /// <summary>Schedules many at once; into an empty queue in O(n) (a heapify instead of n sifts).</summary>
    public void ScheduleAll(IReadOnlyCollection<(TKey Key, DateTimeOffset DueAt)> items)
    {
        _dueAt.EnsureCapacity(_dueAt.Count + items.Count);
        foreach (var (key, dueAt) in items)
        {
            _dueAt[key] = dueAt;
        }
        _heap.EnqueueRange(items.Select(static item => (item, item.DueAt)));
    }

    public bool Remove(TKey key) => _dueAt.Remove(key);

    public bool Contains(TKey key) => _dueAt.ContainsKey(key);

    /// <summary>The earliest due time, or null when nothing waits.</summary>
    public DateTimeOffset? NextDueAt
    {
        get
        {
            DropStale();
            return _heap.TryPeek(out var entry, out _) ? entry.DueAt : null;
        }
    }

    /// <summary>Takes the earliest item if it is due at <paramref name="now"/>.</summary>
    public bool TryTakeDue(DateTimeOffset now, out TKey key)
    {
        DropStale();
        if (_heap.TryPeek(out var entry, out _) && entry.DueAt <= now)
        {
            _heap.Dequeue();
            _dueAt.Remove(entry.Key);
            key = entry.Key;
            return true;
        }
        key = default!;
        return false;
    }

    /// <summary>Makes everything due now (queue flush), optionally only what <paramref name="filter"/> selects.</summary>
    public int MakeDue(DateTimeOffset now, Func<TKey, bool>? filter = null)
    {
        var keys = filter is null ? [.. _dueAt.Keys] : _dueAt.Keys.Where(filter).ToList();
        foreach (var key in keys)
        {
            Schedule(key, now);
        }
        return keys.Count;
    }

    private void DropStale()
    {
        while (_heap.TryPeek(out var entry, out _)
            && (!_dueAt.TryGetValue(entry.Key, out var current) || current != entry.DueAt))
        {
            _heap.Dequeue();
        }
    }
}
