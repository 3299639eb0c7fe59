using RelayAppliance.Spool.Index;
using RelayAppliance.Spool.Records;
using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool;

// Background work: free-space sampling and space reclamation (faster-spool.md §3, §7.5).
public sealed partial class MessageSpool
{
    private void StartBackgroundWork()
    {
        if (_tuning.DiskCheckInterval != Timeout.InfiniteTimeSpan)
            _diskTimer = _time.CreateTimer(static state => ((MessageSpool)state!).CheckDiskSpace(), this, _tuning.DiskCheckInterval, _tuning.DiskCheckInterval);
        if (_tuning.ReclaimInterval != Timeout.InfiniteTimeSpan)
            _reclaimLoop = Task.Run(RunReclaimLoopAsync);
    }

    // A statvfs per second is cheaper and simpler than accounting our own writes, and it sees other tenants of the disk.
    internal void CheckDiskSpace()
    {
        try
        {
            long free = new DriveInfo(_options.Directory).AvailableFreeSpace;
            bool low = free < _options.FreeSpaceFloorBytes;
            if (low == _lowDisk)
                return;
            _lowDisk = low;
            if (low)
                SpoolLogMessages.LowDiskSpace(_logger, free, _options.FreeSpaceFloorBytes);
            else
                SpoolLogMessages.DiskSpaceRecovered(_logger, free);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            SpoolLogMessages.DiskCheckFailed(_logger, ex, _options.Directory);
        }
    }

    private async Task RunReclaimLoopAsync()
    {
        var token = _stop.Token;
        while (true)
        {
            try
            {
                await Task.Delay(_tuning.ReclaimInterval, _time, token).ConfigureAwait(false);
                await ReclaimAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                SpoolLogMessages.ReclaimFailed(_logger, ex);
            }
        }
    }

    /// <summary>
    /// One reclamation round: copy the few live messages of B's head segment forward when it is mostly dead, compact
    /// J with Carry records when its older segments are mostly dead (after the copy, so Carry holds the new chunk
    /// lists and supersedes the Moved records too), then truncate J and B to their oldest live segment. Segment
    /// files go away at the truncation's commit.
    /// </summary>
    internal async Task ReclaimAsync(CancellationToken cancellationToken)
    {
        if (_failed)
            return;
        await _reclaimGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CopyForwardAsync(cancellationToken).ConfigureAwait(false);
            await CompactJournalAsync(cancellationToken).ConfigureAwait(false);
            await TruncateAsync(_journal, _index.JournalTruncationTarget(_journalTail), cancellationToken).ConfigureAwait(false);
            await TruncateAsync(_bodies, _index.BodyTruncationTarget(_bodyTail), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _reclaimGate.Release();
        }
    }

    /// <summary>Tests: called after each durable step of a copy-forward; throwing there leaves the disk as a crash at that point would.</summary>
    internal Action<string>? CopyForwardStepForTests { get; set; }

    /// <summary>
    /// Copy-forward (faster-spool.md §3.2): when B's head segment, which truncation cannot pass, holds only a small
    /// live fraction of old mail, re-appends those messages' chunks at B's tail and moves the messages there, so the
    /// truncation that follows frees the segment. A message is moved whole, also its chunks in later segments.
    /// </summary>
    /// <remarks>
    /// Crash safety is in the order. The new chunks are committed in B before their Moved records are appended to J,
    /// and the index (hence B's truncation) switches to them only after J committed the Moved records. Before that
    /// commit J still points at the old copy, which nothing truncates, and the new copy is dead space; after it the
    /// new copy is committed and referenced. Body readers pin the chunks they read (FindForRead), so the old copy
    /// outlives them. Only this gated reclaimer appends Moved and Carry records and truncates, so a Carry never
    /// lands between a Moved and its switch with the old chunk list, and the old chunks cannot vanish while copied.
    /// </remarks>
    private async Task CopyForwardAsync(CancellationToken cancellationToken)
    {
        if (_index.BodyHeadSegment() is not { } head)
            return;
        // Copies land at the tail, so the head segment must be an older one; a body writer pinning B inside it only
        // delays the truncation to a later round.
        if (_bodies.TailAddress >> _bodies.SegmentBits <= head.Segment
            || head.LiveBytes > (1L << _bodies.SegmentBits) * _tuning.BodyCopyForwardLiveFraction)
            return;
        var now = _time.GetUtcNow();
        var candidates = _index.MessagesInBodySegment(head.Segment);
        foreach (var entry in candidates)
        {
            if (now - AcceptedView.Parse(entry.Record).ReceivedAt < _tuning.BodyCopyForwardMinAge)
                return;
        }

        // 1. Re-append the chunks (same bytes: header, msgId, seq, payload) and 2. commit B once for all of them.
        var moves = new List<(MessageEntry Entry, byte[] Record, BodyChunk[] Chunks)>(candidates.Count);
        long lastChunk = -1;
        foreach (var entry in candidates)
        {
            var record = entry.Record;
            var chunks = ChunksOf(record);
            for (int i = 0; i < chunks.Length; i++)
            {
                var (owner, length) = await ReadChunkAsync(entry.Id, chunks[i], cancellationToken).ConfigureAwait(false);
                using (owner)
                    lastChunk = await _bodies.EnqueueAsync(owner.Memory[..length], cancellationToken).ConfigureAwait(false);
                chunks[i] = chunks[i] with { Address = lastChunk };
            }
            moves.Add((entry, record, chunks));
        }
        if (lastChunk < 0)
            return;
        _bodies.Signal();
        await _bodies.WaitForCommitAsync(lastChunk).ConfigureAwait(false);
        CopyForwardStepForTests?.Invoke("bodies-committed");

        // 3. Append Moved records, serialised with deletes: none lands after its message's MessageDone.
        var switches = new List<(MessageEntry Entry, byte[] Record)>(moves.Count);
        long lastMoved = -1;
        long bytes = 0;
        await _journalMutation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var (entry, record, chunks) in moves)
            {
                // Deleted meanwhile: its new copy is dead space.
                if (!_index.IsMovable(entry))
                    continue;
                lastMoved = await _journal.EnqueueAsync(RecordLayout.CreateMoved(entry.Id, chunks), CancellationToken.None).ConfigureAwait(false);
                switches.Add((entry, AcceptedRecord.WithChunks(record, chunks)));
                foreach (var chunk in chunks)
                    bytes += chunk.Length;
            }
        }
        finally
        {
            _journalMutation.Release();
        }
        if (lastMoved < 0)
            return;
        CopyForwardStepForTests?.Invoke("moved-appended");

        // 4. Commit J, then 5. switch the index; the caller's truncation then frees the old segment.
        _journal.Signal();
        await _journal.WaitForCommitAsync(lastMoved).ConfigureAwait(false);
        foreach (var (entry, record) in switches)
            _index.SwitchRecord(entry, record);
        SpoolLogMessages.CopiedForward(_logger, switches.Count, bytes, head.Segment);
    }

    private async Task CompactJournalAsync(CancellationToken cancellationToken)
    {
        long tailSegmentStart = _journal.TailAddress >> _journal.SegmentBits << _journal.SegmentBits;
        long reclaimable = tailSegmentStart - _journal.BeginAddress;
        if (reclaimable <= 0)
            return;
        // Cheap pre-check outside the mutation; the real list is taken under it.
        var candidates = _index.BasesBelow(tailSegmentStart, out long bytes);
        if (candidates.Count == 0 || bytes > reclaimable * _tuning.JournalCompactionLiveFraction)
            return;

        long last = -1;
        await _journalMutation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Under the mutation no MessageDone can be appended, so no Carry lands after its message's Done.
            candidates = _index.BasesBelow(tailSegmentStart, out bytes);
            foreach (var entry in candidates)
            {
                // Carry v3 holds the recipients' delivery state and the flags too: the result and flag records before
                // it are truncated with the old base. The state is stable here: both are recorded under this lock.
                var carry = AcceptedRecord.CreateCarry(entry.Record, entry.Progress, entry.Flags);
                last = await _journal.EnqueueAsync(carry, CancellationToken.None).ConfigureAwait(false);
                // Safe before the commit: only this (gated) method truncates, and it commits first.
                _index.SetJournalAddress(entry, last);
            }
        }
        finally
        {
            _journalMutation.Release();
        }
        if (last < 0)
            return;
        _journal.Signal();
        await _journal.WaitForCommitAsync(last).ConfigureAwait(false);
        SpoolLogMessages.Carried(_logger, candidates.Count, bytes);
    }

    private async Task TruncateAsync(SpoolLog log, long target, CancellationToken cancellationToken)
    {
        // Page starts are always valid record starts; FASTER frees whole segments anyway.
        long pageStart = target >> log.PageBits << log.PageBits;
        long oldBegin = log.BeginAddress;
        if (pageStart <= oldBegin)
            return;
        log.Log.TruncateUntilPageStart(target);
        // The new begin address (and the deletion of the segments below it) happens at the next commit.
        await log.CommitNowAsync(cancellationToken).ConfigureAwait(false);
        SpoolLogMessages.Truncated(_logger, log.Name, oldBegin, log.BeginAddress);
    }
}
