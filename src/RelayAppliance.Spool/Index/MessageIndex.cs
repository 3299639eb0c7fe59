using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool.Index;

/// <summary>
/// One queued message: its envelope (an Accepted/Carry v1 record, strings decoded on demand) and the delivery state
/// of its recipients.
/// </summary>
internal sealed class MessageEntry
{
    private byte[] _record;
    private RecipientProgress[] _progress;

    public MessageEntry(ulong id, byte[] record, RecipientProgress[]? progress = null)
    {
        Id = id;
        _record = record;
        var view = AcceptedView.Parse(record);
        Size = view.Size;
        _progress = progress ?? view.ReadProgress();
        if (_progress.Length != view.RecipientCount)
            throw new InvalidDataException("Recipient states do not match the envelope.");
    }

    /// <summary>
    /// An entry from a journaled Accepted/Carry record. A Carry v2-v4 is split: the index keeps its envelope part,
    /// re-stamped as an Accepted record (the layout every other path reads), its state block as the progress and its flags.
    /// </summary>
    public static MessageEntry FromJournal(ulong id, ReadOnlySpan<byte> record, byte[]? exactCopy)
    {
        var view = AcceptedView.Parse(record);
        if (!view.HasStateBlock)
            return new MessageEntry(id, exactCopy ?? record.ToArray());
        var envelope = record[..view.EnvelopeLength].ToArray();
        envelope[0] = (byte)RecordKind.Accepted;
        envelope[1] = RecordLayout.AcceptedVersion;
        return new MessageEntry(id, envelope, view.ReadProgress()) { Flags = view.MessageFlags };
    }

    public ulong Id { get; }

    /// <summary>
    /// The state. Replaced (never mutated) by copy-forward with the same record at new chunk addresses, under the
    /// index lock; readers that must not race that switch (body reads) take it through <see cref="MessageIndex.FindForRead"/>.
    /// </summary>
    public byte[] Record
    {
        get => Volatile.Read(ref _record);
        set => Volatile.Write(ref _record, value);
    }

    /// <summary>Held / delay-warned marks; written under the journal mutation lock, like the progress.</summary>
    public MessageFlags Flags { get; set; }

    /// <summary>Recovery only: the entry a replayed Moved replaced, restored if the Moved turns out unbacked.</summary>
    public MessageEntry? Replaced { get; set; }
    public long Size { get; }

    /// <summary>
    /// Per recipient, in envelope order. Copy-on-write: replaced as a whole under the index lock (so the open
    /// recipient count in the stats moves with it), read without it.
    /// </summary>
    public RecipientProgress[] Progress
    {
        get => Volatile.Read(ref _progress);
        set => Volatile.Write(ref _progress, value);
    }

    /// <summary>Recipients not final yet (Queued or Deferred, remote or local).</summary>
    public int OpenRecipients
    {
        get
        {
            int open = 0;
            foreach (var p in Progress)
            {
                if (!p.IsFinal)
                    open++;
            }
            return open;
        }
    }

    /// <summary>J address of the base record (Accepted or latest Carry); a lower bound of it while the append is in flight.</summary>
    public long JournalAddress { get; set; }

    /// <summary>False until the Accepted record is durable: List/Find/Delete do not see it.</summary>
    public bool Visible { get; set; }

    /// <summary>Its MessageDone is being committed.</summary>
    public bool Deleting { get; set; }
}

/// <summary>
/// The in-memory queue, rebuilt from J at start, plus what reclamation needs: live bytes per B segment, live base
/// records per J segment, and pins for bodies still being written. One lock; every operation is short.
/// </summary>
internal sealed class MessageIndex(int bodySegmentBits, int journalSegmentBits)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, MessageEntry> _messages = [];
    private readonly SegmentCounter _bodyLive = new();
    private readonly SegmentCounter _journalLive = new();
    private readonly Dictionary<object, long> _bodyPins = new(ReferenceEqualityComparer.Instance);
    private long _visibleMessages;
    private long _openRecipients;
    private long _bytes;
    private long _journalLiveBytes;

    public int Count
    {
        get
        {
            lock (_gate)
                return (int)_visibleMessages;
        }
    }

    /// <summary>Live bytes per B segment (segment number → bytes); for tests and the copy-forward decision.</summary>
    public IReadOnlyDictionary<long, long> BodyLiveBytes
    {
        get
        {
            lock (_gate)
                return new Dictionary<long, long>(_bodyLive.Counts);
        }
    }

    public long JournalLiveBytes
    {
        get
        {
            lock (_gate)
                return _journalLiveBytes;
        }
    }

    public QueueStats Stats
    {
        get
        {
            lock (_gate)
                return new QueueStats(_visibleMessages, _openRecipients, _bytes);
        }
    }

    /// <summary>
    /// Registers a message whose Accepted record is about to be appended. Its J address is not known yet, so the
    /// tail (read under the lock) stands in as a lower bound and keeps reclamation from truncating past it.
    /// </summary>
    public void AddPending(MessageEntry entry, Func<long> journalTail)
    {
        lock (_gate)
        {
            entry.JournalAddress = journalTail();
            _messages.Add(entry.Id, entry);
            AccountLocked(entry, +1);
        }
    }

    public void SetJournalAddress(MessageEntry entry, long address)
    {
        lock (_gate)
        {
            _journalLive.Add(entry.JournalAddress >> journalSegmentBits, -entry.Record.Length);
            entry.JournalAddress = address;
            _journalLive.Add(address >> journalSegmentBits, entry.Record.Length);
        }
    }

    public void Publish(MessageEntry entry)
    {
        lock (_gate)
        {
            if (entry.Visible || !ReferenceEquals(_messages.GetValueOrDefault(entry.Id), entry))
                return;
            entry.Visible = true;
            StatsLocked(entry, +1);
        }
    }

    public void Remove(MessageEntry entry)
    {
        lock (_gate)
        {
            if (!_messages.TryGetValue(entry.Id, out var current) || !ReferenceEquals(current, entry))
                return;
            _messages.Remove(entry.Id);
            AccountLocked(entry, -1);
            if (entry.Visible)
                StatsLocked(entry, -1);
        }
    }

    public bool TryBeginDelete(ulong id, out MessageEntry? entry)
    {
        lock (_gate)
        {
            if (_messages.TryGetValue(id, out entry) && entry.Visible && !entry.Deleting)
            {
                entry.Deleting = true;
                return true;
            }
            entry = null;
            return false;
        }
    }

    /// <summary>
    /// Installs the recipients' new states (their result records are appended, not yet committed) and, when
    /// <paramref name="done"/>, marks the message as leaving (its MessageDone is appended too), as
    /// <see cref="TryBeginDelete"/> does. The caller holds the journal mutation lock, so no Carry is written between
    /// the records and this update and none can miss them.
    /// </summary>
    public void ApplyResults(MessageEntry entry, RecipientProgress[] progress, bool done)
    {
        lock (_gate)
        {
            if (entry.Visible)
                _openRecipients -= entry.OpenRecipients;
            entry.Progress = progress;
            if (entry.Visible)
                _openRecipients += entry.OpenRecipients;
            if (done)
                entry.Deleting = true;
        }
    }

    public void CancelDelete(MessageEntry entry)
    {
        lock (_gate)
            entry.Deleting = false;
    }

    public MessageEntry? Find(ulong id)
    {
        lock (_gate)
            return _messages.TryGetValue(id, out var entry) && entry.Visible && !entry.Deleting ? entry : null;
    }

    public List<MessageEntry> Snapshot()
    {
        lock (_gate)
        {
            var list = new List<MessageEntry>((int)_visibleMessages);
            foreach (var entry in _messages.Values)
            {
                if (entry.Visible && !entry.Deleting)
                    list.Add(entry);
            }
            return list;
        }
    }

    /// <summary>
    /// <see cref="Find"/> for a body read: also pins B at the message's lowest chunk until <see cref="UnpinBody"/>, so
    /// a copy-forward that switches the message to new chunks meanwhile cannot get the old ones truncated under the
    /// reader. Taken under the lock, the record and the pin are consistent with each other.
    /// </summary>
    public byte[]? FindForRead(ulong id, object reader)
    {
        lock (_gate)
        {
            if (!_messages.TryGetValue(id, out var entry) || !entry.Visible || entry.Deleting)
                return null;
            var record = entry.Record;
            var view = AcceptedView.Parse(record);
            long lowest = long.MaxValue;
            for (int i = 0; i < view.ChunkCount; i++)
                lowest = Math.Min(lowest, view.GetChunk(i).Address);
            if (lowest != long.MaxValue)
                _bodyPins[reader] = lowest;
            return record;
        }
    }

    /// <summary>The lowest B segment holding live chunks and its live bytes; null when nothing is live.</summary>
    public (long Segment, long LiveBytes)? BodyHeadSegment()
    {
        lock (_gate)
            return _bodyLive.Lowest() is { } segment ? (segment, _bodyLive.Counts[segment]) : null;
    }

    /// <summary>Durable, not-deleting messages with at least one chunk in B segment <paramref name="segment"/>.</summary>
    public List<MessageEntry> MessagesInBodySegment(long segment)
    {
        lock (_gate)
        {
            var list = new List<MessageEntry>();
            foreach (var entry in _messages.Values)
            {
                if (!entry.Visible || entry.Deleting)
                    continue;
                var view = AcceptedView.Parse(entry.Record);
                for (int i = 0; i < view.ChunkCount; i++)
                {
                    if (view.GetChunk(i).Address >> bodySegmentBits == segment)
                    {
                        list.Add(entry);
                        break;
                    }
                }
            }
            return list;
        }
    }

    /// <summary>Still queued and not being deleted (a Moved may be appended for it).</summary>
    public bool IsMovable(MessageEntry entry)
    {
        lock (_gate)
            return !entry.Deleting && ReferenceEquals(_messages.GetValueOrDefault(entry.Id), entry);
    }

    /// <summary>
    /// Copy-forward: the message's body now lives at the chunks of <paramref name="record"/> (its Moved is durable).
    /// Moves the live bytes between B segments; a no-op when the message left the queue meanwhile.
    /// </summary>
    public void SwitchRecord(MessageEntry entry, byte[] record)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_messages.GetValueOrDefault(entry.Id), entry))
                return;
            AccountLocked(entry, -1);
            entry.Record = record;
            AccountLocked(entry, +1);
        }
    }

    /// <summary>A body writer started a message: nothing at or above the B tail (read under the lock) may be truncated.</summary>
    public void PinBody(object writer, Func<long> bodyTail)
    {
        lock (_gate)
            _bodyPins.TryAdd(writer, bodyTail());
    }

    public void UnpinBody(object writer)
    {
        lock (_gate)
            _bodyPins.Remove(writer);
    }

    /// <summary>
    /// How far B may be truncated: the start of the lowest segment holding a live chunk, or the lowest pinned
    /// address, or the tail. Segment granularity loses nothing: FASTER deletes whole segments only.
    /// </summary>
    public long BodyTruncationTarget(Func<long> bodyTail)
    {
        lock (_gate)
        {
            long target = bodyTail();
            if (_bodyLive.Lowest() is { } segment)
                target = Math.Min(target, segment << bodySegmentBits);
            foreach (var pin in _bodyPins.Values)
                target = Math.Min(target, pin);
            return target;
        }
    }

    /// <summary>How far J may be truncated: the start of the lowest segment holding a base record, or the tail.</summary>
    public long JournalTruncationTarget(Func<long> journalTail)
    {
        lock (_gate)
        {
            long target = journalTail();
            if (_journalLive.Lowest() is { } segment)
                target = Math.Min(target, segment << journalSegmentBits);
            return target;
        }
    }

    /// <summary>Durable, not-deleting messages whose base record lies below <paramref name="address"/>.</summary>
    public List<MessageEntry> BasesBelow(long address, out long bytes)
    {
        lock (_gate)
        {
            var list = new List<MessageEntry>();
            bytes = 0;
            foreach (var entry in _messages.Values)
            {
                if (entry.Visible && !entry.Deleting && entry.JournalAddress < address)
                {
                    list.Add(entry);
                    bytes += entry.Record.Length;
                }
            }
            return list;
        }
    }

    /// <summary>Recovery: an Accepted or Carry record replaces whatever the message had before.</summary>
    public void ReplayBase(MessageEntry entry, long address)
    {
        if (_messages.TryGetValue(entry.Id, out var previous))
            Remove(previous);
        entry.JournalAddress = address;
        lock (_gate)
        {
            _messages.Add(entry.Id, entry);
            AccountLocked(entry, +1);
        }
        Publish(entry);
    }

    /// <summary>
    /// Recovery: a Moved replaces the chunk list of the message's current state (kept at its base record's J
    /// address: the Moved is no base of its own, J truncation keeps it because it follows that base). Null when the
    /// message is unknown: its base was compacted into a later Carry, which already holds the new chunks.
    /// </summary>
    public MessageEntry? ReplayMoved(ulong id, ReadOnlySpan<BodyChunk> chunks)
    {
        if (!_messages.TryGetValue(id, out var previous))
            return null;
        var entry = new MessageEntry(id, AcceptedRecord.WithChunks(previous.Record, chunks), previous.Progress)
        {
            Replaced = previous,
            Flags = previous.Flags,
        };
        ReplayBase(entry, previous.JournalAddress);
        return entry;
    }

    /// <summary>
    /// Recovery: forgets a base record whose body B never committed; false when it was already replaced. An unbacked
    /// Moved restores the state it replaced instead (whose chunks the caller checks in turn).
    /// </summary>
    public bool ReplayDrop(MessageEntry entry)
    {
        if (!ReferenceEquals(_messages.GetValueOrDefault(entry.Id), entry))
            return false;
        Remove(entry);
        if (entry.Replaced is { } previous)
        {
            previous.Visible = false; // so that ReplayBase publishes (counts) it again
            previous.Progress = entry.Progress; // results and flags replayed after the Moved still hold
            previous.Flags = entry.Flags;
            ReplayBase(previous, previous.JournalAddress);
        }
        return true;
    }

    /// <summary>
    /// Recovery: recipient results on top of the message's current state. Ignored for unknown messages (compacted
    /// into a later Carry, which holds them, or already done) and, per recipient, when it is final already.
    /// </summary>
    public void ReplayResults(ulong id, RecipientOutcome outcome, DateTimeOffset? nextAttemptAt, ResultEntry[] results)
    {
        if (!_messages.TryGetValue(id, out var entry))
            return;
        var progress = entry.Progress.ToArray();
        foreach (var r in results)
        {
            if ((uint)r.RecipientIndex >= (uint)progress.Length)
                throw new InvalidDataException($"Result for recipient {r.RecipientIndex} of message {new MessageId(id)}, which has {progress.Length}.");
            if (progress[r.RecipientIndex].TryApply(outcome, r.Attempt, nextAttemptAt, r.RemoteHost, r.Detail, out var next))
                progress[r.RecipientIndex] = next;
        }
        ApplyResults(entry, progress, done: false);
    }

    /// <summary>Recovery: a Flags record; ignored for unknown messages (as results are).</summary>
    public void ReplayFlags(ulong id, MessageFlags flags)
    {
        if (_messages.TryGetValue(id, out var entry))
            entry.Flags = flags;
    }

    public void ReplayDone(ulong id)
    {
        if (_messages.TryGetValue(id, out var entry))
            Remove(entry);
    }

    public IEnumerable<MessageEntry> AllForRecovery() => _messages.Values;

    private void AccountLocked(MessageEntry entry, int sign)
    {
        var view = AcceptedView.Parse(entry.Record);
        for (int i = 0; i < view.ChunkCount; i++)
        {
            var chunk = view.GetChunk(i);
            _bodyLive.Add(chunk.Address >> bodySegmentBits, sign * (long)chunk.Length);
        }
        _journalLive.Add(entry.JournalAddress >> journalSegmentBits, sign * (long)entry.Record.Length);
        _journalLiveBytes += sign * (long)entry.Record.Length;
    }

    private void StatsLocked(MessageEntry entry, int sign)
    {
        _visibleMessages += sign;
        _openRecipients += sign * (long)entry.OpenRecipients;
        _bytes += sign * entry.Size;
    }

    private sealed class SegmentCounter
    {
        public Dictionary<long, long> Counts { get; } = [];

        public void Add(long segment, long delta)
        {
            long value = Counts.GetValueOrDefault(segment) + delta;
            if (value == 0)
                Counts.Remove(segment);
            else
                Counts[segment] = value;
        }

        public long? Lowest()
        {
            long? lowest = null;
            foreach (var segment in Counts.Keys)
            {
                if (lowest is null || segment < lowest)
                    lowest = segment;
            }
            return lowest;
        }
    }
}
