using System.Buffers.Binary;
using System.Text;

namespace RelayAppliance.Spool.Records;

/// <summary>Writes Accepted/Carry records (layout in RecordLayout.cs).</summary>
internal static class AcceptedRecord
{
    public const int FixedSize = RecordHeader.Size + 8 + 8 + 1 + 4; // header, receivedAt, size, flags, chunkCount
    public const int ChunkRefSize = 12;

    /// <summary>Builds the record in one exact-size array: it is enqueued into J and then kept by the index as the message's state.</summary>
    public static byte[] Create(ulong messageId, DateTimeOffset receivedAt, long size, ReadOnlySpan<BodyChunk> chunks, EnvelopeBuilder envelope)
        => Create(messageId, receivedAt, size, chunks, inlineBody: default, inline: false, envelope);

    /// <summary>As <see cref="Create(ulong, DateTimeOffset, long, ReadOnlySpan{BodyChunk}, EnvelopeBuilder)"/> with the body in the record (InlineBody).</summary>
    public static byte[] CreateInline(ulong messageId, DateTimeOffset receivedAt, ReadOnlySpan<byte> body, EnvelopeBuilder envelope)
        => Create(messageId, receivedAt, body.Length, chunks: default, body, inline: true, envelope);

    private static byte[] Create(ulong messageId, DateTimeOffset receivedAt, long size, ReadOnlySpan<BodyChunk> chunks,
        ReadOnlySpan<byte> inlineBody, bool inline, EnvelopeBuilder envelope)
    {
        var sender = envelope.SenderBytes;
        var recipients = envelope.RecipientBytes;
        var session = envelope.SessionBytes;
        int bodyArea = inline ? inlineBody.Length : chunks.Length * ChunkRefSize;
        int length = FixedSize + bodyArea + 2 + sender.Length + 4 + recipients.Length + session.Length;

        var record = new byte[length];
        var span = record.AsSpan();
        new RecordHeader(RecordKind.Accepted, RecordLayout.AcceptedVersion, messageId).Write(span);
        BinaryPrimitives.WriteInt64LittleEndian(span[10..], receivedAt.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteInt64LittleEndian(span[18..], size);
        span[26] = (byte)(envelope.Flags | (inline ? AcceptedFlags.InlineBody : AcceptedFlags.None));
        BinaryPrimitives.WriteInt32LittleEndian(span[27..], inline ? inlineBody.Length : chunks.Length);
        int at = FixedSize;
        if (inline)
        {
            inlineBody.CopyTo(span[at..]);
            at += inlineBody.Length;
        }
        foreach (var chunk in chunks)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[at..], chunk.Address);
            BinaryPrimitives.WriteInt32LittleEndian(span[(at + 8)..], chunk.Length);
            at += ChunkRefSize;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(span[at..], (ushort)sender.Length);
        sender.CopyTo(span[(at + 2)..]);
        at += 2 + sender.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], envelope.RecipientCount);
        recipients.CopyTo(span[(at + 4)..]);
        at += 4 + recipients.Length;
        session.CopyTo(span[at..]);
        return record;
    }

    /// <summary>The record re-stamped as a Carry v1 (what earlier versions wrote; compaction now writes <see cref="CreateCarry"/>).</summary>
    public static void WriteAsCarry(ReadOnlySpan<byte> accepted, Span<byte> destination)
    {
        if (AcceptedView.Parse(accepted).HasInlineBody)
            throw new ArgumentException("A Carry v1 cannot hold an inline body.", nameof(accepted));
        accepted.CopyTo(destination);
        destination[0] = (byte)RecordKind.Carry;
        destination[1] = 1;
    }

    /// <summary>
    /// A Carry v4 for journal compaction: the envelope (an in-memory Accepted or Carry v1 record) re-stamped, its
    /// recipient state bytes set to the current states, the recipient state block and the message flags appended.
    /// </summary>
    public static byte[] CreateCarry(ReadOnlySpan<byte> envelope, ReadOnlySpan<RecipientProgress> progress, MessageFlags flags)
    {
        var view = AcceptedView.Parse(envelope);
        if (view.RecipientCount != progress.Length || view.EnvelopeLength != envelope.Length)
            throw new InvalidOperationException("Carry: the recipient states do not match the envelope.");
        int length = envelope.Length;
        foreach (var p in progress)
            length += 8 + ResultRecord.StateSize(p.RemoteHost, p.Detail);
        var record = new byte[length + 1];
        envelope.CopyTo(record);
        record[0] = (byte)RecordKind.Carry;
        record[1] = RecordLayout.CarryVersion;
        int at = view.RecipientsOffset;
        int blockAt = envelope.Length;
        foreach (var p in progress)
        {
            record[at + 1] = (byte)p.State;
            at += 4 + BinaryPrimitives.ReadUInt16LittleEndian(record.AsSpan(at + 2));
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(blockAt), ResultRecord.ToDisk(p.NextAttemptAt));
            blockAt = ResultRecord.WriteState(record, blockAt + 8, p.Attempts, p.RemoteHost, p.Detail);
        }
        record[blockAt] = (byte)flags;
        return record;
    }

    /// <summary>A copy of an Accepted/Carry record with its body at other B addresses (copy-forward moves chunks one for one).</summary>
    public static byte[] WithChunks(ReadOnlySpan<byte> record, ReadOnlySpan<BodyChunk> chunks)
    {
        var view = AcceptedView.Parse(record);
        if (view.ChunkCount != chunks.Length)
            throw new InvalidDataException($"Moved record lists {chunks.Length} chunks, the message has {view.ChunkCount}.");
        var copy = record.ToArray();
        int at = FixedSize;
        for (int i = 0; i < chunks.Length; i++, at += ChunkRefSize)
        {
            if (chunks[i].Length != view.GetChunk(i).Length)
                throw new InvalidDataException("Moved record: a chunk changed its length.");
            BinaryPrimitives.WriteInt64LittleEndian(copy.AsSpan(at), chunks[i].Address);
        }
        return copy;
    }
}

/// <summary>
/// A validated view over an Accepted/Carry record. <see cref="Parse"/> walks the whole record once so that a
/// malformed record fails at recovery, not later in a queue listing.
/// </summary>
internal readonly ref struct AcceptedView
{
    private readonly ReadOnlySpan<byte> _record;
    private readonly int _senderAt;
    private readonly int _recipientsAt;
    private readonly int _sessionAt;
    private readonly int _stateBlockEnd;

    private AcceptedView(ReadOnlySpan<byte> record, int senderAt, int recipientsAt, int recipientCount, int sessionAt, int envelopeLength,
        bool hasStateBlock, bool hasMessageFlags)
    {
        HasStateBlock = hasStateBlock;
        _stateBlockEnd = hasMessageFlags ? record.Length - 1 : record.Length;
        MessageFlags = hasMessageFlags ? (MessageFlags)record[^1] : MessageFlags.None;
        _record = record;
        _senderAt = senderAt;
        _recipientsAt = recipientsAt;
        RecipientCount = recipientCount;
        _sessionAt = sessionAt;
        EnvelopeLength = envelopeLength;
    }

    /// <summary>Where the recipient state block of a Carry v2/v3 starts; the record's length otherwise.</summary>
    public int EnvelopeLength { get; }

    public bool HasStateBlock { get; }

    /// <summary>The message flags of a Carry v3 (the last byte); None for every other base record.</summary>
    public MessageFlags MessageFlags { get; }

    internal int RecipientsOffset => _recipientsAt;

    public ulong MessageId => BinaryPrimitives.ReadUInt64LittleEndian(_record[2..]);
    public DateTimeOffset ReceivedAt => DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(_record[10..]));
    public long Size => BinaryPrimitives.ReadInt64LittleEndian(_record[18..]);
    public AcceptedFlags Flags => (AcceptedFlags)_record[26];
    /// <summary>B chunks of the body; 0 when the body is inline.</summary>
    public int ChunkCount => HasInlineBody ? 0 : BinaryPrimitives.ReadInt32LittleEndian(_record[27..]);

    /// <summary>The body is in the record (Accepted v2 / Carry v4 with InlineBody), not in B.</summary>
    public bool HasInlineBody => (Flags & AcceptedFlags.InlineBody) != 0;

    /// <summary>The inline body (empty unless <see cref="HasInlineBody"/>).</summary>
    public ReadOnlySpan<byte> InlineBody
        => HasInlineBody ? _record.Slice(AcceptedRecord.FixedSize, BinaryPrimitives.ReadInt32LittleEndian(_record[27..])) : default;

    public int RecipientCount { get; }

    public BodyChunk GetChunk(int index)
    {
        var at = AcceptedRecord.FixedSize + (index * AcceptedRecord.ChunkRefSize);
        return new BodyChunk(BinaryPrimitives.ReadInt64LittleEndian(_record[at..]), BinaryPrimitives.ReadInt32LittleEndian(_record[(at + 8)..]));
    }

    public ReadOnlySpan<byte> Sender => ReadString(_record, _senderAt, out _);

    public RecipientEnumerator Recipients => new(_record[_recipientsAt.._sessionAt], RecipientCount);

    /// <summary>The recipients' delivery states: the state bytes, plus the state block of a Carry v2.</summary>
    public RecipientProgress[] ReadProgress()
    {
        var progress = new RecipientProgress[RecipientCount];
        int i = 0;
        foreach (var r in Recipients)
            progress[i++] = new RecipientProgress(r.State, 0, null, null, null);
        int at = EnvelopeLength;
        for (i = 0; i < progress.Length && HasStateBlock; i++)
        {
            if (at > _record.Length - 8)
                throw new InvalidDataException("Carry record: truncated recipient state block.");
            var next = ResultRecord.FromDisk(BinaryPrimitives.ReadInt64LittleEndian(_record[at..]));
            at = ResultRecord.ReadState(_record, at + 8, out int attempts, out var host, out var detail);
            progress[i] = progress[i] with { Attempts = attempts, NextAttemptAt = next, RemoteHost = host, Detail = detail };
        }
        if (HasStateBlock && at != _stateBlockEnd)
            throw new InvalidDataException("Carry record: trailing bytes after the recipient state block.");
        return progress;
    }

    public ReadOnlySpan<byte> ClientAddress => ReadString(_record, _sessionAt, out _);

    public ReadOnlySpan<byte> Helo
    {
        get
        {
            ReadString(_record, _sessionAt, out var next);
            return ReadString(_record, next, out _);
        }
    }

    public ReadOnlySpan<byte> AuthenticatedUser
    {
        get
        {
            ReadString(_record, _sessionAt, out var next);
            ReadString(_record, next, out next);
            return ReadString(_record, next, out _);
        }
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when the record is not a well-formed Accepted v1-v2 or Carry v1-v4.
    /// A Carry v2/v3's state block is checked by <see cref="ReadProgress"/>.
    /// </summary>
    public static AcceptedView Parse(ReadOnlySpan<byte> record)
    {
        if (!RecordHeader.TryRead(record, out var header)
            || header.Kind is not (RecordKind.Accepted or RecordKind.Carry)
            || header.Version == 0
            || header.Version > RecordLayout.MaxKnownVersion(header.Kind)
            || record.Length < AcceptedRecord.FixedSize)
        {
            throw new InvalidDataException("Not an Accepted v1-v2 or Carry v1-v4 record.");
        }
        bool inline = ((AcceptedFlags)record[26] & AcceptedFlags.InlineBody) != 0;
        if (inline && header.Version < (header.Kind == RecordKind.Accepted ? 2 : 4))
            throw new InvalidDataException($"{header.Kind} v{header.Version} record: an inline body in a version that cannot have one.");
        int count = BinaryPrimitives.ReadInt32LittleEndian(record[27..]);
        long bodyArea = inline ? count : (long)count * AcceptedRecord.ChunkRefSize;
        if (count < 0 || bodyArea > record.Length - AcceptedRecord.FixedSize)
            throw new InvalidDataException("Accepted record: bad chunk count or inline body length.");
        int senderAt = AcceptedRecord.FixedSize + (int)bodyArea;
        ReadString(record, senderAt, out var at);
        int recipientCount = ReadInt32(record, at);
        if (recipientCount < 0)
            throw new InvalidDataException("Accepted record: bad recipient count.");
        int recipientsAt = at + 4;
        at = recipientsAt;
        for (int i = 0; i < recipientCount; i++)
            ReadString(record, at + 2, out at);
        int sessionAt = at;
        ReadString(record, at, out at);
        ReadString(record, at, out at);
        ReadString(record, at, out at);
        bool stateBlock = header.Kind == RecordKind.Carry && header.Version >= 2;
        bool messageFlags = header.Kind == RecordKind.Carry && header.Version >= 3;
        if (stateBlock ? at > record.Length - (messageFlags ? 1 : 0) : at != record.Length)
            throw new InvalidDataException("Accepted record: trailing bytes.");
        return new AcceptedView(record, senderAt, recipientsAt, recipientCount, sessionAt, at, stateBlock, messageFlags);
    }

    /// <param name="progress">The recipients' delivery states (index order); null: the record's own state bytes.</param>
    /// <param name="messageFlags">The message's current flags (the index keeps them apart from the envelope).</param>
    public QueuedMessageInfo ToInfo(RecipientProgress[]? progress = null, MessageFlags messageFlags = MessageFlags.None)
    {
        var recipients = new RecipientInfo[RecipientCount];
        int i = 0;
        foreach (var r in Recipients)
        {
            var p = progress?[i] ?? new RecipientProgress(r.State, 0, null, null, null);
            recipients[i++] = new RecipientInfo(Encoding.UTF8.GetString(r.Address), r.Route, p.State)
            {
                Attempts = p.Attempts,
                NextAttemptAt = p.NextAttemptAt,
                LastResult = p.Detail,
                LastRemoteHost = p.RemoteHost,
            };
        }
        var flags = Flags;
        return new QueuedMessageInfo(
            new MessageId(MessageId), Encoding.UTF8.GetString(Sender), recipients, Size, ReceivedAt,
            Encoding.UTF8.GetString(ClientAddress), Encoding.UTF8.GetString(Helo),
            (flags & AcceptedFlags.HasAuthUser) != 0 ? Encoding.UTF8.GetString(AuthenticatedUser) : null,
            (flags & AcceptedFlags.Tls) != 0, (flags & AcceptedFlags.SmtpUtf8) != 0, (flags & AcceptedFlags.EightBitMime) != 0)
        {
            Held = (messageFlags & MessageFlags.Held) != 0,
            DelayWarned = (messageFlags & MessageFlags.DelayWarned) != 0,
        };
    }

    private static int ReadInt32(ReadOnlySpan<byte> record, int at)
    {
        if ((uint)at > (uint)(record.Length - 4))
            throw new InvalidDataException("Accepted record: truncated.");
        return BinaryPrimitives.ReadInt32LittleEndian(record[at..]);
    }

    private static ReadOnlySpan<byte> ReadString(ReadOnlySpan<byte> record, int at, out int next)
    {
        if ((uint)at > (uint)(record.Length - 2))
            throw new InvalidDataException("Accepted record: truncated.");
        int length = BinaryPrimitives.ReadUInt16LittleEndian(record[at..]);
        next = at + 2 + length;
        if (next > record.Length)
            throw new InvalidDataException("Accepted record: truncated string.");
        return record.Slice(at + 2, length);
    }

    internal readonly ref struct Recipient(ReadOnlySpan<byte> address, RecipientRoute route, RecipientState state)
    {
        public ReadOnlySpan<byte> Address { get; } = address;
        public RecipientRoute Route { get; } = route;
        public RecipientState State { get; } = state;
    }

    internal ref struct RecipientEnumerator
    {
        private readonly ReadOnlySpan<byte> _entries;
        private int _remaining;
        private int _at;
        private Recipient _current;

        public RecipientEnumerator(ReadOnlySpan<byte> entries, int count)
        {
            _entries = entries;
            _remaining = count;
        }

        public readonly Recipient Current => _current;

        public readonly RecipientEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_remaining == 0)
                return false;
            _remaining--;
            var route = (RecipientRoute)_entries[_at];
            var state = (RecipientState)_entries[_at + 1];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(_entries[(_at + 2)..]);
            _current = new Recipient(_entries.Slice(_at + 4, length), route, state);
            _at += 4 + length;
            return true;
        }
    }
}
