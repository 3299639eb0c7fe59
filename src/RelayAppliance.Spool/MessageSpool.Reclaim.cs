using System.Buffers;
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
    /// One reclamation round: compact J with Carry records when its older segments are mostly dead, then truncate
    /// J and B to their oldest live segment. Segment files go away at the truncation's commit.
    /// </summary>
    internal async Task ReclaimAsync(CancellationToken cancellationToken)
    {
        if (_failed)
            return;
        await _reclaimGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CompactJournalAsync(cancellationToken).ConfigureAwait(false);
            await TruncateAsync(_journal, _index.JournalTruncationTarget(_journalTail), cancellationToken).ConfigureAwait(false);
            await TruncateAsync(_bodies, _index.BodyTruncationTarget(_bodyTail), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _reclaimGate.Release();
        }
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
                var buffer = ArrayPool<byte>.Shared.Rent(entry.Record.Length);
                try
                {
                    AcceptedRecord.WriteAsCarry(entry.Record, buffer);
                    last = await _journal.EnqueueAsync(buffer.AsMemory(0, entry.Record.Length), CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
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
        await _journal.WaitForCommitAsync(last, CancellationToken.None).ConfigureAwait(false);
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
