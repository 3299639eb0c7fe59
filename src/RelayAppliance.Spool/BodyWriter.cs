using System.Buffers;
using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool;

/// <summary>
/// Streams one message body into the body log in chunks while DATA/BDAT arrives (an IBufferWriter-like shape):
/// write into <see cref="GetSpan"/>, <see cref="Advance"/>, and <see cref="FlushChunkAsync"/> when <see cref="IsFull"/>.
/// One instance per session, reused; its buffer is pooled and returned by <see cref="Reset"/>.
/// </summary>
/// <remarks>
/// The pooled 64 KiB buffer holds the Chunk record prefix followed by the payload, so a flush enqueues the buffer
/// as is: no copy besides FASTER's. A flush only appends (full pages are written in the background); durability
/// comes at <see cref="MessageSpool.AcceptAsync"/>. Call <see cref="Reset"/> when a transaction is abandoned
/// (also when the connection drops): until then the body pins the body log against truncation.
/// Not thread-safe: one session at a time.
/// </remarks>
public sealed class BodyWriter
{
    private readonly MessageSpool _spool;
    private readonly int _bufferSize;
    private readonly int _capacity;
    private readonly List<BodyChunk> _chunks = [];
    private byte[]? _buffer;
    private int _written;
    private long _length;
    private ulong _messageId;
    private int _nextSeq;

    internal BodyWriter(MessageSpool spool, int bufferSize)
    {
        _spool = spool;
        _bufferSize = bufferSize;
        _capacity = RecordLayout.ChunkCapacity(bufferSize);
    }

    public Span<byte> GetSpan()
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
        if (_written == _capacity)
            ThrowFull();
        return _buffer.AsSpan(RecordLayout.ChunkPrefixSize + _written, _capacity - _written);
    }

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_capacity - _written) || (_buffer is null && count > 0))
            throw new ArgumentOutOfRangeException(nameof(count), "Advanced past the span from GetSpan.");
        _written += count;
        _length += count;
    }

    public bool IsFull => _written == _capacity;

    /// <summary>Total bytes written for this message so far.</summary>
    public long Length => _length;

    public ValueTask FlushChunkAsync(CancellationToken cancellationToken)
    {
        if (_written == 0)
            return default;
        if (_nextSeq > ushort.MaxValue)
            throw new InvalidOperationException("Message body exceeds the spool's chunk count limit.");
        EnsureMessageId();
        RecordLayout.WriteChunkPrefix(_buffer, _messageId, (ushort)_nextSeq);
        var entry = _buffer.AsMemory(0, RecordLayout.ChunkPrefixSize + _written);
        var append = _spool.Bodies.EnqueueAsync(entry, cancellationToken);
        if (append.IsCompletedSuccessfully)
        {
            Appended(append.Result);
            return default;
        }
        return AwaitAppendAsync(append);
    }

    private async ValueTask AwaitAppendAsync(ValueTask<long> append) => Appended(await append.ConfigureAwait(false));

    private void Appended(long address)
    {
        _chunks.Add(new BodyChunk(address, _written));
        _written = 0;
        _nextSeq++;
    }

    /// <summary>Forgets the current body (RSET, abort, size exceeded); chunks already appended become dead space.</summary>
    public void Reset()
    {
        if (_messageId != 0)
            _spool.EndBody(this);
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
        _chunks.Clear();
        _written = 0;
        _length = 0;
        _messageId = 0;
        _nextSeq = 0;
    }

    internal MessageSpool Spool => _spool;

    /// <summary>The payload written since the last flushed chunk (the whole body while <see cref="Chunks"/> is empty).</summary>
    internal ReadOnlySpan<byte> Unflushed => _buffer is null ? default : _buffer.AsSpan(RecordLayout.ChunkPrefixSize, _written);

    internal ReadOnlySpan<BodyChunk> Chunks => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_chunks);

    internal long? LastChunkAddress => _chunks.Count > 0 ? _chunks[^1].Address : null;

    /// <summary>The id is assigned when the body starts (its chunks carry it), pinning B from that point on.</summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_buffer))]
    internal ulong EnsureMessageId()
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
        if (_messageId == 0)
            _messageId = _spool.StartBody(this);
        return _messageId;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowFull() => throw new InvalidOperationException("The chunk is full: call FlushChunkAsync first.");
}
