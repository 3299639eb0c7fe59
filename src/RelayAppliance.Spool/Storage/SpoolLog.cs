using FASTER.core;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// One FasterLog of the spool (journal or bodies) with its device, its two-slot commit manager and its group
/// committer: a single task that commits whenever someone has signalled new data (faster-spool.md §7.3.4).
/// Producers append, call <see cref="Signal"/> and await <see cref="WaitForCommitAsync"/>.
/// </summary>
internal sealed class SpoolLog : IAsyncDisposable
{
    public const string SegmentBaseName = "log";
    public const string CommitFileName = "commit.slots";

    private readonly IDevice _device;
    private readonly SlotCommitManager _commits;
    private readonly ILogger _logger;
    private readonly Action<SpoolLog, Exception> _onFailure;
    private readonly SemaphoreSlim _signal = new(0);
    private int _pending;
    private volatile bool _stopping;
    private volatile bool _commitOnStop = true;
    private Task _committer = Task.CompletedTask;

    private SpoolLog(string name, string directory, int pageBits, int segmentBits, FasterLog log, IDevice device, SlotCommitManager commits,
        ILogger logger, Action<SpoolLog, Exception> onFailure)
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
    private Exception? _failure;

    /// <summary>
    /// Opens and recovers the log, refusing (SpoolRecoveryException) when it would silently come back emptier than
    /// what was committed (§6.1): no readable commit while segments hold data, or recovery below the high-water mark.
    /// </summary>
    public static SpoolLog Open(string name, string directory, int pageBits, int memoryBits, int segmentBits, long zeroAhead,
        ILoggerFactory loggerFactory, Action<SpoolLog, Exception> onFailure)
    {
        System.IO.Directory.CreateDirectory(directory);
        bool segmentsHoldData = SegmentsHoldData(directory);
        var commitPath = Path.Combine(directory, CommitFileName);
        if (!File.Exists(commitPath) && segmentsHoldData)
            throw new SpoolRecoveryException($"The {name} log in '{directory}' has segment files with data but no commit file '{CommitFileName}'; refusing to start on what would be an empty log. Restore the file or move the spool aside.");

        var commits = SlotCommitManager.Open(commitPath);
        IDevice? device = null;
        FasterLog? log = null;
        try
        {
            if (!commits.HasValidCommit && segmentsHoldData)
                throw new SpoolRecoveryException($"The {name} log in '{directory}' has segment files with data but neither commit slot in '{CommitFileName}' is readable; refusing to start on what would be an empty log.");

            device = new SpoolDevice(Path.Combine(directory, SegmentBaseName), zeroAhead);
            var settings = new FasterLogSettings
            {
                LogDevice = device,
                PageSizeBits = pageBits,
                MemorySizeBits = memoryBits,
                SegmentSizeBits = segmentBits,
                LogCommitManager = commits,
                LogChecksum = LogChecksumType.PerEntry,
                FastCommitMode = false,
                // The default swallows recovery errors and can come back empty: we recover explicitly below.
                TryRecoverLatest = false,
                AutoCommit = false,
            };
            log = new FasterLog(settings, loggerFactory.CreateLogger("FASTER." + name));
            try
            {
                log.Recover();
            }
            catch (Exception ex)
            {
                throw new SpoolRecoveryException($"Recovering the {name} log in '{directory}' failed: {ex.Message}", ex);
            }

            if (log.CommittedUntilAddress < commits.OpenedHighWater)
                throw new SpoolRecoveryException($"The {name} log in '{directory}' recovered to address {log.CommittedUntilAddress}, below its committed high-water mark {commits.OpenedHighWater}; refusing to start.");

            var spoolLog = new SpoolLog(name, directory, pageBits, segmentBits, log, device, commits, loggerFactory.CreateLogger("RelayAppliance.Spool"), onFailure);
            spoolLog._committer = Task.Run(spoolLog.RunCommitterAsync);
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

    private static bool SegmentsHoldData(string directory)
    {
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles(SegmentBaseName + ".*"))
        {
            if (file.Length > 0)
                return true;
        }
        return false;
    }

    /// <summary>Asks the committer for a commit covering everything appended so far. Cheap and coalescing.</summary>
    public void Signal()
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
            _signal.Release();
    }

    /// <summary>Appends one entry; awaits buffer space (no spinning) when the in-memory pages are full.</summary>
    public ValueTask<long> EnqueueAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken)
        => Log.EnqueueAsync(entry, cancellationToken);

    /// <summary>Waits until the entry at <paramref name="address"/> is covered by a completed commit.</summary>
    public ValueTask WaitForCommitAsync(long address, CancellationToken cancellationToken)
    {
        // untilAddress = address + 1: "the tail at call time" would also wait for other sessions' later entries.
        // commitNum = 0: CommittedUntilAddress only moves after the commit record is written (non-fast mode), so the
        // address alone proves durability; waiting for the newest commit number would add a commit of latency.
        return Log.WaitForCommitAsync(address + 1, 0, cancellationToken);
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
            Fail(ex);
            throw;
        }
    }

    private async Task RunCommitterAsync()
    {
        while (true)
        {
            await _signal.WaitAsync().ConfigureAwait(false);
            if (_stopping && !_commitOnStop)
                return;
            // Clear the flag before reading the tail: a producer that appends after this point signals again.
            Volatile.Write(ref _pending, 0);
            try
            {
                if (Log.TailAddress > Log.CommittedUntilAddress)
                    await Log.CommitAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Fail(ex);
                return;
            }
            if (_stopping)
                return;
        }
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
        _stopping = true;
        _signal.Release();
        await _committer.ConfigureAwait(false);
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
        Log.Dispose();
        _device.Dispose();
        _commits.Dispose();
        _signal.Dispose();
    }
}
