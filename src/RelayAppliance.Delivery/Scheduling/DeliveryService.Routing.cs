using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Scheduling;

public sealed partial class DeliveryService
{
    /// <summary>A next hop: the name we greet it by (TLS SNI, Remote-MTA) and its address.</summary>
    private readonly record struct Hop(string Name, IPEndPoint EndPoint);

    /// <summary>Where a domain's mail goes, or why it cannot go (a permanent or temporary reply).</summary>
    private sealed record Route(string Destination, IReadOnlyList<Hop> Hops, string? Refusal, bool RefusalIsPermanent);

    private async Task<List<RecipientResult>> DeliverGroupAsync(QueuedMessageInfo message, string domain, List<int> recipients, CancellationToken token)
    {
        var route = await RouteAsync(domain, token).ConfigureAwait(false);
        if (route.Refusal is { } refusal)
        {
            var outcome = route.RefusalIsPermanent ? RecipientOutcome.Failed : RecipientOutcome.Deferred;
            return AllWith(recipients, outcome, refusal, null);
        }

        var results = new List<RecipientResult>();
        var remaining = recipients;
        var lastError = "451 4.4.1 No answer from any mail exchanger";
        string? lastHost = null;
        var window = await EnterWindowAsync(route.Destination, token).ConfigureAwait(false);
        if (window is null)
        {
            return AllWith(recipients, RecipientOutcome.Deferred, "451 4.4.1 Destination not answering; will retry", null);
        }
        var connected = false;
        await _connections.WaitAsync(token).ConfigureAwait(false);
        try
        {
            for (var h = 0; h < route.Hops.Count; h++)
            {
                var hop = route.Hops[h];
                SmtpOutboundConnection? connection = null;
                var pooled = false;
                try
                {
                    connection = _pool.TryTake(hop.EndPoint);
                    pooled = connection is not null;
                    connection ??= await SmtpOutboundConnection.ConnectAsync(hop.EndPoint, hop.Name, _options.Tls, Credentials(route),
                        _outbound, token).ConfigureAwait(false);
                    connected = true;
                    var addresses = new List<string>(remaining.Count);
                    foreach (var i in remaining)
                    {
                        addresses.Add(message.Recipients[i].Address);
                    }
                    var outbound = new OutboundMessage(message.Sender, addresses,
                        message.Size, message.EightBitMime, message.SmtpUtf8,
                        (stream, ct) => _spool.CopyBodyToAsync(message.Id, stream, ct));
                    var transaction = await connection.SendAsync(outbound, token).ConfigureAwait(false);
                    var transient = new List<int>();
                    for (var k = 0; k < remaining.Count; k++)
                    {
                        var reply = transaction.RecipientReplies[k];
                        if (reply.IsPositive)
                        {
                            results.Add(new RecipientResult(remaining[k], RecipientOutcome.Delivered, Text(reply), hop.Name));
                        }
                        else if (reply.IsPermanent)
                        {
                            results.Add(new RecipientResult(remaining[k], RecipientOutcome.Failed, Text(reply), hop.Name));
                        }
                        else
                        {
                            transient.Add(remaining[k]); // RFC 5321 §5.1: a 4xx is worth trying at the next MX
                            lastError = Text(reply);
                            lastHost = hop.Name;
                        }
                    }
                    remaining = transient;
                    if (connection.IsUsable)
                    {
                        _pool.Return(hop.EndPoint, connection);
                        connection = null;
                    }
                }
                catch (OutboundProtocolException e)
                {
                    lastError = e.Reply is { } reply ? Text(reply) : $"451 4.4.2 {hop.Name}[{hop.EndPoint}]: {e.Message}";
                    lastHost = hop.Name;
                    if (pooled)
                    {
                        h--; // a cached connection the peer had already closed: try this hop again on a fresh one
                    }
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
                {
                    lastError = $"451 4.4.1 {hop.Name}[{hop.EndPoint}]: {e.Message}";
                    lastHost = hop.Name;
                }
                finally
                {
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }
                }
                if (remaining.Count == 0)
                {
                    break;
                }
            }
        }
        finally
        {
            _connections.Release();
            LeaveWindow(route.Destination, window, connected);
        }
        foreach (var i in remaining)
        {
            results.Add(new RecipientResult(i, RecipientOutcome.Deferred, lastError, lastHost));
        }
        return results;
    }

    private static List<RecipientResult> AllWith(List<int> recipients, RecipientOutcome outcome, string detail, string? host)
    {
        var results = new List<RecipientResult>(recipients.Count);
        foreach (var i in recipients)
        {
            results.Add(new RecipientResult(i, outcome, detail, host));
        }
        return results;
    }

    private SmtpCredentials? Credentials(Route route) =>
        route.Destination == SmarthostDestination ? _options.SmarthostCredentials : null;

    private const string SmarthostDestination = "smarthost";

    private static string Text(SmtpReply reply) => reply.Text.StartsWith(reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        ? reply.Text : $"{reply.Code} {reply.Text}";

    /// <summary>Transport override, then smarthost, then MX (RFC 5321 §5.1) with loop detection.</summary>
    private async Task<Route> RouteAsync(string domain, CancellationToken token)
    {
        if (_options.Transports.TryGetValue(domain, out var transport))
        {
            return await ConfiguredRouteAsync("transport:" + domain, transport, token).ConfigureAwait(false);
        }
        if (_options.Smarthost.Count > 0)
        {
            return await ConfiguredRouteAsync(SmarthostDestination, _options.Smarthost, token).ConfigureAwait(false);
        }
        if (domain.Length == 0 || domain[0] == '[')
        {
            return new Route(domain, [], "550 5.1.2 Address literals are not routed by this relay", true);
        }
        var mx = await _resolver.ResolveAsync(domain, token).ConfigureAwait(false);
        switch (mx.Outcome)
        {
            case MxOutcome.NullMx:
                return new Route(domain, [], $"556 5.1.10 {domain} does not accept mail (null MX)", true);
            case MxOutcome.NoSuchDomain:
                return new Route(domain, [], $"550 5.1.2 Domain {domain} not found", true);
            case MxOutcome.TemporaryFailure:
                return new Route(domain, [], $"451 4.4.3 DNS lookup for {domain} failed: {mx.Detail}", false);
        }
        if (_mxRoutes.TryGetValue(mx, out var known))
        {
            return known;
        }
        var route = MxRoute(domain, mx.Hosts);
        _mxRoutes.AddOrUpdate(mx, route);
        return route;
    }

    /// <summary>
    /// The route to a domain's mail exchangers. Worked out once per MX answer (<see cref="_mxRoutes"/>): the resolver
    /// hands out the same answer until its TTL runs out, and a busy destination gets hundreds of messages a second.
    /// </summary>
    private Route MxRoute(string domain, IReadOnlyList<MxHost> hosts)
    {
        var ours = hosts.FirstOrDefault(IsOurselves);
        if (ours is not null)
        {
            // RFC 5321 §5.1: drop ourselves and every MX not better than us; nothing left is a loop.
            hosts = hosts.Where(h => h.Preference < ours.Preference).ToList();
            if (hosts.Count == 0)
            {
                return new Route(domain, [], $"554 5.4.6 Mail for {domain} loops back to myself", true);
            }
        }
        var hops = hosts.SelectMany(h => h.Addresses.Select(a => new Hop(h.Name, new IPEndPoint(a, _options.MxPort))))
            .Take(_options.MaxMxAddresses).ToList();
        // Domains with the same MX set share one destination: one window, one connection cache.
        var destination = "mx:" + string.Join(',', hosts.Select(h => h.Name.ToLowerInvariant()));
        return new Route(destination, hops, null, false);
    }

    /// <summary>
    /// A transport or smarthost route: IP hops as they are, names by their A/AAAA records (cached, no MX: Postfix's
    /// [host]), in the configured order. A name that resolves to nothing defers: the route is the operator's to fix,
    /// and mail must not bounce meanwhile.
    /// </summary>
    private async Task<Route> ConfiguredRouteAsync(string destination, IReadOnlyList<NextHop> nextHops, CancellationToken token)
    {
        var hops = new List<Hop>(nextHops.Count);
        List<string>? failures = null;
        foreach (var next in nextHops)
        {
            if (next.Address is { } address)
            {
                hops.Add(new Hop(address.ToString(), new IPEndPoint(address, next.Port)));
                continue;
            }
            var resolved = await _resolver.ResolveHostAsync(next.Host, token).ConfigureAwait(false);
            if (resolved.Outcome != MxOutcome.Hosts)
            {
                (failures ??= []).Add(resolved.Detail ?? next.Host);
                continue;
            }
            foreach (var resolvedAddress in resolved.Hosts[0].Addresses)
            {
                hops.Add(new Hop(next.Host, new IPEndPoint(resolvedAddress, next.Port)));
            }
        }
        return hops.Count > 0
            ? new Route(destination, hops, null, false)
            : new Route(destination, [], $"451 4.4.3 No address for the configured next hop: {string.Join("; ", failures ?? [])}", false);
    }

    private bool IsOurselves(MxHost host) =>
        string.Equals(host.Name.TrimEnd('.'), _options.Hostname, StringComparison.OrdinalIgnoreCase)
        || host.Addresses.Any(a => _options.OwnEndpoints.Any(e => e.Port == _options.MxPort && (e.Address.Equals(a)
            || e.Address.Equals(IPAddress.Any) || e.Address.Equals(IPAddress.IPv6Any))));

    /// <summary>
    /// A place in the destination's window, or null while the destination is dead. When the window is full the
    /// delivery queues, and <see cref="LeaveWindow"/> hands each place it frees straight to the first in line.
    /// </summary>
    /// <remarks>
    /// Why a hand-off: waking every queued delivery to look again cost each finished delivery one thread-pool work item
    /// per queued one (up to 4 × Delivery:MaxConnections of them, all for one destination in a burst), nearly all of
    /// which only queued again (perf/RESULTS.md item 26). Only <see cref="DisposeAsync"/> cancels a queued delivery:
    /// it cancels the token first and then empties the queues, so a delivery must not queue once the token is cancelled.
    /// </remarks>
    private Task<DestinationWindow?> EnterWindowAsync(string destination, CancellationToken token)
    {
        lock (_gate)
        {
            token.ThrowIfCancellationRequested();
            if (!_windows.TryGetValue(destination, out var window))
            {
                _windows[destination] = window = new DestinationWindow(_options.PerDestination);
            }
            if (!_windowWaiters.ContainsKey(destination) && TryEnter(window, _time.GetUtcNow(), out var place))
            {
                return Task.FromResult(place);
            }
            if (!_windowWaiters.TryGetValue(destination, out var queue))
            {
                _windowWaiters[destination] = queue = new Queue<TaskCompletionSource<DestinationWindow?>>();
            }
            var waiter = new TaskCompletionSource<DestinationWindow?>(TaskCreationOptions.RunContinuationsAsynchronously);
            queue.Enqueue(waiter);
            return waiter.Task;
        }
    }

    private void LeaveWindow(string destination, DestinationWindow window, bool connected)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (connected)
            {
                window.Succeeded();
            }
            else
            {
                window.Failed(now);
            }
            // In order, as long as the window has room (it may have grown); a dead destination answers all of them.
            if (_windowWaiters.TryGetValue(destination, out var queue))
            {
                while (queue.Count > 0 && TryEnter(window, now, out var place))
                {
                    queue.Dequeue().SetResult(place);
                    _windowHandOffs++;
                }
                if (queue.Count == 0)
                {
                    _windowWaiters.Remove(destination);
                }
            }
        }
    }

    /// <summary>Under _gate: true with a place (started) when the window has room, true with null when it is dead.</summary>
    private static bool TryEnter(DestinationWindow window, DateTimeOffset now, out DestinationWindow? place)
    {
        place = null;
        if (window.CanStart(now))
        {
            window.Start();
            place = window;
            return true;
        }
        return window.DeadUntil is { } until && now < until;
    }

    public async ValueTask DisposeAsync()
    {
        _spool.MessageAccepted -= OnAccepted;
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var queue in _windowWaiters.Values)
            {
                while (queue.TryDequeue(out var waiter))
                {
                    waiter.TrySetCanceled();
                }
            }
        }
        await _loop.ConfigureAwait(false);
        for (var i = 0; i < 500; i++)
        {
            lock (_gate)
            {
                if (_inFlight.Count == 0)
                {
                    break;
                }
            }
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }
        await _pool.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>
    /// One line per recipient, queue id first, as Postfix's smtp/local agents log them (sent and deferred at
    /// Information, bounced at Warning), then "removed" once the message has left the queue.
    /// </summary>
    private void LogResults(QueuedMessageInfo message, List<RecipientResult> results)
    {
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return;
        }
        var id = message.Id.ToString();
        var delay = Math.Max(0, (_time.GetUtcNow() - message.ReceivedAt).TotalSeconds).ToString("0.##", CultureInfo.InvariantCulture);
        foreach (var result in results)
        {
            var recipient = message.Recipients[result.RecipientIndex];
            var relay = result.RemoteHost ?? (recipient.Route == RecipientRoute.Local ? "local" : "none");
            var (level, status) = result.Outcome switch
            {
                RecipientOutcome.Delivered => (LogLevel.Information, "sent"),
                RecipientOutcome.Deferred => (LogLevel.Information, "deferred"),
                _ => (LogLevel.Warning, "bounced"),
            };
            LogResult(_logger, level, id, recipient.Address, relay, delay, status, result.Detail);
        }
        if (_spool.Find(message.Id) is null)
        {
            LogRemoved(_logger, id);
        }
    }

    [LoggerMessage(EventId = 3200, Message = "{MessageId}: to=<{Recipient}>, relay={Relay}, delay={Delay}, status={Status} ({Detail})")]
    private static partial void LogResult(ILogger logger, LogLevel level, string messageId, string recipient, string relay, string delay, string status, string detail);

    [LoggerMessage(3204, LogLevel.Information, "{MessageId}: removed")]
    private static partial void LogRemoved(ILogger logger, string messageId);

    [LoggerMessage(3201, LogLevel.Error, "Delivery attempt for {MessageId} failed; retrying later")]
    private static partial void LogAttemptFailed(ILogger logger, string messageId, Exception exception);

    [LoggerMessage(3203, LogLevel.Information, "{MessageId}: delay notification {WarningId} queued to <{Sender}>")]
    private static partial void LogDelayWarning(ILogger logger, string messageId, string warningId, string sender);

    [LoggerMessage(3202, LogLevel.Information, "{MessageId}: bounce {BounceId} queued to <{Sender}>")]
    private static partial void LogBounced(ILogger logger, string messageId, string bounceId, string sender);
}
