using System.Net;
using RelayAppliance.Delivery.Outbound;

namespace RelayAppliance.Delivery.Scheduling;

/// <summary>
/// Idle outbound connections kept for reuse per next-hop address, for a short time (Postfix's connection cache):
/// many messages to one destination then cost one handshake, not one each.
/// </summary>
internal sealed class ConnectionPool(TimeSpan idleTime, TimeProvider time) : IAsyncDisposable
{
    private readonly Dictionary<IPEndPoint, Stack<(SmtpOutboundConnection Connection, DateTimeOffset IdleSince)>> _idle = [];
    private readonly object _gate = new();
    private DateTimeOffset _nextExpiry = DateTimeOffset.MaxValue; // under _gate: no idle connection expires before it

    public SmtpOutboundConnection? TryTake(IPEndPoint endPoint)
    {
        List<SmtpOutboundConnection>? expired = null;
        SmtpOutboundConnection? found = null;
        lock (_gate)
        {
            if (_idle.TryGetValue(endPoint, out var stack))
            {
                var now = time.GetUtcNow();
                while (found is null && stack.TryPop(out var entry))
                {
                    if (now - entry.IdleSince < idleTime && entry.Connection.IsUsable)
                    {
                        found = entry.Connection;
                    }
                    else
                    {
                        (expired ??= []).Add(entry.Connection);
                    }
                }
            }
        }
        CloseInBackground(expired);
        return found;
    }

    public void Return(IPEndPoint endPoint, SmtpOutboundConnection connection)
    {
        lock (_gate)
        {
            if (!_idle.TryGetValue(endPoint, out var stack))
            {
                _idle[endPoint] = stack = new();
            }
            var now = time.GetUtcNow();
            stack.Push((connection, now));
            if (now + idleTime < _nextExpiry)
            {
                _nextExpiry = now + idleTime;
            }
        }
    }

    /// <summary>
    /// Closes connections idle for longer than the cache time (QUIT in the background). The delivery loop calls this
    /// each time it wakes, which under load is twice per message, so it returns at once until one can have expired.
    /// </summary>
    public void EvictIdle()
    {
        List<SmtpOutboundConnection>? expired = null;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (now < _nextExpiry)
            {
                return;
            }
            _nextExpiry = DateTimeOffset.MaxValue;
            foreach (var stack in _idle.Values)
            {
                var entries = stack.ToArray(); // the most recently returned first
                stack.Clear();
                for (var i = entries.Length - 1; i >= 0; i--)
                {
                    var (connection, idleSince) = entries[i];
                    if (now - idleSince < idleTime && connection.IsUsable)
                    {
                        stack.Push(entries[i]);
                        if (idleSince + idleTime < _nextExpiry)
                        {
                            _nextExpiry = idleSince + idleTime;
                        }
                    }
                    else
                    {
                        (expired ??= []).Add(connection);
                    }
                }
            }
        }
        CloseInBackground(expired);
    }

    private static void CloseInBackground(List<SmtpOutboundConnection>? connections)
    {
        foreach (var connection in connections ?? [])
        {
            _ = connection.DisposeAsync().AsTask();
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<SmtpOutboundConnection> all;
        lock (_gate)
        {
            all = [];
            foreach (var stack in _idle.Values)
            {
                foreach (var (connection, _) in stack)
                {
                    all.Add(connection);
                }
            }
            _idle.Clear();
        }
        foreach (var connection in all)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
