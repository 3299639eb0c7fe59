using System.Buffers;
using System.Diagnostics;
using System.Runtime;
using System.Runtime.CompilerServices;
using FASTER.core;
using Microsoft.Extensions.Logging;
using RelayAppliance.Spool.Index;
using RelayAppliance.Spool.Records;
using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool;

/// <summary>
/// The durable queue: bodies log B, journal J (faster-spool.md §7), the in-memory index rebuilt from J, and the
/// background reclaimer. Thread-safe.
/// </summary>
public sealed partial class MessageSpool : IAsyncDisposable
{
    private readonly SpoolOptions _options;
    private readonly SpoolTuning _tuning;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SpoolLock _lock;
    private readonly MessageIndex _index;
    private readonly SemaphoreSlim _journalMutation = new(1, 1);
    private readonly SemaphoreSlim _reclaimGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private SpoolLog _journal = null!;
    private SpoolLog _bodies = null!;
    // Cached so the per-message index calls (which read a tail under the index lock) allocate no closure.
    private readonly Func<long> _journalTail;
    private readonly Func<long> _bodyTail;
    private ITimer? _diskTimer;
    private Task _reclaimLoop = Task.CompletedTask;
    private long _lastId;
    private volatile bool _failed;
    private volatile bool _lowDisk;
    private int _disposed;

    private MessageSpool(SpoolOptions options, ILogger logger, TimeProvider time, SpoolLock spoolLock)
    {
        _options = options;
        _tuning = options.Tuning;
        _logger = logger;
        _time = time;
        _lock = spoolLock;
        _index = new MessageIndex(_tuning.BodySegmentBits, _tuning.JournalSegmentBits);
        _journalTail = () => _journal.TailAddress;
        _bodyTail = () => _bodies.TailAddress;
    }

    internal SpoolLog Bodies => _bodies;
    internal SpoolLog Journal => _journal;
    internal MessageIndex Index => _index;

    /// <summary>Opens (creating if needed), recovers and indexes the spool. Throws SpoolLockedException or SpoolRecoveryException.</summary>
    public static MessageSpool Open(SpoolOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(time);
        options.Tuning.Validate();
        var started = time.GetTimestamp();

        System.IO.Directory.CreateDirectory(options.Directory);
        var spoolLock = SpoolLock.Acquire(options.Directory);
        var spool = new MessageSpool(options, loggerFactory.CreateLogger("RelayAppliance.Spool"), time, spoolLock);
        try
        {
            var t = options.Tuning;
            spool._bodies = SpoolLog.Open("bodies", Path.Combine(options.Directory, "bodies"),
                t.BodyPageBits, t.BodyMemoryBits, t.BodySegmentBits, t.BodyZeroAhead, t.BodyCommitWritesInline, loggerFactory,
                spool.OnCommitFailure);
            spool._journal = SpoolLog.Open("journal", Path.Combine(options.Directory, "journal"),
                t.JournalPageBits, t.JournalMemoryBits, t.JournalSegmentBits, t.JournalZeroAhead, t.JournalCommitWritesInline,
                loggerFactory, spool.OnCommitFailure);
            // Rebuilding keeps every record it reads: background GC marking only competes with the scan for the
            // cores, so it is off (blocking collections) until the index is built.
            var latency = GCSettings.LatencyMode;
            GCSettings.LatencyMode = GCLatencyMode.Batch;
            ulong maxId;
            try
            {
                maxId = spool.RebuildIndex();
            }
            finally
            {
                GCSettings.LatencyMode = latency;
            }
            // Before B can reuse the addresses above its recovered tail (and before any mail is accepted).
            spool.AppendStartupMarker();
            spool.DeleteLeftoverSegments(); // only now: the index has been checked against both logs

            // Ids stay unique across restarts: above everything journaled, and above anything an earlier run could have
            // handed out in a past millisecond (4096 ids per ms of headroom).
            ulong clockFloor = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() << 12;
            spool._lastId = (long)Math.Max(maxId, clockFloor);

            spool.CheckDiskSpace();
            spool.StartBackgroundWork();
            SpoolLogMessages.Opened(spool._logger, options.Directory, spool._index.Count,
                spool._journal.BeginAddress, spool._journal.CommittedUntilAddress,
                spool._bodies.BeginAddress, spool._bodies.CommittedUntilAddress,
                new MessageId((ulong)spool._lastId + 1).ToString(), (long)time.GetElapsedTime(started).TotalMilliseconds);
            return spool;
        }
        catch
        {
            spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private void DeleteLeftoverSegments()
    {
        foreach (var log in (ReadOnlySpan<SpoolLog>)[_bodies, _journal])
        {
            var (files, bytes) = log.DeleteSegmentsBelowBegin();
            if (files > 0)
                SpoolLogMessages.DeletedLeftoverSegments(_logger, files, log.Name, bytes);
        }
    }

    /// <summary>
    /// Scans J once, in order, applying base records, recipient results and removals; returns the largest id seen.
    /// </summary>
    /// <remarks>
    /// AcceptAsync commits B and J concurrently, so a crash can leave a committed Accepted whose chunks B never
    /// committed (never acknowledged: the 250 waits for both). A base record is therefore valid only if its chunks
    /// end at or below the B committed address in force for it: the Startup marker that follows it in J, or for
    /// records after the last marker, B's CommittedUntilAddress now. Invalid ones are dropped; the marker this open
    /// appends makes that verdict durable, because B reuses those addresses from now on.
    /// </remarks>
    private ulong RebuildIndex()
    {
        ulong maxId = 0;
        long address = 0;
        // Base records replayed since the last Startup marker, not yet checked against B.
        var sinceMarker = new List<MessageEntry>();
        try
        {
            using var iterator = _journal.Log.Scan(_journal.BeginAddress, _journal.CommittedUntilAddress);
            // Pooled entry buffers: a big queue means millions of records, and only base records are kept (copied
            // to an exact-size array); a fresh array per record made the scan GC-bound (queue-scale profile).
            while (iterator.GetNext(MemoryPool<byte>.Shared, out IMemoryOwner<byte> owner, out int length, out address))
            {
                using var entryOwner = owner;
                var record = owner.Memory.Span[..length];
                if (!RecordHeader.TryRead(record, out var header))
                    throw new InvalidDataException("Record shorter than its header.");
                if (header.Version == 0 || header.Version > RecordLayout.MaxKnownVersion(header.Kind))
                    throw new InvalidDataException($"Record kind {(byte)header.Kind} version {header.Version} is unknown to this relayd (written by a newer version?).");
                maxId = Math.Max(maxId, header.MessageId);
                switch (header.Kind)
                {
                    case RecordKind.Accepted or RecordKind.Carry:
                        var message = MessageEntry.FromJournal(header.MessageId, record, exactCopy: null);
                        _index.ReplayBase(message, address);
                        sinceMarker.Add(message);
                        break;
                    case RecordKind.Moved:
                        if (_index.ReplayMoved(header.MessageId, RecordLayout.ReadMoved(record)) is { } moved)
                            sinceMarker.Add(moved);
                        break;
                    case RecordKind.RcptDelivered or RecordKind.RcptDeferred or RecordKind.RcptFailed:
                        var (nextAttemptAt, results) = ResultRecord.Read(record);
                        _index.ReplayResults(header.MessageId, ResultRecord.OutcomeOf(header.Kind), nextAttemptAt, results);
                        break;
                    case RecordKind.Flags:
                        _index.ReplayFlags(header.MessageId, RecordLayout.ReadFlags(record));
                        break;
                    case RecordKind.MessageDone:
                        _index.ReplayDone(header.MessageId);
                        break;
                    case RecordKind.Startup:
                        DropUnbacked(sinceMarker, RecordLayout.ReadStartup(record));
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or FasterException)
        {
            throw new SpoolRecoveryException($"The journal in '{_options.Directory}' is unreadable near address {address}: {ex.Message}", ex);
        }
        int dropped = DropUnbacked(sinceMarker, _bodies.CommittedUntilAddress);
        if (dropped > 0)
            SpoolLogMessages.DroppedUnbacked(_logger, dropped, _bodies.CommittedUntilAddress);

        // What survived was backed by B when its marker was written, and B's commits never go back (high-water
        // guard), so every body must still be in B (§7.6.4); otherwise B lost committed data.
        foreach (var entry in _index.AllForRecovery())
        {
            var view = AcceptedView.Parse(entry.Record);
            for (int i = 0; i < view.ChunkCount; i++)
            {
                var chunk = view.GetChunk(i);
                if (chunk.Address < _bodies.BeginAddress || RecordLayout.ChunkEnd(chunk) > _bodies.CommittedUntilAddress)
                    throw new SpoolRecoveryException($"Message {new MessageId(entry.Id)} refers to body address {chunk.Address}, outside the recovered body log [{_bodies.BeginAddress}, {_bodies.CommittedUntilAddress}); refusing to start.");
            }
        }
        return maxId;
    }

    /// <summary>
    /// Removes the replayed base records whose chunks end beyond <paramref name="bodyCommitted"/>; clears the list.
    /// An unbacked Moved (not expected: it is appended only after B committed its chunks) falls back to the state it
    /// replaced. Newest first, so that state, if it is in the list too, is checked after it is restored.
    /// </summary>
    private int DropUnbacked(List<MessageEntry> entries, long bodyCommitted)
    {
        int dropped = 0;
        for (int e = entries.Count - 1; e >= 0; e--)
        {
            var entry = entries[e];
            var view = AcceptedView.Parse(entry.Record);
            for (int i = 0; i < view.ChunkCount; i++)
            {
                if (RecordLayout.ChunkEnd(view.GetChunk(i)) > bodyCommitted)
                {
                    // A no-op when a later base record of the same message already replaced this one.
                    if (_index.ReplayDrop(entry) && entry.Replaced is null)
                        dropped++;
                    break;
                }
            }
        }
        // The replaced states are needed only until their Moved has been checked.
        foreach (var entry in entries)
            entry.Replaced = null;
        entries.Clear();
        return dropped;
    }

    /// <summary>
    /// Appends and commits Startup{B.CommittedUntilAddress} to J. Until it is durable nothing may be appended to B:
    /// a later recovery would otherwise check an unacknowledged Accepted against B's then larger committed address
    /// and resurrect it over another message's bytes.
    /// </summary>
    private void AppendStartupMarker()
    {
        var marker = new byte[RecordLayout.StartupSize];
        RecordLayout.WriteStartup(marker, _bodies.CommittedUntilAddress);
        long address = _journal.Log.Enqueue(marker);
        _journal.Signal();
        _journal.WaitForCommitAsync(address).AsTask().GetAwaiter().GetResult();
    }

    public SpoolHealth Health => _failed ? SpoolHealth.Failed : _lowDisk ? SpoolHealth.LowDiskSpace : SpoolHealth.Healthy;

    public BodyWriter CreateBodyWriter() => new(this, _tuning.ChunkBufferSize);

    /// <summary>
    /// Makes the message durable: flushes the last chunk, appends Accepted to the journal and waits for both logs'
    /// commits, which run concurrently (one commit latency, not two). Returns only when a crash can no longer lose
    /// the message. Throws SpoolUnavailableException (451) on commit failure. Resets the body writer.
    /// </summary>
    /// <remarks>
    /// J may thus hold a committed Accepted whose body B never committed; it was never acknowledged, and recovery
    /// drops it (RebuildIndex, Startup markers).
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // once per message, always waits for a commit
    public async ValueTask<MessageId> AcceptAsync(BodyWriter body, EnvelopeBuilder envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(envelope);
        if (!ReferenceEquals(body.Spool, this))
            throw new ArgumentException("The body writer belongs to another spool.", nameof(body));
        MessageId messageId;
        try
        {
            ThrowIfUnavailable();
            if (envelope.RecipientCount == 0)
                throw new ArgumentException("A message needs at least one recipient.", nameof(envelope));

            // A small body that is still all in the writer's buffer goes into the Accepted record itself: then only J
            // has to commit (SpoolTuning.InlineBodyLimit, InlineBodyMaxKeptBytes).
            bool inline = body.Chunks.IsEmpty && body.Length <= _tuning.InlineBodyLimit
                && _index.JournalLiveBytes < _tuning.InlineBodyMaxKeptBytes;
            if (!inline)
                await body.FlushChunkAsync(cancellationToken).ConfigureAwait(false);
            ulong id = body.EnsureMessageId();
            // B's commit starts now and overlaps building and appending the Accepted record.
            long? lastChunk = body.LastChunkAddress;
            if (lastChunk is not null)
                _bodies.Signal();

            var record = inline
                ? AcceptedRecord.CreateInline(id, _time.GetUtcNow(), body.Unflushed, envelope)
                : AcceptedRecord.Create(id, _time.GetUtcNow(), body.Length, body.Chunks, envelope);
            var entry = new MessageEntry(id, record);
            _index.AddPending(entry, _journalTail);
            try
            {
                // From here the caller's token is ignored: once appended, the record commits within a commit latency
                // and the index must follow what is on disk, not whether the client is still there.
                long address = await _journal.EnqueueAsync(record, CancellationToken.None).ConfigureAwait(false);
                _index.SetJournalAddress(entry, address);
                _journal.Signal();
                var journalDurable = _journal.WaitForCommitAsync(address);
                var bodyDurable = lastChunk is { } chunk ? _bodies.WaitForCommitAsync(chunk) : default;
                try
                {
                    await bodyDurable.ConfigureAwait(false);
                }
                finally
                {
                    // Always observed, so that a failure of either log surfaces and no wait is left dangling.
                    await journalDurable.ConfigureAwait(false);
                }
            }
            catch
            {
                // Not acknowledged: whatever of it reached disk is dropped at recovery or is a harmless duplicate.
                _index.Remove(entry);
                throw;
            }
            _index.Publish(entry);
            messageId = new MessageId(id);
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            throw Unavailable(ex);
        }
        finally
        {
            body.Reset();
        }
        RaiseMessageAccepted(messageId);
        return messageId;
    }

    public IReadOnlyList<QueuedMessageInfo> List()
    {
        var entries = _index.Snapshot();
        var list = new List<QueuedMessageInfo>(entries.Count);
        foreach (var entry in entries)
            list.Add(AcceptedView.Parse(entry.Record).ToInfo(entry.Progress, entry.Flags));
        list.Sort(static (a, b) => a.Id.Value.CompareTo(b.Id.Value));
        return list;
    }

    public QueuedMessageInfo? Find(MessageId id)
        => _index.Find(id.Value) is { } entry ? AcceptedView.Parse(entry.Record).ToInfo(entry.Progress, entry.Flags) : null;

    public QueueStats GetStats() => _index.Stats;

    /// <summary>Removes the message from the queue durably; false when there is no such message.</summary>
    public async ValueTask<bool> DeleteAsync(MessageId id, CancellationToken cancellationToken)
        => await DeleteManyAsync([id], cancellationToken).ConfigureAwait(false) == 1;

    /// <summary>
    /// Removes the messages durably with one journal commit for all (a POP3 QUIT after many DELEs); returns how
    /// many were queued (unknown ids are skipped). A storage failure fails the spool and keeps them all listed
    /// until the restart, whose recovery then shows which deletions reached the disk.
    /// </summary>
    public async ValueTask<int> DeleteManyAsync(IReadOnlyList<MessageId> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ThrowIfUnavailable();
        var entries = new List<MessageEntry>(ids.Count);
        long address = -1;
        // Serialised with journal compaction so that no Carry of these messages can land after their MessageDone.
        await _journalMutation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            try
            {
                foreach (var id in ids)
                {
                    if (!_index.TryBeginDelete(id.Value, out var entry))
                        continue;
                    entries.Add(entry!);
                    var done = new byte[RecordLayout.DoneSize];
                    RecordLayout.WriteDone(done, id.Value, DoneReason.DeletedByOperator, now);
                    address = await _journal.EnqueueAsync(done, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (IsStorageFailure(ex))
            {
                entries.ForEach(_index.CancelDelete);
                throw Unavailable(ex);
            }
        }
        finally
        {
            _journalMutation.Release();
        }
        if (entries.Count == 0)
            return 0;

        try
        {
            _journal.Signal();
            await _journal.WaitForCommitAsync(address).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            entries.ForEach(_index.CancelDelete);
            throw Unavailable(ex);
        }
        // Only now may their body space be reclaimed: B's truncation must never run ahead of J's MessageDone.
        foreach (var entry in entries)
        {
            _index.Remove(entry);
            SpoolLogMessages.MessageDeleted(_logger, new MessageId(entry.Id).ToString());
        }
        return entries.Count;
    }

    /// <summary>Copies the stored body (including our Received header) to the destination.</summary>
    /// <exception cref="KeyNotFoundException">No such message in the queue.</exception>
    public async ValueTask CopyBodyToAsync(MessageId id, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        // The pin keeps B from being truncated past these chunks while we read them, even if copy-forward switches
        // the message to a new copy meanwhile (the old copy then goes at the first reclamation after we finish).
        var reader = new object();
        var record = _index.FindForRead(id.Value, reader) ?? throw new KeyNotFoundException($"Message {id} is not in the queue.");
        try
        {
            var (inlineLength, chunks) = BodyOf(record);
            if (inlineLength >= 0)
            {
                await destination.WriteAsync(record.AsMemory(AcceptedRecord.FixedSize, inlineLength), cancellationToken).ConfigureAwait(false);
                return;
            }
            var entries = ArrayPool<byte>.Shared.Rent(RecordLayout.ChunkEntrySize(LargestChunk(chunks)));
            try
            {
                foreach (var chunk in chunks)
                {
                    var entry = entries.AsMemory(0, RecordLayout.ChunkEntrySize(chunk.Length));
                    if (_bodies.TryReadCommitted(chunk.Address, entry.Span)
                        && RecordLayout.IsExpectedChunk(entry.Span[RecordLayout.FasterEntryHeaderSize..], id.Value, chunk.Length))
                    {
                        await destination.WriteAsync(entry[(RecordLayout.FasterEntryHeaderSize + RecordLayout.ChunkPrefixSize)..], cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    var (owner, length) = await ReadChunkAsync(id.Value, chunk, cancellationToken).ConfigureAwait(false);
                    using (owner)
                        await destination.WriteAsync(owner.Memory.Slice(RecordLayout.ChunkPrefixSize, chunk.Length), cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(entries);
            }
        }
        finally
        {
            _index.UnpinBody(reader);
        }
    }

    private static int LargestChunk(BodyChunk[] chunks)
    {
        int largest = 0;
        foreach (var chunk in chunks)
            largest = Math.Max(largest, chunk.Length);
        return largest;
    }

    /// <summary>Reads one chunk entry (our prefix + payload) from B and checks it is the one the journal means.</summary>
    private async ValueTask<(IMemoryOwner<byte> Owner, int Length)> ReadChunkAsync(ulong id, BodyChunk chunk, CancellationToken cancellationToken)
    {
        var (owner, length) = await _bodies.Log.ReadAsync(chunk.Address, MemoryPool<byte>.Shared,
            RecordLayout.ChunkPrefixSize + chunk.Length, cancellationToken).ConfigureAwait(false);
        // Null when the address is no longer in the log (a bug now that readers pin B, or corruption).
        if (owner is null || !RecordLayout.IsExpectedChunk(owner.Memory.Span[..length], id, chunk.Length))
        {
            owner?.Dispose();
            throw new KeyNotFoundException($"The body of message {new MessageId(id)} is no longer readable at address {chunk.Address}.");
        }
        return (owner, length);
    }

    private static BodyChunk[] ChunksOf(byte[] record) => BodyOf(record).Chunks;

    /// <summary>Where the body is, from one parse of the record: inline (its length; no chunks) or in B (length -1).</summary>
    private static (int InlineLength, BodyChunk[] Chunks) BodyOf(byte[] record)
    {
        var view = AcceptedView.Parse(record);
        var chunks = new BodyChunk[view.ChunkCount];
        for (int i = 0; i < chunks.Length; i++)
            chunks[i] = view.GetChunk(i);
        return (view.HasInlineBody ? view.InlineBody.Length : -1, chunks);
    }

    internal ulong StartBody(BodyWriter writer)
    {
        _index.PinBody(writer, _bodyTail);
        return (ulong)Interlocked.Increment(ref _lastId);
    }

    internal void EndBody(BodyWriter writer) => _index.UnpinBody(writer);

    private void ThrowIfUnavailable()
    {
        if (_failed)
            throw new SpoolUnavailableException("The spool has failed (commit failure); relayd must be restarted.");
        if (Volatile.Read(ref _disposed) != 0)
            throw new SpoolUnavailableException("The spool is shutting down.");
    }

    private static bool IsStorageFailure(Exception ex) => ex is FasterException or IOException or ObjectDisposedException;

    private SpoolUnavailableException Unavailable(Exception ex)
    {
        if (ex is FasterException or IOException)
            _failed = true;
        return new SpoolUnavailableException($"The spool cannot take the message: {ex.Message}", ex);
    }

    private void OnCommitFailure(SpoolLog log, Exception exception)
    {
        // A FasterLog refuses all work after a commit failure (its stored exception). We stay Failed and say so
        // (event 2001); reopening under live sessions is left to a process restart by the supervisor.
        _failed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_diskTimer is not null)
            await _diskTimer.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reclaimLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        if (_journal is not null)
            await _journal.DisposeAsync().ConfigureAwait(false);
        if (_bodies is not null)
            await _bodies.DisposeAsync().ConfigureAwait(false);
        _lock.Dispose();
        _stop.Dispose();
    }
}
