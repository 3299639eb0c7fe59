using RelayAppliance.Spool.Index;
using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool;

// The delivery-state API the outbound scheduler calls (faster-spool.md §7.4).
public sealed partial class MessageSpool
{
    /// <summary>
    /// Raised once per message after <see cref="AcceptAsync"/> made it durable, on the accepting task and outside the
    /// spool's locks, so the scheduler can pick it up without polling. Handlers must be quick (hand the id to a
    /// channel). An exception from a handler is logged (event 2011) and swallowed, and the other handlers still run:
    /// the message is durable and queued either way, so it must not turn into a 451.
    /// </summary>
    public event Action<MessageId>? MessageAccepted;

    private void RaiseMessageAccepted(MessageId id)
    {
        if (MessageAccepted is not { } handlers)
            return;
        foreach (var handler in Delegate.EnumerateInvocationList(handlers))
        {
            try
            {
                handler(id);
            }
            catch (Exception ex)
            {
                SpoolLogMessages.MessageAcceptedHandlerFailed(_logger, ex, id.ToString());
            }
        }
    }

    /// <summary>
    /// Journals the results of a delivery attempt and returns once they are durable. When every recipient is then
    /// final (Delivered or Failed; a recipient without a result, local ones included, is not) the message is done:
    /// its MessageDone is written in the same commit, it leaves the queue and its body space becomes reclaimable.
    /// </summary>
    /// <param name="results">At most one result per recipient. Results for recipients already final are ignored.</param>
    /// <param name="nextAttemptAt">When the Deferred recipients of this call are due again; null: due at once.</param>
    /// <returns>False when the message is not (or no longer) queued.</returns>
    /// <remarks>
    /// The index shows the new states as soon as the records are appended, before the commit: journal compaction
    /// must carry them (it runs under the same lock), and a failed commit fails the whole spool, whose restart then
    /// rebuilds the truth from disk. The token only cancels waiting for the lock; once appended, the call waits for
    /// the commit (a few ms).
    /// </remarks>
    public async ValueTask<bool> RecordResultsAsync(MessageId id, IReadOnlyList<RecipientResult> results, DateTimeOffset? nextAttemptAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(results);
        foreach (var r in results)
            ResultRecord.KindOf(r.Outcome); // throws on an undefined outcome before anything is written
        ThrowIfUnavailable();

        MessageEntry? entry;
        long address = -1;
        bool done;
        // The journal mutation lock orders these records with Carry (compaction), Moved and MessageDone records.
        await _journalMutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            entry = _index.Find(id.Value);
            if (entry is null)
                return false;
            var progress = entry.Progress.ToArray();
            var byOutcome = Apply(progress, results, nextAttemptAt);
            done = Array.TrueForAll(progress, static p => p.IsFinal);
            var now = _time.GetUtcNow();
            try
            {
                // Outcome order (Delivered, Deferred, Failed) is harmless: each recipient appears at most once.
                foreach (var (outcome, entries) in byOutcome)
                {
                    var record = ResultRecord.Create(ResultRecord.KindOf(outcome), id.Value, now,
                        outcome == RecipientOutcome.Deferred ? nextAttemptAt : null, entries);
                    address = await _journal.EnqueueAsync(record, CancellationToken.None).ConfigureAwait(false);
                }
                if (done)
                {
                    var record = new byte[RecordLayout.DoneSize];
                    RecordLayout.WriteDone(record, id.Value, DoneReason.AllRecipientsFinal, now);
                    address = await _journal.EnqueueAsync(record, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsStorageFailure(ex))
            {
                throw Unavailable(ex);
            }
            if (address < 0)
                return true; // every result was for a final recipient: nothing to journal
            _index.ApplyResults(entry, progress, done);
        }
        finally
        {
            _journalMutation.Release();
        }

        try
        {
            _journal.SignalSoon(address); // no client waits on it: see SignalSoon
            await _journal.WaitForCommitAsync(address).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            if (done)
                _index.CancelDelete(entry);
            throw Unavailable(ex);
        }
        if (done)
        {
            // As in DeleteAsync: only now may its body space be reclaimed (B's truncation never runs ahead of J).
            _index.Remove(entry);
        }
        return true;
    }

    /// <summary>
    /// Puts a message on hold (the scheduler leaves it alone, as Postfix's `postsuper -h`) or releases it; durable
    /// before it returns. False when the message is not queued.
    /// </summary>
    public ValueTask<bool> SetHeldAsync(MessageId id, bool held, CancellationToken ct)
        => held ? ChangeFlagsAsync(id, MessageFlags.Held, MessageFlags.None, ct) : ChangeFlagsAsync(id, MessageFlags.None, MessageFlags.Held, ct);

    /// <summary>Records that the sender was sent a delay notification, so it is sent once. False when not queued.</summary>
    public ValueTask<bool> MarkDelayWarnedAsync(MessageId id, CancellationToken ct)
        => ChangeFlagsAsync(id, MessageFlags.DelayWarned, MessageFlags.None, ct);

    private async ValueTask<bool> ChangeFlagsAsync(MessageId id, MessageFlags set, MessageFlags clear, CancellationToken ct)
    {
        ThrowIfUnavailable();
        long address;
        // Under the journal mutation lock, like results: compaction's Carry then always holds the latest flags.
        await _journalMutation.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_index.Find(id.Value) is not { } entry)
                return false;
            var flags = (entry.Flags | set) & ~clear;
            if (flags == entry.Flags)
                return true;
            try
            {
                address = await _journal.EnqueueAsync(RecordLayout.CreateFlags(id.Value, flags, _time.GetUtcNow()), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsStorageFailure(ex))
            {
                throw Unavailable(ex);
            }
            entry.Flags = flags;
        }
        finally
        {
            _journalMutation.Release();
        }
        try
        {
            _journal.Signal();
            await _journal.WaitForCommitAsync(address).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            throw Unavailable(ex);
        }
        return true;
    }

    /// <summary>
    /// Applies <paramref name="results"/> to <paramref name="progress"/> in place; returns the journal entries of
    /// those that changed something, grouped by outcome.
    /// </summary>
    private static List<(RecipientOutcome Outcome, List<ResultEntry> Entries)> Apply(
        RecipientProgress[] progress, IReadOnlyList<RecipientResult> results, DateTimeOffset? nextAttemptAt)
    {
        var seen = new bool[progress.Length];
        var groups = new List<(RecipientOutcome Outcome, List<ResultEntry> Entries)>(3);
        foreach (var outcome in (ReadOnlySpan<RecipientOutcome>)[RecipientOutcome.Delivered, RecipientOutcome.Deferred, RecipientOutcome.Failed])
        {
            var entries = new List<ResultEntry>();
            foreach (var r in results)
            {
                if (r.Outcome != outcome)
                    continue;
                if ((uint)r.RecipientIndex >= (uint)progress.Length)
                    throw new ArgumentOutOfRangeException(nameof(results), r.RecipientIndex, $"The message has {progress.Length} recipients.");
                // Two results for one recipient would need an order between the outcome records; refuse instead.
                if (seen[r.RecipientIndex])
                    throw new ArgumentException($"More than one result for recipient {r.RecipientIndex}.", nameof(results));
                seen[r.RecipientIndex] = true;
                var current = progress[r.RecipientIndex];
                string? host = ResultRecord.Truncate(r.RemoteHost, ResultRecord.MaxRemoteHostBytes);
                string? detail = ResultRecord.Truncate(r.Detail, ResultRecord.MaxDetailBytes);
                if (current.TryApply(outcome, current.Attempts + 1, nextAttemptAt, host, detail, out var next))
                {
                    progress[r.RecipientIndex] = next;
                    entries.Add(new ResultEntry(r.RecipientIndex, next.Attempts, host, detail));
                }
            }
            if (entries.Count > 0)
                groups.Add((outcome, entries));
        }
        return groups;
    }

    /// <summary>
    /// Every queued message not on hold with a remote recipient still to deliver (Queued or Deferred), due at the earliest next
    /// attempt among those recipients (its arrival time for one never tried or deferred without a time); earliest
    /// first. A full scan: meant for the scheduler's start, new mail then arrives through <see cref="MessageAccepted"/>.
    /// </summary>
    public IReadOnlyList<PendingDelivery> PendingRemote() => Pending(remote: true, local: false);

    /// <summary>As <see cref="PendingRemote"/>, counting remote and/or local (mailbox) recipients.</summary>
    public IReadOnlyList<PendingDelivery> Pending(bool remote, bool local)
    {
        var pending = new List<PendingDelivery>();
        foreach (var entry in _index.Snapshot())
        {
            if (DueAt(entry, remote, local) is { } dueAt)
                pending.Add(new PendingDelivery(new MessageId(entry.Id), dueAt));
        }
        pending.Sort(static (a, b) => a.DueAt != b.DueAt ? a.DueAt.CompareTo(b.DueAt) : a.Id.Value.CompareTo(b.Id.Value));
        return pending;
    }

    /// <summary>Whether the message would be in <see cref="Pending"/>: one lookup, nothing built.</summary>
    public bool IsPending(MessageId id, bool remote, bool local) => _index.Find(id.Value) is { } entry && DueAt(entry, remote, local) is not null;

    /// <summary>The earliest next attempt among the message's unfinished recipients of those routes; null when none or held.</summary>
    private static DateTimeOffset? DueAt(MessageEntry entry, bool remote, bool local)
    {
        if ((entry.Flags & MessageFlags.Held) != 0)
            return null;
        var progress = entry.Progress;
        var view = AcceptedView.Parse(entry.Record);
        DateTimeOffset? due = null;
        int i = 0;
        foreach (var r in view.Recipients)
        {
            var p = progress[i++];
            if (p.IsFinal || !(r.Route == RecipientRoute.Remote ? remote : local))
                continue;
            var at = p.NextAttemptAt ?? view.ReceivedAt;
            if (due is null || at < due)
                due = at;
        }
        return due;
    }
}
