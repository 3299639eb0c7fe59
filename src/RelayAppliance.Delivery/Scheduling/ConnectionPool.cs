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

    public SmtpOutboundConnection? TryTake(IPEndPoint endPoint)
    {
        var expired = new List<SmtpOutboundConnection>();
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
                        expired.Add(entry.Connection);
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
            stack.Push((connection, time.GetUtcNow()));
        }
    }

    /// <summary>Closes connections idle for longer than the cache time (QUIT in the background).</summary>
    public void EvictIdle()
    {
        var expired = new List<SmtpOutboundConnection>();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            foreach (var (endPoint, stack) in _idle)
            {
                var keep = stack.Where(e => now - e.IdleSince < idleTime && e.Connection.IsUsable).Reverse().ToList();
                expired.AddRange(stack.Where(e => !keep.Contains(e)).Select(e => e.Connection));
                stack.Clear();
                foreach (var entry in keep)
                {
                    stack.Push(entry);
                }
            }
        }
        CloseInBackground(expired);
    }

    private static void CloseInBackground(List<SmtpOutboundConnection> connections)
    {
        foreach (var connection in connections)
        {
            _ = connection.DisposeAsync().AsTask();
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<SmtpOutboundConnection> all;
        lock (_gate)
        {
            all = _idle.Values.SelectMany(s => s.Select(e => e.Connection)).ToList();
            _idle.Clear();
        }
        foreach (var connection in all)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
