using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using RelayAppliance.Delivery.Bounces;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Local;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Scheduling;

/// <summary>
/// Sends queued remote recipients on their way. A due-time queue holds every message with pending remote
/// recipients (filled from the spool at start, then by <see cref="MessageSpool.MessageAccepted"/>); when a message is
/// due its recipients are grouped by domain, each group routed (transport, smarthost or MX), delivered through the
/// destination's concurrency window and the global connection limit, and the outcome journaled: delivered, bounced
/// (DSN queued first) or deferred with backoff.
/// </summary>
public sealed partial class DeliveryService : IAsyncDisposable
{
    private readonly DeliveryOptions _options;
    private readonly MessageSpool _spool;
    private readonly MxResolver _resolver;
    private readonly OutboundOptions _outbound;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly LocalDelivery? _local;
    private readonly object _gate = new();
    private readonly DueQueue<MessageId> _due = new();
    private readonly HashSet<MessageId> _inFlight = [];
    private readonly Dictionary<string, DestinationWindow> _windows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<TaskCompletionSource<DestinationWindow?>>> _windowWaiters = new(StringComparer.Ordinal);
    private long _windowHandOffs; // under _gate
    private readonly SemaphoreSlim _connections;
    private readonly SemaphoreSlim _wakeup = new(0);
    private int _wakeSignalled; // 1 from a Wake until the loop starts its next look at the due queue
    private readonly ConnectionPool _pool;
    private readonly ConditionalWeakTable<MxResult, Route> _mxRoutes = new(); // see MxRoute
    private readonly CancellationTokenSource _stopping = new();
    private readonly Random _random = new();
    private Task _loop = Task.CompletedTask;

    /// <param name="local">Mailbox delivery for local recipients; null: they stay queued.</param>
    public DeliveryService(DeliveryOptions options, MessageSpool spool, MxResolver resolver, OutboundOptions outbound,
        TimeProvider time, ILoggerFactory loggerFactory, LocalDelivery? local = null)
    {
        _local = local;
        _options = options;
        _spool = spool;
        _resolver = resolver;
        _outbound = outbound;
        _time = time;
        _logger = loggerFactory.CreateLogger("RelayAppliance.Delivery");
        _connections = new SemaphoreSlim(options.MaxConnections, options.MaxConnections);
        _pool = new ConnectionPool(options.ConnectionIdleTime, time);
    }

    private int MaxAttemptsInFlight => _options.MaxConnections * 4;

    /// <summary>False with Delivery:Enabled=false: relayed mail stays queued, only local mailboxes are delivered to.</summary>
    public bool RemoteEnabled => _options.RemoteEnabled;

    /// <summary>Messages currently waiting for a later attempt (not counting those being delivered).</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _due.Count;
            }
        }
    }

    /// <summary>Deliveries queued for a place in a destination's window now (tests).</summary>
    internal int QueuedForWindows
    {
        get
        {
            lock (_gate)
            {
                return _windowWaiters.Values.Sum(queue => queue.Count);
            }
        }
    }

    /// <summary>Queued deliveries given a place (or a dead destination's answer) by a leaving one, so far (tests).</summary>
    internal long WindowHandOffs
    {
        get
        {
            lock (_gate)
            {
                return _windowHandOffs;
            }
        }
    }

    public void Start()
    {
        _spool.MessageAccepted += OnAccepted;
        // The scan runs outside the lock: a million queued messages take a second, and new mail (OnAccepted) must
        // not wait for it before its 250. A message both scanned and just accepted is simply scheduled twice.
        var pending = _spool.Pending(remote: _options.RemoteEnabled, local: _local is not null);
        var items = new (MessageId, DateTimeOffset)[pending.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = (pending[i].Id, pending[i].DueAt);
        }
        lock (_gate)
        {
            _due.ScheduleAll(items);
        }
        _loop = LoopAsync();
    }

    /// <summary>
    /// `relayd queue flush`: everything (or one domain's mail) becomes due now, and every destination found dead is
    /// tried again at once (like Postfix's flush, whatever the domain): otherwise mail for a site that is back would only
    /// be deferred again as "not answering" until its dead interval ran out.
    /// </summary>
    public int Flush(string? domain = null)
    {
        int count;
        lock (_gate)
        {
            foreach (var window in _windows.Values)
            {
                window.Revive();
            }
            count = _due.MakeDue(_time.GetUtcNow(), domain is null ? null : id => HasPendingRecipientIn(id, domain));
        }
        Wake();
        return count;
    }

    /// <summary>`relayd queue hold`: durably on hold, and out of the due queue. False when the message is not queued.</summary>
    public async Task<bool> HoldAsync(MessageId id, CancellationToken token)
    {
        if (!await _spool.SetHeldAsync(id, true, token).ConfigureAwait(false))
        {
            return false;
        }
        lock (_gate)
        {
            _due.Remove(id); // an attempt already running finishes; AttemptAsync skips held mail from now on
        }
        return true;
    }

    /// <summary>`relayd queue release`: off hold and due now. False when the message is not queued.</summary>
    public async Task<bool> ReleaseAsync(MessageId id, CancellationToken token)
    {
        if (!await _spool.SetHeldAsync(id, false, token).ConfigureAwait(false))
        {
            return false;
        }
        lock (_gate)
        {
            _due.Schedule(id, _time.GetUtcNow());
        }
        Wake();
        return true;
    }

    private bool HasPendingRecipientIn(MessageId id, string domain) =>
        _spool.Find(id) is { } message && message.Recipients.Any(r => IsPendingRemote(r)
            && string.Equals(DomainOf(r.Address), domain, StringComparison.OrdinalIgnoreCase));

    private void OnAccepted(MessageId id)
    {
        // With remote delivery off (Delivery:Enabled=false) relayed mail is held: nothing to attempt, so no wake-up.
        if (!_options.RemoteEnabled && !_spool.IsPending(id, remote: false, local: _local is not null))
        {
            return;
        }
        lock (_gate)
        {
            _due.Schedule(id, _time.GetUtcNow());
        }
        Wake();
    }

    /// <summary>
    /// Signals the loop. Each accepted message and each finished attempt calls this, so it is coalesced: one signal
    /// covers every caller until the loop looks again, as that look takes everything due.
    /// </summary>
    private void Wake()
    {
        if (Interlocked.Exchange(ref _wakeSignalled, 1) == 0)
        {
            _wakeup.Release();
        }
    }

    private async Task LoopAsync()
    {
        var token = _stopping.Token;
        // The next due time is a timer of the injected TimeProvider that signals the same wake-up as new mail and
        // finished attempts, so the loop has one thing to wait on and a fake clock alone decides when retries fire.
        using var timer = _time.CreateTimer(static state => ((DeliveryService)state!).Wake(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var due = new List<MessageId>();
        while (!token.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _wakeSignalled, 0); // before the look: a Wake from now on signals again
            due.Clear();
            DateTimeOffset? next;
            var now = _time.GetUtcNow();
            lock (_gate)
            {
                // Bound the attempts in flight: a flush of a huge queue must not start a task per message at once.
                List<MessageId>? busy = null;
                while (_inFlight.Count < MaxAttemptsInFlight && _due.TryTakeDue(now, out var id))
                {
                    if (_inFlight.Add(id))
                    {
                        due.Add(id);
                    }
                    else
                    {
                        (busy ??= []).Add(id);
                    }
                }
                // Made due while its last attempt is still finishing (a flush racing the reschedule): dropping it
                // would strand it until a restart, so look again shortly.
                foreach (var id in busy ?? [])
                {
                    _due.Schedule(id, now + TimeSpan.FromSeconds(1));
                }
                next = _due.NextDueAt;
            }
            foreach (var id in due)
            {
                _ = AttemptAndForgetAsync(id);
            }
            _pool.EvictIdle();
            // At most 1 s, so idle connections are closed on time. Something already due was held back by the
            // in-flight bound: a finishing attempt wakes us, so do not spin on a zero wait meanwhile.
            var wait = next is { } at ? at - now : TimeSpan.FromSeconds(1);
            wait = wait <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan : wait > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : wait;
            timer.Change(wait, Timeout.InfiniteTimeSpan);
            if (wait != Timeout.InfiniteTimeSpan && next is { } nextAt && _time.GetUtcNow() >= nextAt)
            {
                continue; // the clock jumped past it before the timer was armed (a fake clock advanced meanwhile)
            }
            try
            {
                await _wakeup.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task AttemptAndForgetAsync(MessageId id)
    {
        try
        {
            await AttemptAsync(id, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // shutting down: the message stays queued and is due again at the next start
        }
        catch (Exception e)
        {
            LogAttemptFailed(_logger, id.ToString(), e);
            lock (_gate)
            {
                _due.Schedule(id, _time.GetUtcNow() + _options.Retry.MinimumBackoff);
            }
        }
        finally
        {
            lock (_gate)
            {
                _inFlight.Remove(id);
            }
            Wake(); // room for the next due message
        }
    }

    /// <summary>One delay notification per message, once it is older than Delivery:DelayWarningTime (0: never).</summary>
    private bool ShouldWarnOfDelay(QueuedMessageInfo message, DateTimeOffset now) =>
        _options.DelayWarningTime > TimeSpan.Zero && !message.DelayWarned
        && now - message.ReceivedAt >= _options.DelayWarningTime
        && DeliveryStatusNotification.ShouldReport(message.Sender);

    private static bool IsPendingRemote(RecipientInfo recipient) =>
        recipient.Route == RecipientRoute.Remote && recipient.State is RecipientState.Queued or RecipientState.Deferred;

    private static bool IsPendingLocal(RecipientInfo recipient) =>
        recipient.Route == RecipientRoute.Local && recipient.State is RecipientState.Queued or RecipientState.Deferred;

    internal static string DomainOf(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? "" : address[(at + 1)..].ToLowerInvariant();
    }

    /// <summary>One attempt for every pending remote recipient of the message, then the outcome journaled.</summary>
    private async Task AttemptAsync(MessageId id, CancellationToken token)
    {
        if (_spool.Find(id) is not { } message || message.Held)
        {
            return; // delivered, deleted or bounced meanwhile, or on hold (release schedules it again)
        }
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var local = new List<int>();
        for (var i = 0; i < message.Recipients.Count; i++)
        {
            if (_local is not null && IsPendingLocal(message.Recipients[i]))
            {
                local.Add(i);
            }
            else if (_options.RemoteEnabled && IsPendingRemote(message.Recipients[i]))
            {
                var domain = DomainOf(message.Recipients[i].Address);
                if (!groups.TryGetValue(domain, out var list))
                {
                    groups[domain] = list = [];
                }
                list.Add(i);
            }
        }
        if (groups.Count == 0 && local.Count == 0)
        {
            return;
        }
        var attempts = new List<Task<List<RecipientResult>>>(groups.Count + 1);
        foreach (var (domain, recipients) in groups)
        {
            attempts.Add(DeliverGroupAsync(message, domain, recipients, token));
        }
        if (local.Count > 0)
        {
            attempts.Add(_local!.DeliverAsync(_spool, message, local, token));
        }
        List<RecipientResult> results;
        if (attempts.Count == 1)
        {
            results = await attempts[0].ConfigureAwait(false); // the usual case: one destination
        }
        else
        {
            results = [];
            foreach (var groupResults in await Task.WhenAll(attempts).ConfigureAwait(false))
            {
                results.AddRange(groupResults);
            }
        }
        await FinishAttemptAsync(message, results, token).ConfigureAwait(false);
    }

    /// <summary>
    /// Journals the attempt: a deferral past the queue lifetime becomes a failure; failures get a DSN to the sender,
    /// accepted into the spool before the failures are journaled, so a crash can repeat a bounce but never lose one.
    /// </summary>
    private async Task FinishAttemptAsync(QueuedMessageInfo message, List<RecipientResult> results, CancellationToken token)
    {
        var now = _time.GetUtcNow();
        DateTimeOffset? next = null;
        var mostAttempts = -1; // of the deferred recipients
        foreach (var result in results)
        {
            if (result.Outcome == RecipientOutcome.Deferred)
            {
                mostAttempts = Math.Max(mostAttempts, message.Recipients[result.RecipientIndex].Attempts);
            }
        }
        if (mostAttempts >= 0)
        {
            next = _options.Retry.NextAttempt(1 + mostAttempts, message.ReceivedAt, now, _random);
            if (next is null)
            {
                for (var i = 0; i < results.Count; i++)
                {
                    if (results[i].Outcome == RecipientOutcome.Deferred)
                    {
                        results[i] = results[i] with
                        {
                            Outcome = RecipientOutcome.Failed,
                            Detail = $"554 5.4.7 Delivery time expired; last error: {results[i].Detail}",
                        };
                    }
                }
            }
        }
        if (WithOutcome(results, RecipientOutcome.Failed) is { } failed)
        {
            // Not cancellable: once recipients were tried, their outcome (and its bounce) must be journaled.
            var bounce = await BounceQueue.QueueAsync(_spool, _options.Hostname, _options.LocalDomains, message, failed, now,
                CancellationToken.None).ConfigureAwait(false);
            if (bounce is { } bounceId)
            {
                LogBounced(_logger, message.Id.ToString(), bounceId.ToString(), message.Sender);
            }
        }
        var warn = next is not null && ShouldWarnOfDelay(message, now);
        if (warn)
        {
            var delayed = WithOutcome(results, RecipientOutcome.Deferred)!;
            var warning = await BounceQueue.QueueAsync(_spool, _options.Hostname, _options.LocalDomains, message, delayed, now,
                CancellationToken.None, DsnAction.Delayed, message.ReceivedAt + _options.Retry.QueueLifetime).ConfigureAwait(false);
            if (warning is { } warningId)
            {
                LogDelayWarning(_logger, message.Id.ToString(), warningId.ToString(), message.Sender);
            }
        }
        if (!await _spool.RecordResultsAsync(message.Id, results, next, CancellationToken.None).ConfigureAwait(false))
        {
            return;
        }
        if (warn)
        {
            // After the warning was queued: a crash in between repeats the warning rather than losing it.
            await _spool.MarkDelayWarnedAsync(message.Id, CancellationToken.None).ConfigureAwait(false);
        }
        LogResults(message, results);
        if (next is { } due)
        {
            lock (_gate)
            {
                _due.Schedule(message.Id, due);
            }
        }
    }

    private static List<RecipientResult>? WithOutcome(List<RecipientResult> results, RecipientOutcome outcome)
    {
        List<RecipientResult>? matching = null;
        foreach (var result in results)
        {
            if (result.Outcome == outcome)
            {
                (matching ??= []).Add(result);
            }
        }
        return matching;
    }
}
