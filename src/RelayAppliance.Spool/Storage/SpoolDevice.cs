using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// The FASTER device under each spool log: one O_DSYNC handle per segment file (<see cref="DataSyncFile"/>),
/// positional reads and writes, and one writer thread that keeps the segment being appended to zero-filled a little
/// ahead of the last write. A write issued by the log's committer (<see cref="WriteInline"/>) is performed on the
/// committer's own thread.
/// </summary>
/// <remarks>
/// Why not FASTER's ManagedLocalStorageDevice: every one of its writes grows the file, so each durable write also has
/// to write the file's new size and block map synchronously (on this VM's ext4, which has no journal, a second block
/// write; with a journal, a journal commit): 0.26 ms and ~88 µs of CPU per 1.5 KiB O_SYNC write on this disk against
/// 0.17 ms and ~50 µs for the same write over zeros already on disk (perf/RESULTS.md). It also hops through Task.Run,
/// FileStream.WriteAsync and FlushAsync per write; here a write is one queue hand-off to the writer thread, or none
/// for the committer's writes. Durability is the same: a write's callback runs only after its O_DSYNC pwrite returned.
/// Zero-fill never touches bytes anyone wrote: it only writes at or beyond both the segment file's length when this
/// run first wrote to it (an earlier run's bytes stay) and the highest end of any data written since, and data
/// writes and zero-fill are serialised by one lock.
/// </remarks>
internal sealed class SpoolDevice : StorageDeviceBase
{
    private const int ZeroChunkSize = 256 * 1024; // one synchronous zero write: ~1 ms that a commit may queue behind
    private static readonly byte[] Zeros = new byte[ZeroChunkSize];

    private readonly long _zeroAhead;
    private readonly Dictionary<int, SafeFileHandle> _segments = [];
    private readonly Queue<PendingWrite> _writes = new(); // also the monitor the writer thread waits on
    private long _inlineWrites;
    private bool _cachedReadsUnsupported;
    // Serialises data writes and zero-fill, and guards the tail fields below. The writer thread takes it inside
    // _writes; nothing takes _writes inside it.
    private readonly Lock _io = new();
    private readonly Thread _writer;
    private bool _stopping;
    private bool _disposed; // guarded by _segments

    // Guarded by _io: the newest segment written, how far it holds data, and how far it is allocated on disk
    // (data or zeros) — the file's length when first seen, then grown by writes and zero-fill.
    private SafeFileHandle? _tail;
    private int _tailSegment = -1;
    private long _tailWritten;
    private long _tailAllocated;
    private bool _zeroFilling;

    /// <param name="baseName">Path prefix of the segment files ("…/log" → "log.0", "log.1", …).</param>
    /// <param name="zeroAhead">How many bytes past the last write to keep zero-filled; 0 turns zero-fill off.</param>
    public SpoolDevice(string baseName, long zeroAhead) : base(baseName, 512, Devices.CAPACITY_UNSPECIFIED)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(zeroAhead);
        _zeroAhead = zeroAhead;
        RecoverSegmentRange();
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "spool-writer " + Path.GetFileName(Path.GetDirectoryName(baseName)) };
        _writer.Start();
    }

    [ThreadStatic]
    private static bool t_writeInline;

    /// <summary>
    /// While true, writes this thread issues to any SpoolDevice are performed right here, callback included: a commit's
    /// data write then costs no thread hand-off. Only the committer sets it, and only around issuing a commit.
    /// </summary>
    internal static bool WriteInline
    {
        get => t_writeInline;
        set => t_writeInline = value;
    }

    /// <summary>Writes performed on the issuing thread so far (tests).</summary>
    internal long InlineWrites => Interlocked.Read(ref _inlineWrites);

    /// <summary>Told about every failed data write before its callback runs (the log fails its waiters).</summary>
    internal Action<Exception>? WriteFailed { get; set; }

    /// <summary>Tests: every data write from now on fails with this.</summary>
    internal Exception? FailWritesWith { get; set; }

    private readonly record struct PendingWrite(IntPtr Source, int Segment, long Offset, uint Length,
        DeviceIOCompletionCallback Callback, object Context);

    /// <summary>Lets truncation after a restart know the first segment (the same rule as FASTER's own devices).</summary>
    private void RecoverSegmentRange()
    {
        var directory = Path.GetDirectoryName(FileName)!;
        if (!Directory.Exists(directory))
            return;
        var prefix = Path.GetFileName(FileName) + ".";
        var ids = new List<int>();
        foreach (var file in Directory.EnumerateFiles(directory, prefix + "*"))
        {
            if (int.TryParse(Path.GetFileName(file).AsSpan(prefix.Length), out var id) && id >= 0)
                ids.Add(id);
        }
        ids.Sort();
        for (int i = 0; i < ids.Count; i++)
        {
            if (i == 0 || ids[i] != ids[i - 1] + 1)
                startSegment = ids[i]; // the newest contiguous run is the live log
            endSegment = ids[i];
        }
    }

    public override bool Throttle() => false;

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite,
        DeviceIOCompletionCallback callback, object context)
    {
        var write = new PendingWrite(sourceAddress, segmentId, (long)destinationAddress, numBytesToWrite, callback, context);
        if (t_writeInline)
        {
            Interlocked.Increment(ref _inlineWrites);
            bool zeroFillDue;
            Exception? error;
            lock (_io)
            {
                error = Perform(write);
                zeroFillDue = ZeroFillDue();
            }
            if (zeroFillDue)
            {
                lock (_writes)
                    Monitor.Pulse(_writes);
            }
            Complete(write, error);
            return;
        }
        lock (_writes)
        {
            _writes.Enqueue(write);
            Monitor.Pulse(_writes);
        }
    }

    public override void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength,
        DeviceIOCompletionCallback callback, object context)
    {
        // Off the caller's thread: FASTER issues reads under epoch protection and expects the callback later.
        ThreadPool.UnsafeQueueUserWorkItem(new PendingRead(this, segmentId, (long)sourceAddress, destinationAddress, readLength, callback, context), preferLocal: false);
    }

    /// <summary>
    /// Reads <paramref name="destination"/> at <paramref name="offset"/> of a segment on the calling thread, if the page
    /// cache holds all of it (<see cref="PageCacheRead"/>): false when it does not, or when the segment is not open.
    /// </summary>
    internal bool TryReadCached(int segment, long offset, Span<byte> destination)
    {
        if (Volatile.Read(ref _cachedReadsUnsupported))
            return false;
        SafeFileHandle? handle;
        lock (_segments)
        {
            if (_disposed || !_segments.TryGetValue(segment, out handle))
                return false;
        }
        PageCacheRead.Outcome outcome;
        try
        {
            outcome = PageCacheRead.TryRead(handle, destination, offset);
        }
        catch (ObjectDisposedException)
        {
            return false; // the segment was removed meanwhile: the ordinary read reports what is wrong
        }
        if (outcome == PageCacheRead.Outcome.Unsupported)
            Volatile.Write(ref _cachedReadsUnsupported, true);
        return outcome == PageCacheRead.Outcome.Read;
    }

    /// <summary>
    /// Reads what the segment holds and zeros past its end, as a preallocated file would: recovery's scan for commit
    /// records must see the end of the log as zeros, never as whatever an earlier read left in FASTER's buffer. A
    /// segment that does not exist reads as zeros and is not created.
    /// </summary>
    private sealed class PendingRead(SpoolDevice device, int segment, long offset, IntPtr destination, uint length,
        DeviceIOCompletionCallback callback, object context) : IThreadPoolWorkItem
    {
        public unsafe void Execute()
        {
            uint error = 0;
            var buffer = new Span<byte>((void*)destination, (int)length);
            try
            {
                int read = 0;
                if (device.SegmentForRead(segment) is { } handle)
                {
                    while (read < buffer.Length)
                    {
                        int n = RandomAccess.Read(handle, buffer[read..], offset + read);
                        if (n == 0)
                            break;
                        read += n;
                    }
                }
                buffer[read..].Clear();
            }
            catch (Exception)
            {
                error = uint.MaxValue;
            }
            callback(error, error == 0 ? length : 0, context);
        }
    }

    private void WriterLoop()
    {
        while (true)
        {
            PendingWrite write;
            lock (_writes)
            {
                while (_writes.Count == 0 && !_stopping && !IsZeroFillDue())
                    Monitor.Wait(_writes);
                if (_writes.Count == 0 && _stopping)
                    return;
                _writes.TryDequeue(out write); // none: zero-fill is due
            }
            if (write.Callback is null)
            {
                lock (_io)
                {
                    if (ZeroFillDue()) // again: an inline write may have moved the tail since
                        ZeroFillOneChunk();
                }
                continue;
            }
            Exception? error;
            lock (_io)
                error = Perform(write);
            Complete(write, error);
        }
    }

    private bool IsZeroFillDue()
    {
        lock (_io)
            return ZeroFillDue();
    }

    /// <summary>Under _io; the callback runs outside it (<see cref="Complete"/>).</summary>
    private unsafe Exception? Perform(PendingWrite write)
    {
        try
        {
            if (FailWritesWith is { } injected)
                throw injected;
            var handle = Segment(write.Segment);
            RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)write.Source, (int)write.Length), write.Offset);
            NoteWritten(write.Segment, handle, write.Offset + write.Length);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private void Complete(PendingWrite write, Exception? error)
    {
        if (error is not null)
        {
            // Before FASTER hears of it: FASTER then fails the flush and the commit but calls nobody back.
            WriteFailed?.Invoke(error);
            write.Callback(uint.MaxValue, 0, write.Context);
            return;
        }
        write.Callback(0, write.Length, write.Context);
    }

    private void NoteWritten(int segment, SafeFileHandle handle, long end)
    {
        if (segment > _tailSegment)
        {
            _tail = handle;
            _tailSegment = segment;
            _tailWritten = 0;
            _tailAllocated = RandomAccess.GetLength(handle); // includes this write and zeros left by an earlier run
        }
        if (segment == _tailSegment)
        {
            _tailWritten = Math.Max(_tailWritten, end);
            _tailAllocated = Math.Max(_tailAllocated, end);
        }
    }

    private long ZeroFillTarget => Math.Min(_tailWritten + _zeroAhead, SegmentSize);

    /// <summary>
    /// Starts filling once less than half the distance is left and then fills all of it in large chunks: topping up
    /// after every write would add one small file-growing write per data write, the very cost this avoids.
    /// </summary>
    private bool ZeroFillDue()
    {
        if (_tail is null)
            return false;
        if (!_zeroFilling && _tailAllocated - _tailWritten < _zeroAhead / 2 && _tailAllocated < SegmentSize)
            _zeroFilling = true;
        else if (_zeroFilling && _tailAllocated >= ZeroFillTarget)
            _zeroFilling = false;
        return _zeroFilling;
    }

    private void ZeroFillOneChunk()
    {
        int length = (int)Math.Min(ZeroChunkSize, ZeroFillTarget - _tailAllocated);
        try
        {
            RandomAccess.Write(_tail!, Zeros.AsSpan(0, length), _tailAllocated);
            _tailAllocated += length;
        }
        catch (Exception)
        {
            // Only an optimisation (e.g. the disk is full): data writes report their own errors. Stop for this segment.
            _tail = null;
            _zeroFilling = false;
        }
    }

    /// <summary>The segment's handle for a read, or null when its file does not exist (nothing is created).</summary>
    private SafeFileHandle? SegmentForRead(int segment)
    {
        lock (_segments)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_segments.ContainsKey(segment) && !File.Exists(GetSegmentFilename(FileName, segment)))
                return null;
            return Segment(segment); // the same (reentrant) lock: nothing removes the file in between
        }
    }

    /// <summary>The segment's handle, opening (and creating) its file on first use.</summary>
    private SafeFileHandle Segment(int segment)
    {
        lock (_segments)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_segments.TryGetValue(segment, out var handle))
            {
                handle = DataSyncFile.OpenOrCreate(GetSegmentFilename(FileName, segment));
                _segments.Add(segment, handle);
            }
            return handle;
        }
    }

    public override void RemoveSegment(int segment)
    {
        lock (_segments)
        {
            if (_segments.Remove(segment, out var handle))
                handle.Dispose(); // a read still in flight holds its own reference (SafeHandle)
        }
        try
        {
            File.Delete(GetSegmentFilename(FileName, segment));
        }
        catch (IOException)
        {
            // FASTER's devices ignore this too: the file is dead space that the next start-up does not read
        }
    }

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    /// <summary>Writes already queued are performed (and their callbacks run) before the writer stops.</summary>
    public override void Dispose()
    {
        lock (_writes)
        {
            _stopping = true;
            Monitor.Pulse(_writes);
        }
        _writer.Join();
        lock (_segments)
        {
            _disposed = true;
            foreach (var handle in _segments.Values)
                handle.Dispose();
            _segments.Clear();
        }
    }
}
