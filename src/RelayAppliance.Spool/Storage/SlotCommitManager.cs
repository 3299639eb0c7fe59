using System.Buffers.Binary;
using System.Numerics;
using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// FASTER commit metadata in one file with two fixed 4 KiB slots, written in place and alternately
/// (faster-spool.md, "The two-slot commit manager"). The slot not being written always holds the previous
/// good commit, so a torn or zeroed newest slot falls back to that one instead of to an empty log (§6.1); in
/// fast-commit mode recovery then finds the commits after it in the log.
/// </summary>
/// <remarks>
/// Slot layout (little-endian): magic u32, version u16, reserved u16, commitNum i64, highWater i64,
/// beginAddress i64, untilAddress i64, metadataLength i32, crc32c u32 (over everything before it and the
/// metadata), metadata bytes. highWater is the largest committed address ever written to this file: the open
/// guard refuses a log that recovered below it.
/// With a metadata interval (the spool's logs run in FASTER's fast-commit mode, where each commit record is written
/// into the log with the data), a slot is written only for the log's first commit, when FASTER forces it (the begin
/// address moved: segments are about to be deleted) and when the interval has passed since the last one; recovery
/// scans forward from the slot's address for the newer commit records (SpoolLog).
/// </remarks>
internal sealed class SlotCommitManager : ILogCommitManager
{
    public const int SlotSize = 4096;
    private const uint Magic = 0x43534152; // "RASC"
    // 2: the log commits in fast-commit mode, so a slot may lag its log's newest commits. Relayd versions before that
    // read only version 1 and so refuse this file (no readable slot while segments hold data) instead of recovering
    // from a lagging slot and losing the commits after it. Version 1 slots (an upgrade) are read.
    private const ushort Version = 2;
    private const ushort FirstVersion = 1;
    private const int HeaderSize = 48;
    private const int CrcOffset = 44;

    private readonly SafeFileHandle _handle;
    private readonly Lock _gate = new();
    private readonly Slot?[] _slots = new Slot?[2];
    private readonly byte[] _buffer = new byte[SlotSize];
    private readonly long _intervalMs;
    private long _lastWriteAt;
    private int _newest = -1;

    private sealed record Slot(long CommitNum, long HighWater, long BeginAddress, long UntilAddress, byte[] Metadata);

    private SlotCommitManager(SafeFileHandle handle, TimeSpan metadataInterval)
    {
        _handle = handle;
        _intervalMs = (long)metadataInterval.TotalMilliseconds;
    }

    public string Path { get; private init; } = string.Empty;

    /// <summary>
    /// Told when writing a commit fails, before the exception leaves <see cref="Commit"/>: FASTER's commit worker
    /// swallows it and calls nobody back, so this is how the log learns that the commit will never complete.
    /// </summary>
    internal Action<Exception>? CommitFailed { get; set; }

    /// <summary>Tests: every commit written from now on fails with this.</summary>
    internal Exception? FailCommitsWith { get; set; }

    /// <summary>True when the file did not exist before this open.</summary>
    public bool Created { get; private init; }

    /// <summary>True when at least one slot holds a readable commit.</summary>
    public bool HasValidCommit => _newest >= 0;

    /// <summary>The high-water mark of the newest readable slot (0 when none).</summary>
    public long HighWater => _newest >= 0 ? _slots[_newest]!.HighWater : 0;

    /// <summary>The largest high-water mark readable when the file was opened: recovery must reach it.</summary>
    public long OpenedHighWater { get; private set; }

    /// <summary>Number of readable slots (0, 1 or 2); tests use it.</summary>
    internal int ValidSlotCount => (_slots[0] is null ? 0 : 1) + (_slots[1] is null ? 0 : 1);

    internal int NewestSlotIndex => _newest;

    /// <summary>Slots written since open; tests use it.</summary>
    internal int SlotWrites { get; private set; }

    /// <param name="metadataInterval">Zero: every commit is written. Otherwise see the class remarks.</param>
    public static SlotCommitManager Open(string path, TimeSpan metadataInterval = default)
    {
        bool created = !File.Exists(path);
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var manager = new SlotCommitManager(handle, metadataInterval) { Path = path, Created = created };
            if (created)
            {
                // Two empty slots, made durable once; afterwards the file never changes size or name.
                RandomAccess.Write(handle, new byte[2 * SlotSize], 0);
                RandomAccess.FlushToDisk(handle);
            }
            manager.ReadSlots();
            return manager;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private void ReadSlots()
    {
        for (int i = 0; i < 2; i++)
            _slots[i] = TryReadSlot(i);
        _newest = (_slots[0], _slots[1]) switch
        {
            (null, null) => -1,
            (not null, null) => 0,
            (null, not null) => 1,
            var (a, b) => a.CommitNum >= b.CommitNum ? 0 : 1,
        };
        OpenedHighWater = Math.Max(_slots[0]?.HighWater ?? 0, _slots[1]?.HighWater ?? 0);
    }

    private Slot? TryReadSlot(int index)
    {
        var buffer = new byte[SlotSize];
        int read = RandomAccess.Read(_handle, buffer, (long)index * SlotSize);
        if (read < HeaderSize)
            return null;
        var span = buffer.AsSpan(0, read);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(span[4..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic || version < FirstVersion || version > Version)
            return null;
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[40..]);
        if (length < 0 || length > read - HeaderSize)
            return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(span[CrcOffset..]) != Checksum(span[..CrcOffset], span.Slice(HeaderSize, length)))
            return null;
        return new Slot(
            CommitNum: BinaryPrimitives.ReadInt64LittleEndian(span[8..]),
            HighWater: BinaryPrimitives.ReadInt64LittleEndian(span[16..]),
            BeginAddress: BinaryPrimitives.ReadInt64LittleEndian(span[24..]),
            UntilAddress: BinaryPrimitives.ReadInt64LittleEndian(span[32..]),
            Metadata: span.Slice(HeaderSize, length).ToArray());
    }

    public void Commit(long beginAddress, long untilAddress, byte[] commitMetadata, long commitNum, bool forceWriteMetadata)
    {
        if (commitMetadata.Length > SlotSize - HeaderSize)
            throw new InvalidOperationException($"Commit metadata of {commitMetadata.Length} bytes does not fit a slot (named iterators or cookies are not supported).");
        lock (_gate)
        {
            // An injected failure applies to every commit, written or not, so tests need not wait for the interval.
            bool due = forceWriteMetadata || _newest < 0 || FailCommitsWith is not null
                || Environment.TickCount64 - _lastWriteAt >= _intervalMs;
            if (!due)
                return;
            // Overwrite the slot that does NOT hold the newest good commit: that one is our fallback.
            int target = _newest == 0 ? 1 : 0;
            long highWater = Math.Max(HighWater, untilAddress);
            var span = _buffer.AsSpan();
            span.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
            BinaryPrimitives.WriteUInt16LittleEndian(span[4..], Version);
            BinaryPrimitives.WriteInt64LittleEndian(span[8..], commitNum);
            BinaryPrimitives.WriteInt64LittleEndian(span[16..], highWater);
            BinaryPrimitives.WriteInt64LittleEndian(span[24..], beginAddress);
            BinaryPrimitives.WriteInt64LittleEndian(span[32..], untilAddress);
            BinaryPrimitives.WriteInt32LittleEndian(span[40..], commitMetadata.Length);
            commitMetadata.CopyTo(span[HeaderSize..]);
            BinaryPrimitives.WriteUInt32LittleEndian(span[CrcOffset..], Checksum(span[..CrcOffset], commitMetadata));

            try
            {
                if (FailCommitsWith is { } injected)
                    throw injected;
                RandomAccess.Write(_handle, _buffer, (long)target * SlotSize);
                RandomAccess.FlushToDisk(_handle);
            }
            catch (Exception ex)
            {
                CommitFailed?.Invoke(ex);
                throw;
            }

            _slots[target] = new Slot(commitNum, highWater, beginAddress, untilAddress, commitMetadata);
            _newest = target;
            _lastWriteAt = Environment.TickCount64;
            SlotWrites++;
        }
    }

    public byte[] GetCommitMetadata(long commitNum)
    {
        lock (_gate)
        {
            foreach (var slot in _slots)
            {
                if (slot is not null && slot.CommitNum == commitNum)
                    return slot.Metadata;
            }
            // FASTER's interface is not nullable-annotated; null means "no such commit" to its RestoreLatest.
            return null!;
        }
    }

    public IEnumerable<long> ListCommits()
    {
        lock (_gate)
        {
            // Newest first: FASTER recovers from the first one it can read.
            var list = new List<long>(2);
            if (_newest >= 0)
                list.Add(_slots[_newest]!.CommitNum);
            var other = _slots[_newest == 0 ? 1 : 0];
            if (other is not null && _newest >= 0)
                list.Add(other.CommitNum);
            return list;
        }
    }

    // The previous commit is our fallback; never drop it on FASTER's request.
    public void RemoveCommit(long commitNum)
    {
    }

    public void RemoveAllCommits()
    {
        lock (_gate)
        {
            RandomAccess.Write(_handle, new byte[2 * SlotSize], 0);
            RandomAccess.FlushToDisk(_handle);
            _slots[0] = _slots[1] = null;
            _newest = -1;
        }
    }

    public void OnRecovery(long commitNum)
    {
        lock (_gate)
        {
            // Recovered from an older slot (the newest was unreadable by FASTER): write the next commit over the other one.
            for (int i = 0; i < 2; i++)
            {
                if (_slots[i] is { } slot && slot.CommitNum == commitNum)
                    _newest = i;
            }
        }
    }

    public void Dispose() => _handle.Dispose();

    internal static uint Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> metadata)
    {
        uint crc = Crc32C(uint.MaxValue, header);
        return ~Crc32C(crc, metadata);
    }

    private static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
            crc = BitOperations.Crc32C(crc, b);
        return crc;
    }
}
