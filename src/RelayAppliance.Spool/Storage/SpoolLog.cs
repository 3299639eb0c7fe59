using System.Buffers;
using System.Threading.Tasks.Sources;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// One FasterLog of the spool (journal or bodies) with its device, its two-slot commit manager and its group
/// committer (faster-spool.md §7.3.4). Producers append, call <see cref="Signal"/> and await
/// <see cref="WaitForCommitAsync"/>.
/// </summary>
/// <remarks>
/// The log runs in FASTER's fast-commit mode: a commit appends a commit record to the log, so one synchronous write
/// carries both the data and the commit, where writing the record to the commit file after the data took a second
/// one (perf/RESULTS.md, item 17). The commit file is written about once a second (<see cref="MetadataInterval"/>);
/// recovery scans forward from it, which is safe because every open cuts the log at its recovered tail
/// (<see cref="HoldsBytesBeyond"/>).
/// At most one commit is in flight. When none is, a signal wakes the committer thread, which issues one; the data
/// write runs on that thread (<see cref="SpoolDevice.WriteInline"/>; unless the log is opened without, see
/// <see cref="SpoolTuning.BodyCommitWritesInline"/>), FASTER's commit worker runs the completion
/// callback once it is durable, and that releases the waiters the commit covers, running their continuations
/// inline (a session writes its 250 and waits for the socket again), and, if more was signalled meanwhile, issues the
/// next commit right there. Under steady load commits thus follow each other on one thread, where before every commit
/// passed through five (committer task, device writer, FASTER's commit task, one pool wake-up per waiter): 7.0–7.5 →
/// 4.5–4.7 context switches per message, 1–12 % (median 7 %) less CPU at a fixed rate (perf/RESULTS.md, item 16).
/// Waiters must therefore never block synchronously on this log from inside such a continuation.
/// </remarks>
internal sealed class SpoolLog : IAsyncDisposable
{
    public const string SegmentBaseName = "log";
    public const string CommitFileName = "commit.slots";

    // _state: whether a commit is in flight, and whether more was signalled since it was issued.
    private const int Idle = 0, Committing = 1, CommittingAndSignalled = 2;
    // Commits issued back to back from the commit callback before the committer thread takes over: that callback runs
    // on a pool thread, which should not be kept busy forever.
    private const int MaxChainedCommits = 16;
    // How often a commit also writes its commit slot (fast-commit mode; SlotCommitManager): bounds recovery's
    // forward scan to about this much appended data, for one extra write per interval.
    private static readonly TimeSpan MetadataInterval = TimeSpan.FromSeconds(1);

    private readonly SpoolDevice _device;
    private readonly SlotCommitManager _commits;
    private readonly ILogger _logger;
    private readonly Action<SpoolLog, Exception> _onFailure;
    private readonly object _wakeGate = new(); // with _wakeRequested: the committer thread's wake-up, which never spins
    private bool _wakeRequested;
    private long _soonAddress = -1; // under _wakeGate: the highest address SignalSoon asked to have committed
    private long _soonDeadline; // under _wakeGate: Environment.TickCount64 by which that commit is due
    private readonly Thread _committer;
    private readonly Action _committed;
    private readonly List<CommitWaiter> _waiters = []; // also the lock for _spareWaiters and _waitersClosed
    private readonly Stack<CommitWaiter> _spareWaiters = [];
    private Exception? _waitersClosed; // set once: no commit will come any more (failure or dispose)
    private int _state;
    private volatile bool _inFlight; // a commit was issued and its OnCommitted has not finished with it
    private int _chained;
    private volatile bool _stopping;
    private volatile bool _commitOnStop = true;
    private readonly bool _commitWritesInline;
    private long _cachedReads;

    private SpoolLog(string name, string directory, int pageBits, int segmentBits, FasterLog log, SpoolDevice device, SlotCommitManager commits,
        ILogger logger, Action<SpoolLog, Exception> onFailure, bool commitWritesInline)
    {
        Name = name;
        Directory = directory;
        PageBits = pageBits;
        SegmentBits = segmentBits;
        Log = log;
        _device = device;
        _commits = commits;
        _logger = logger;
        _onFailure = onFailure;
        _commitWritesInline = commitWritesInline;
        _committed = OnCommitted;
        _committer = new Thread(CommitterLoop) { IsBackground = true, Name = "spool-commit " + name };
        device.WriteFailed = OnStorageFailure;
        commits.CommitFailed = OnStorageFailure;
    }

    public string Name { get; }
    public string Directory { get; }
    public int PageBits { get; }
    public int SegmentBits { get; }
    public FasterLog Log { get; }
    public long TailAddress => Log.TailAddress;
    public long BeginAddress => Log.BeginAddress;
    public long CommittedUntilAddress => Log.CommittedUntilAddress;
    public Exception? Failure => Volatile.Read(ref _failure);
    internal SpoolDevice Device => _device;
    internal SlotCommitManager Commits => _commits;
    private Exception? _failure;

    /// <summary>
    /// Reads the committed entry at <paramref name="address"/> (FASTER's header, then the payload; <paramref name="entry"/>
    /// sized to exactly that) straight from its segment file on the calling thread, if the page cache holds it, and
    /// checks it as FASTER's read would. False when it is not cached, not committed or not intact: then read it through
    /// <see cref="FasterLog.ReadAsync(long, System.Buffers.MemoryPool{byte}, int, CancellationToken)"/>.
    /// </summary>
    /// <remarks>
    /// Why: FASTER's read always goes through the device and the thread pool, with a semaphore, a cleared buffer and a
    /// second copy per entry, though what is read was usually written a moment ago and is still cached (perf/RESULTS.md
    /// item 26). A committed entry is in its segment file for good (its bytes are never rewritten with others), at the
    /// logical address itself: FASTER maps address A to segment A >> SegmentBits, offset A mod the segment size.
    /// </remarks>
    public bool TryReadCommitted(long address, Span<byte> entry)
    {
        if (RefuseCachedReads || address < BeginAddress || address + entry.Length > CommittedUntilAddress)
            return false;
        int segment = (int)(address >> SegmentBits);
        long offset = address & ((1L << SegmentBits) - 1);
        if (!_device.TryReadCached(segment, offset, entry) || !FasterEntry.IsIntact(entry))
            return false;
        Interlocked.Increment(ref _cachedReads);
        return true;
    }

    /// <summary>Entries <see cref="TryReadCommitted"/> has returned so far (tests).</summary>
    internal long CachedReads => Interlocked.Read(ref _cachedReads);

    /// <summary>Tests: <see cref="TryReadCommitted"/> answers false, as for entries no longer in the page cache.</summary>
    internal bool RefuseCachedReads { get; set; }

    /// <summary>
    /// Opens and recovers the log, refusing (SpoolRecoveryException) when it would silently come back emptier than
    /// what was committed (§6.1): no readable commit while segments hold data, or recovery below the high-water mark.
    /// </summary>
    public static SpoolLog Open(string name, string directory, int pageBits, int memoryBits, int segmentBits, long zeroAhead,
        bool commitWritesInline, ILoggerFactory loggerFactory, Action<SpoolLog, Exception> onFailure)
    {
        System.IO.Directory.CreateDirectory(directory);
        bool segmentsHoldData = SegmentsHoldData(directory);
        var commitPath = Path.Combine(directory, CommitFileName);
        if (!File.Exists(commitPath) && segmentsHoldData)
            throw new SpoolRecoveryException($"The {name} log in '{directory}' has segment files with data but no commit file '{CommitFileName}'; refusing to start on what would be an empty log. Restore the file or move the spool aside.");

        var commits = SlotCommitManager.Open(commitPath, MetadataInterval);
        SpoolDevice? device = null;
        FasterLog? log = null;
        try
        {
            if (!commits.HasValidCommit && segmentsHoldData)
                throw new SpoolRecoveryException($"The {name} log in '{directory}' has segment files with data but neither commit slot in '{CommitFileName}' is readable; refusing to start on what would be an empty log.");

            (device, log) = Recover(name, directory, pageBits, memoryBits, segmentBits, zeroAhead, commits, loggerFactory);
            long tail = log.TailAddress;
            var pastTail = SegmentsPast(directory, tail, segmentBits);
            if (HoldsBytesBeyond(pastTail))
            {
                // FASTER has read the tail's sector into memory, an earlier run's bytes past the tail included, and
                // would write them back with its next flush: cut, then recover again from the cut files.
                log.Dispose();
                log = null;
                device.Dispose();
                device = null;
                Cut(pastTail);
                (device, log) = Recover(name, directory, pageBits, memoryBits, segmentBits, zeroAhead, commits, loggerFactory);
                if (log.TailAddress != tail)
                    throw new SpoolRecoveryException($"The {name} log in '{directory}' recovered to address {log.TailAddress} after cutting it at {tail}; refusing to start.");
            }

            if (log.CommittedUntilAddress < commits.OpenedHighWater)
                throw new SpoolRecoveryException($"The {name} log in '{directory}' recovered to address {log.CommittedUntilAddress}, below its committed high-water mark {commits.OpenedHighWater}; refusing to start.");

            var spoolLog = new SpoolLog(name, directory, pageBits, segmentBits, log, device, commits, loggerFactory.CreateLogger("RelayAppliance.Spool"), onFailure, commitWritesInline);
            spoolLog._committer.Start();
            return spoolLog;
        }
        catch
        {
            log?.Dispose();
            device?.Dispose();
            commits.Dispose();
            throw;
        }
    }

    private static (SpoolDevice Device, FasterLog Log) Recover(string name, string directory, int pageBits, int memoryBits, int segmentBits,
        long zeroAhead, SlotCommitManager commits, ILoggerFactory loggerFactory)
    {
        var device = new SpoolDevice(Path.Combine(directory, SegmentBaseName), zeroAhead);
        FasterLog? log = null;
        try
        {
            var settings = new FasterLogSettings
            {
                LogDevice = device,
                PageSizeBits = pageBits,
                MemorySizeBits = memoryBits,
                SegmentSizeBits = segmentBits,
                LogCommitManager = commits,
                LogChecksum = LogChecksumType.PerEntry,
                FastCommitMode = true,
                // The default swallows recovery errors and can come back empty: we recover explicitly below.
                TryRecoverLatest = false,
                AutoCommit = false,
            };
            log = new FasterLog(settings, loggerFactory.CreateLogger("FASTER." + name));
            log.Recover();
            return (device, log);
        }
        catch (Exception ex)
        {
            log?.Dispose();
            device.Dispose();
            throw new SpoolRecoveryException($"Recovering the {name} log in '{directory}' failed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// True if a segment file holds anything but zeros past the recovered tail. Recovery scans forward from the newest
    /// commit slot and adopts every readable commit record it meets. Bytes an earlier run left past the tail (flushed
    /// but never committed, or a torn write's surviving sectors) would, once this run's records end exactly where one
    /// of theirs begins, continue that chain after a crash: a message never acknowledged, or another run's record,
    /// would come back as committed. After a clean stop only zeros (the zero-filled space) follow the tail.
    /// </summary>
    private static bool HoldsBytesBeyond(List<(FileInfo File, long Keep)> pastTail)
    {
        var buffer = new byte[64 * 1024];
        foreach (var (file, keep) in pastTail)
        {
            using var handle = File.OpenHandle(file.FullName);
            for (long at = keep; at < file.Length;)
            {
                int read = RandomAccess.Read(handle, buffer, at);
                if (read == 0)
                    break;
                if (buffer.AsSpan(0, read).ContainsAnyExcept((byte)0))
                    return true;
                at += read;
            }
        }
        return false;
    }

    /// <summary>Cuts every segment file at the recovered tail (later ones to nothing), durably; past it reads return zeros.</summary>
    private static void Cut(List<(FileInfo File, long Keep)> pastTail)
    {
        foreach (var (file, keep) in pastTail)
        {
            // Later segments become empty rather than deleted: a file's new length is durable with its own fsync,
            // a deletion only with the directory's.
            using var handle = File.OpenHandle(file.FullName, FileMode.Open, FileAccess.ReadWrite);
            RandomAccess.SetLength(handle, keep);
            RandomAccess.FlushToDisk(handle);
        }
    }

    /// <summary>The segment files longer than what they hold up to <paramref name="tail"/>, with that length.</summary>
    private static List<(FileInfo File, long Keep)> SegmentsPast(string directory, long tail, int segmentBits)
    {
        var segments = new List<(FileInfo, long)>();
        foreach (var (file, segment) in NumberedSegments(directory))
        {
            long keep = Math.Max(0, tail - (segment << segmentBits));
            if (LengthOrGone(file) > keep)
                segments.Add((file, keep));
        }
        return segments;
    }

    /// <summary>
    /// Deletes the segment files wholly below the begin address, which nothing reads any more. FASTER deletes them
    /// after the commit that moves the begin address; a crash or a stop in between leaves them behind (a body segment
    /// is 1 GiB), and nothing else would ever delete them. The spool calls this only once it has checked its index
    /// against the logs, so a spool that refuses to start keeps every file. Returns the files and bytes deleted.
    /// </summary>
    public (int Files, long Bytes) DeleteSegmentsBelowBegin()
    {
        long beginSegment = Log.BeginAddress >> SegmentBits;
        int files = 0;
        long bytes = 0;
        foreach (var (file, segment) in NumberedSegments(Directory))
        {
            if (segment >= beginSegment)
                continue;
            long length = LengthOrGone(file);
            if (length < 0)
                continue; // deleted meanwhile
            try
            {
                file.Delete(); // no directory fsync: should the deletion be lost, the next start deletes it again
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // dead space only; the next start tries again
            }
            files++;
            bytes += length;
        }
        return (files, bytes);
    }

    /// <summary>The files named like segments (<c>log.N</c>), with their segment number.</summary>
    private static IEnumerable<(FileInfo File, long Segment)> NumberedSegments(string directory)
    {
        var prefix = SegmentBaseName + ".";
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles(prefix + "*"))
        {
            if (long.TryParse(file.Name.AsSpan(prefix.Length), out long segment) && segment >= 0)
                yield return (file, segment);
        }
    }

    private static bool SegmentsHoldData(string directory)
    {
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles(SegmentBaseName + ".*"))
        {
            if (LengthOrGone(file) > 0)
                return true;
        }
        return false;
    }

    /// <summary>
    /// The file's length, or -1 if it was deleted after the listing. FASTER deletes the segments below a new begin
    /// address in the background, after the commit that records it, so a spool disposed in this process may still be
    /// deleting them while the next one opens (the tests do that). Such files are never read again.
    /// </summary>
    private static long LengthOrGone(FileInfo file)
    {
        try
        {
            return file.Length;
        }
        catch (FileNotFoundException)
        {
            return -1;
        }
    }

    /// <summary>Asks for a commit covering everything appended so far. Cheap and coalescing.</summary>
    public void Signal()
    {
        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case CommittingAndSignalled:
                    return;
                case Committing:
                    if (Interlocked.CompareExchange(ref _state, CommittingAndSignalled, Committing) == Committing)
                        return;
                    break;
                default:
                    if (Interlocked.CompareExchange(ref _state, Committing, Idle) == Idle)
                    {
                        WakeCommitter();
                        return;
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// Asks for a commit covering <paramref name="address"/> within <see cref="SoonDelay"/>: for records nobody waits
    /// on to answer a client (delivery results), which then ride on the commits accepted mail signals anyway.
    /// </summary>
    /// <remarks>
    /// Why: end to end, each delivery's result otherwise took a synchronous journal write of its own, about two per
    /// three messages besides the accepting ones (perf/RESULTS.md item 27). A crash in the delay repeats those
    /// deliveries, as one between the peer's 250 and the journal's commit always could; Postfix's unlink of a delivered
    /// queue file is not synced either.
    /// </remarks>
    public void SignalSoon(long address)
    {
        lock (_wakeGate)
        {
            if (_soonAddress < 0)
            {
                _soonDeadline = Environment.TickCount64 + (long)SoonDelay.TotalMilliseconds;
                Monitor.Pulse(_wakeGate); // the committer now waits no longer than the deadline
            }
            _soonAddress = Math.Max(_soonAddress, address);
        }
    }

    /// <summary>How long <see cref="SignalSoon"/> lets a record wait for a commit that would happen anyway (tests set it).</summary>
    internal TimeSpan SoonDelay { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Commits issued so far (tests).</summary>
    internal long CommitsIssued => Interlocked.Read(ref _commitsIssued);
    private long _commitsIssued;

    /// <summary>Appends one entry; awaits buffer space (no spinning) when the in-memory pages are full.</summary>
    public ValueTask<long> EnqueueAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken)
        => Log.EnqueueAsync(entry, cancellationToken);

    /// <summary>
    /// Waits until the entry at <paramref name="address"/> is covered by a completed commit; the caller has called
    /// <see cref="Signal"/> after appending it. CommittedUntilAddress only moves once the write holding the commit
    /// record has returned (O_DSYNC), so the address alone proves durability. The continuation may run on the
    /// committing thread.
    /// </summary>
    public ValueTask WaitForCommitAsync(long address)
    {
        if (Log.CommittedUntilAddress > address)
            return default;
        lock (_waiters)
        {
            if (Log.CommittedUntilAddress > address) // committed meanwhile: its release may already have run
                return default;
            if (_waitersClosed is { } closed)
                return ValueTask.FromException(closed);
            var waiter = _spareWaiters.TryPop(out var spare) ? spare : new CommitWaiter(this);
            waiter.Address = address;
            _waiters.Add(waiter);
            return waiter.Task;
        }
    }

    /// <summary>Commits now even if no entry was appended (persists a moved begin address after truncation).</summary>
    public async ValueTask CommitNowAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Log.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            OnStorageFailure(ex);
            throw;
        }
        ReleaseCommitted(); // it may have covered entries whose waiters the committer's commit did not
    }

    private void WakeCommitter()
    {
        lock (_wakeGate)
        {
            _wakeRequested = true;
            Monitor.Pulse(_wakeGate);
        }
    }

    private void CommitterLoop()
    {
        while (true)
        {
            lock (_wakeGate)
            {
                while (!_wakeRequested)
                {
                    if (_soonAddress >= 0 && Log.CommittedUntilAddress > _soonAddress)
                        _soonAddress = -1; // another commit covered it
                    long wait = _soonDeadline - Environment.TickCount64;
                    if (_soonAddress < 0)
                    {
                        Monitor.Wait(_wakeGate);
                    }
                    else if (wait > 0)
                    {
                        Monitor.Wait(_wakeGate, (int)wait);
                    }
                    else
                    {
                        _soonAddress = -1;
                        // Through the state machine: this wakes us, unless a commit in flight will chain the next one.
                        Signal();
                    }
                }
                _wakeRequested = false;
            }
            if (_stopping)
                return;
            _chained = 0;
            IssueCommit();
        }
    }

    /// <summary>Issues a commit of everything appended (state: Committing); its completion runs <see cref="OnCommitted"/>.</summary>
    private void IssueCommit()
    {
        bool issued;
        _inFlight = true;
        SpoolDevice.WriteInline = _commitWritesInline;
        try
        {
            // A strong commit, because only those take a completion callback. Our committer serialises them anyway.
            issued = Log.CommitStrongly(out _, out _, spinWait: false, callback: _committed);
        }
        catch (Exception ex)
        {
            OnStorageFailure(ex);
            return;
        }
        finally
        {
            SpoolDevice.WriteInline = false;
        }
        // Nothing new since the last commit: whoever committed it releases its waiters (CommitNowAsync too), not this
        // thread, which may be the committer's and must never run a waiter's continuation.
        if (issued)
            Interlocked.Increment(ref _commitsIssued);
        else
            CommitFinished();
    }

    /// <summary>A commit is durable: release its waiters, then issue the next commit if one was signalled.</summary>
    private void OnCommitted()
    {
        ReleaseCommitted();
        CommitFinished();
    }

    private void CommitFinished()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Committing) == Committing)
        {
            _inFlight = false;
            return;
        }
        // Signalled meanwhile. On stop or after a failure the state stays busy: Signal must not wake anyone any more.
        if (_stopping || Failure is not null)
        {
            _inFlight = false;
            return;
        }
        Volatile.Write(ref _state, Committing);
        if (++_chained < MaxChainedCommits)
            IssueCommit();
        else
            WakeCommitter();
    }

    /// <summary>Completes every waiter the log's committed address now covers, each continuation inline.</summary>
    private void ReleaseCommitted()
    {
        long committed = Log.CommittedUntilAddress;
        CommitWaiter[] released;
        int count = 0;
        lock (_waiters)
        {
            if (_waiters.Count == 0)
                return;
            released = ArrayPool<CommitWaiter>.Shared.Rent(_waiters.Count);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Address < committed)
                {
                    released[count++] = _waiters[i];
                    _waiters[i] = _waiters[^1];
                    _waiters.RemoveAt(_waiters.Count - 1);
                }
            }
        }
        // Outside the lock: a continuation may append and wait again.
        for (int i = 0; i < count; i++)
            released[i].Complete(null);
        ArrayPool<CommitWaiter>.Shared.Return(released, clearArray: true);
    }

    /// <summary>No commit will come any more: what is committed completes, everything else fails with <paramref name="reason"/>.</summary>
    private void CloseWaiters(Exception reason)
    {
        long committed = Log.CommittedUntilAddress;
        CommitWaiter[] waiting;
        lock (_waiters)
        {
            _waitersClosed ??= reason;
            waiting = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var waiter in waiting)
            waiter.Complete(waiter.Address < committed ? null : _waitersClosed);
    }

    /// <summary>A pooled wait for one address: no allocation per message.</summary>
    private sealed class CommitWaiter(SpoolLog log) : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core; // continuations run inline: see the class remarks

        public long Address { get; set; }

        public ValueTask Task => new(this, _core.Version);

        public void Complete(Exception? error)
        {
            if (error is null)
                _core.SetResult(true);
            else
                _core.SetException(error);
        }

        public void GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                lock (log._waiters)
                    log._spareWaiters.Push(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>
    /// A data write (commit records included) or a commit slot failed (device or commit manager), or FASTER refused to
    /// commit: the log fails, and so do its waiters instead of waiting forever for a commit that cannot come.
    /// </summary>
    private void OnStorageFailure(Exception ex)
    {
        Fail(ex);
        // On the pool: this may run inside the device's or the commit manager's locks, and waiters continue inline.
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            var (log, error) = state;
            log.CloseWaiters(new IOException($"The {log.Name} log's commit failed: {error.Message}", error));
        }, (this, ex), preferLocal: false);
    }

    /// <summary>
    /// Tests: makes dispose behave like a crash for this log: whatever was appended but not yet committed stays
    /// uncommitted (no commit on the way out).
    /// </summary>
    internal void AbandonUncommittedOnDispose() => _commitOnStop = false;

    /// <summary>Marks the log (and through the callback the spool) Failed; internal so tests can inject a device failure.</summary>
    internal void Fail(Exception ex)
    {
        if (Interlocked.CompareExchange(ref _failure, ex, null) is not null)
            return;
        SpoolLogMessages.CommitFailed(_logger, ex, Name);
        _onFailure(this, ex);
    }

    public async ValueTask DisposeAsync()
    {
        // Never on FASTER's commit callback: a waiter's continuation runs there (ReleaseCommitted), so a caller that
        // awaited a commit and then closes the spool would reach Log.Dispose on it, and FasterLog.Dispose waits for
        // that callback to return: a hang for good whenever nothing below awaits first (after a storage failure).
        await Task.Yield();
        _stopping = true;
        WakeCommitter();
        _committer.Join(); // it issues nothing more; a commit it issued may still be in flight
        // Until the commit in flight has completed (OnCommitted does not chain once stopping) or failed. Bounded, so
        // that a commit that never completes cannot hang shutdown.
        long giveUpAt = Environment.TickCount64 + 10_000;
        while (_inFlight && Failure is null && Environment.TickCount64 < giveUpAt)
            await Task.Delay(1).ConfigureAwait(false);
        try
        {
            // Lets anyone still waiting finish; everything appended is either a durable message or dead space.
            if (_commitOnStop && Failure is null && Log.TailAddress > Log.CommittedUntilAddress)
                await Log.CommitAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SpoolLogMessages.CommitFailed(_logger, ex, Name);
        }
        CloseWaiters(new ObjectDisposedException(nameof(SpoolLog), $"The {Name} log was closed before the entry was committed."));
        Log.Dispose();
        _device.Dispose();
        _commits.Dispose();
    }
}
