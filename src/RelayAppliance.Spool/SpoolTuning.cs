namespace RelayAppliance.Spool;

/// <summary>
/// Sizes of the two FasterLogs and background cadences. Defaults follow faster-spool.md §7.1; tests use
/// <see cref="Small"/> so that segment deletion is observable with a few messages.
/// </summary>
internal sealed record SpoolTuning
{
    /// <summary>Journal: 4 MiB pages (an Accepted record must fit in one page), 8 MiB buffer (two pages, FASTER's
    /// minimum; records are small), 256 MiB segments.</summary>
    public int JournalPageBits { get; init; } = 22;
    public int JournalMemoryBits { get; init; } = 23;
    public int JournalSegmentBits { get; init; } = 28;

    /// <summary>
    /// Bodies: 1 MiB pages hold 16 chunk entries of exactly 64 KiB, a 4 MiB buffer, 1 GiB segments. The buffer bounds
    /// what a streaming body costs in RSS (a 50 MB message must not raise it by more than a few MB); full pages are
    /// flushed in the background while DATA streams, so a small buffer costs no throughput at disk speed.
    /// </summary>
    public int BodyPageBits { get; init; } = 20;
    public int BodyMemoryBits { get; init; } = 22;
    public int BodySegmentBits { get; init; } = 30;

    /// <summary>
    /// How far past the last write the journal's segment is kept zero-filled (<see cref="Storage.SpoolDevice"/>), so
    /// that a commit's synchronous write overwrites allocated blocks instead of growing the file, which would also make it
    /// write the file's new size and block map synchronously. Every journal byte is written twice, but the journal is
    /// small per message and every commit writes to it: 1 KiB ingest +5–15 % in most pairs, 2–11 % less CPU
    /// (perf/RESULTS.md).
    /// </summary>
    public long JournalZeroAhead { get; init; } = 4 << 20;

    /// <summary>
    /// The same for the body log; off: there the doubled writes cost more than the commits save (100 KiB end to end
    /// −10–17 % CPU per message without it), because B's writes are mostly whole 1 MiB pages.
    /// </summary>
    public long BodyZeroAhead { get; init; }

    /// <summary>
    /// Whether a log's commits write their data on the committing thread (<see cref="Storage.SpoolDevice.WriteInline"/>)
    /// instead of handing it to the device's writer thread. The journal does: every message waits for its commit, and
    /// the hand-off cost a wake-up per commit (perf/RESULTS.md item 16). The bodies log does not: FASTER issues that
    /// write while its epoch is held, and until it returns a session whose chunk needs a new page spins in FASTER's
    /// allocator (<c>TryAllocateRetryNow</c>), because the oldest page cannot be closed. Handing it off: 100 KiB ingest
    /// at 10 per connection +23–52 %, 23–39 % less CPU per message; end to end 14–19 % less (item 24). The journal's
    /// 4 MiB pages turn about once per 2,700 small messages, so it seldom meets that.
    /// </summary>
    public bool JournalCommitWritesInline { get; init; } = true;
    public bool BodyCommitWritesInline { get; init; }

    /// <summary>Size of the pooled chunk buffer; one chunk entry (our prefix + payload + FASTER header) fills it exactly.</summary>
    public int ChunkBufferSize { get; init; } = 64 * 1024;

    /// <summary>
    /// Bodies up to this many bytes are stored inside the journal's Accepted record instead of B, so that the message
    /// needs one log's commit (two device flushes) instead of two logs' (four): most relayed mail is a few KiB, and on
    /// the 2-core VM this raised 1 KiB ingest by 14-47 % at 100 messages per connection (perf/RESULTS.md). 0 turns it off.
    /// </summary>
    public int InlineBodyLimit { get; init; } = 4096;

    /// <summary>
    /// ... but only while the records the index keeps in memory (every queued message's, inline bodies included) total
    /// less than this many bytes: so inline bodies cost at most 64 MiB of RSS however large a deferred queue grows.
    /// Beyond it bodies go to B as before. A byte budget, not a message count (16,384 before), so that small mail
    /// stays inline about three times as long: 1 KiB messages up to ~50,000 queued (perf/RESULTS.md item 25).
    /// </summary>
    public long InlineBodyMaxKeptBytes { get; init; } = 64L << 20;

    /// <summary>How often the reclaimer truncates/compacts; <see cref="Timeout.InfiniteTimeSpan"/> disables the loop.</summary>
    public TimeSpan ReclaimInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often free disk space is sampled for <see cref="SpoolHealth.LowDiskSpace"/>.</summary>
    public TimeSpan DiskCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Compact the journal only when live records are at most this fraction of the reclaimable bytes.</summary>
    public double JournalCompactionLiveFraction { get; init; } = 0.25;

    /// <summary>
    /// Copy the live messages of B's head segment forward (so that it can be truncated) when their bytes are at most
    /// this fraction of a segment: the copy costs that fraction of a segment's write to free a whole segment.
    /// </summary>
    public double BodyCopyForwardLiveFraction { get; init; } = 0.25;

    /// <summary>
    /// ... and every live message there is at least this old: young mail usually leaves by itself within minutes, and
    /// copying it would only add writes. Tests set zero.
    /// </summary>
    public TimeSpan BodyCopyForwardMinAge { get; init; } = TimeSpan.FromMinutes(5);

    public static SpoolTuning Default { get; } = new();

    /// <summary>
    /// Tiny pages and segments: 64 KiB body pages, 128 KiB body segments, 8 KiB journal pages, 16 KiB journal segments;
    /// no inline bodies, so that small test messages exercise B (tests of inline bodies turn it on).
    /// </summary>
    public static SpoolTuning Small { get; } = new()
    {
        JournalPageBits = 13,
        JournalMemoryBits = 15,
        JournalSegmentBits = 14,
        BodyPageBits = 16,
        BodyMemoryBits = 18,
        BodySegmentBits = 17,
        ReclaimInterval = Timeout.InfiniteTimeSpan,
        InlineBodyLimit = 0,
        JournalZeroAhead = 4096,
        BodyZeroAhead = 32 * 1024, // off by default, but kept working: the spool tests run it under FASTER
    };

    internal void Validate()
    {
        if (ChunkBufferSize > 1 << BodyPageBits)
            throw new ArgumentException("A body chunk must fit in one body page.");
        if (JournalSegmentBits < JournalPageBits || BodySegmentBits < BodyPageBits)
            throw new ArgumentException("A segment must hold at least one page.");
        if (JournalMemoryBits < JournalPageBits + 1 || BodyMemoryBits < BodyPageBits + 1)
            throw new ArgumentException("The in-memory buffer must hold at least two pages.");
        if (InlineBodyLimit < 0 || InlineBodyMaxKeptBytes < 0 || InlineBodyLimit > 1 << (JournalPageBits - 1))
            throw new ArgumentException("Inline bodies need a non-negative limit of at most half a journal page (the envelope needs the rest).");
        if (JournalZeroAhead < 0 || BodyZeroAhead < 0)
            throw new ArgumentException("Zero-fill ahead cannot be negative.");
        if (BodyCopyForwardLiveFraction is < 0 or > 1 || BodyCopyForwardMinAge < TimeSpan.Zero)
            throw new ArgumentException("Copy-forward needs a live fraction in [0, 1] and a non-negative age.");
    }
}
