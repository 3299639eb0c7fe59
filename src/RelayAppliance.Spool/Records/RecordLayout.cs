using System.Buffers.Binary;

namespace RelayAppliance.Spool.Records;

// The one place that describes what the spool writes to disk. Everything is little-endian.
//
// Every record (journal J and bodies B) starts with the same 10-byte header:
//   0  kind     u8   RecordKind
//   1  version  u8   layout version of that kind (readers refuse versions newer than they know)
//   2  msgId    u64
//
// B  Chunk v1          header, seq u16, payload bytes (the rest of the entry)
// J  Accepted v1       header, receivedAt i64 (unix ms), size i64, flags u8 (AcceptedFlags), chunkCount i32,
//                      chunkCount × (address i64, length i32),
//                      sender (u16 length + UTF-8), rcptCount i32, rcptCount × (route u8, state u8, u16 length + UTF-8),
//                      clientAddress, helo, authUser (each u16 length + UTF-8; authUser present iff HasAuthUser)
// J  Accepted v2       the v1 layout, except that when flags has InlineBody the chunk list is replaced by the body
//                      itself: chunkCount is then its length in bytes and that many bytes follow (no B chunks). Small
//                      bodies live in J so that the message needs one log's commit, not two (perf/RESULTS.md). The
//                      only Accepted this version writes; v1 (never InlineBody) is still read.
// J  Carry v1          exactly the Accepted layout with the current recipient states; replaces all earlier state of msgId
// J  Carry v2          the Carry v1 layout (recipient state bytes current), then a recipient state block:
//                      rcptCount × (nextAttemptAt i64 (unix ms, -1 = none), attempts i32, remoteHost, detail
//                      (each u16 length + UTF-8, empty = none)). Written by journal compaction so that it carries the
//                      delivery progress too (one self-contained record: a crash cannot separate state from envelope).
//                      v1 is still read (attempts 0, no details).
// J  Carry v3          the Carry v2 layout, then messageFlags u8 (MessageFlags).
// J  Carry v4          the Carry v3 layout whose envelope part may have InlineBody (as Accepted v2). The only Carry
//                      this version writes; v1-v3 are still read.
// J  RcptDelivered v1  header, at i64 (unix ms), nextAttemptAt i64 (unix ms, -1 = none; set only in RcptDeferred),
//    RcptDeferred v1   count i32, count × (rcptIdx i32, attempt i32, remoteHost, detail (each u16 length + UTF-8,
//    RcptFailed v1     empty = none)). The kind is the outcome; one record per outcome of a RecordResultsAsync call.
//                      Applied on top of the latest base record; ignored for recipients already final and for
//                      unknown messages (compacted into a later Carry, or gone).
// J  MessageDone v1    header, reason u8 (DoneReason), at i64 (unix ms)
// J  Flags v1          header, messageFlags u8 (MessageFlags, the whole new value), at i64 (unix ms). Applied on top of
//                      the latest base record like a result record; ignored for unknown messages.
// J  Moved v1          header, chunkCount i32, chunkCount × (address i64, length i32): the message's body now lives at
//                      these B addresses (copy-forward); replaces the chunk list of the latest Accepted/Carry of msgId,
//                      nothing else. Written only after B committed the new chunks.
// J  Startup v1        header (msgId 0), bodyCommittedUntil i64: B's CommittedUntilAddress when this run opened.
//                      A base record (Accepted/Carry/Moved) before it is valid only if its chunks end at or below
//                      that address (B and J commit concurrently; see MessageSpool.RebuildIndex).
//
// FasterLog adds its own 12-byte entry header (length + 8-byte checksum, LogChecksum = PerEntry) and aligns to 4.

/// <summary>Kinds of persisted records. Persisted: never renumber, never reuse a value.</summary>
internal enum RecordKind : byte
{
    Accepted = 1,
    RcptDelivered = 2,
    RcptDeferred = 3,
    RcptFailed = 4,
    MessageDone = 5,
    Moved = 6,
    Carry = 7,
    MailboxDeliver = 8,
    MailboxDelete = 9,
    Startup = 10,
    Flags = 11,
    /// <summary>Body log only; far from the journal kinds so a record read from the wrong log is obvious.</summary>
    Chunk = 64,
}

/// <summary>Why a message left the queue. Persisted: never renumber.</summary>
internal enum DoneReason : byte
{
    AllRecipientsFinal = 0,
    DeletedByOperator = 1,
}

/// <summary>Operator and scheduler marks on a queued message (Flags and Carry v3 records). Persisted: never renumber.</summary>
[Flags]
internal enum MessageFlags : byte
{
    None = 0,
    /// <summary>`relayd queue hold`: not attempted until released.</summary>
    Held = 1,
    /// <summary>The sender got its delay notification (sent once per message).</summary>
    DelayWarned = 2,
}

/// <summary>Flags of an Accepted/Carry record. Persisted: never renumber.</summary>
[Flags]
internal enum AcceptedFlags : byte
{
    None = 0,
    SmtpUtf8 = 1,
    EightBitMime = 2,
    Tls = 4,
    HasAuthUser = 8,
    /// <summary>Accepted v2 / Carry v4: the body is in the record (see the layout above), not in B.</summary>
    InlineBody = 16,
}

internal readonly record struct BodyChunk(long Address, int Length);

internal readonly record struct RecordHeader(RecordKind Kind, byte Version, ulong MessageId)
{
    public const int Size = 10;

    public void Write(Span<byte> destination)
    {
        destination[0] = (byte)Kind;
        destination[1] = Version;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[2..], MessageId);
    }

    public static bool TryRead(ReadOnlySpan<byte> source, out RecordHeader header)
    {
        if (source.Length < Size)
        {
            header = default;
            return false;
        }
        header = new RecordHeader((RecordKind)source[0], source[1], BinaryPrimitives.ReadUInt64LittleEndian(source[2..]));
        return true;
    }
}

internal static class RecordLayout
{
    /// <summary>FasterLog's own entry header with PerEntry checksums: 8-byte checksum + 4-byte length.</summary>
    public const int FasterEntryHeaderSize = Storage.FasterEntry.HeaderSize;

    public const byte ChunkVersion = 1;
    public const byte AcceptedVersion = 2;
    public const byte DoneVersion = 1;
    public const byte StartupVersion = 1;
    public const byte MovedVersion = 1;
    /// <summary>v2 appends the recipient state block (attempts, next attempt, last result); v3 the message flags; v4 allows an inline body.</summary>
    public const byte CarryVersion = 4;
    public const byte ResultVersion = 1;
    public const byte FlagsVersion = 1;

    /// <summary>Our prefix in front of a chunk's payload: header + seq.</summary>
    public const int ChunkPrefixSize = RecordHeader.Size + 2;

    public const int DoneSize = RecordHeader.Size + 1 + 8;

    public const int StartupSize = RecordHeader.Size + 8;

    public const int FlagsSize = RecordHeader.Size + 1 + 8;

    /// <summary>Payload bytes per chunk so that one FASTER entry fills <paramref name="bufferSize"/> exactly (keeps pages dense).</summary>
    public static int ChunkCapacity(int bufferSize) => (bufferSize - ChunkPrefixSize - FasterEntryHeaderSize) & ~3;

    public static void WriteChunkPrefix(Span<byte> destination, ulong messageId, ushort seq)
    {
        new RecordHeader(RecordKind.Chunk, ChunkVersion, messageId).Write(destination);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[RecordHeader.Size..], seq);
    }

    /// <summary>Checks a chunk entry read back from B against what the journal says it should be.</summary>
    public static bool IsExpectedChunk(ReadOnlySpan<byte> entry, ulong messageId, int length)
    {
        return RecordHeader.TryRead(entry, out var header)
            && header.Kind == RecordKind.Chunk
            && header.Version == ChunkVersion
            && header.MessageId == messageId
            && entry.Length == ChunkPrefixSize + length;
    }

    public static void WriteDone(Span<byte> destination, ulong messageId, DoneReason reason, DateTimeOffset at)
    {
        new RecordHeader(RecordKind.MessageDone, DoneVersion, messageId).Write(destination);
        destination[RecordHeader.Size] = (byte)reason;
        BinaryPrimitives.WriteInt64LittleEndian(destination[(RecordHeader.Size + 1)..], at.ToUnixTimeMilliseconds());
    }

    /// <summary>A chunk's whole entry in B, as it lies in the segment file: FASTER's header, our prefix, the payload.</summary>
    public static int ChunkEntrySize(int length) => FasterEntryHeaderSize + ChunkPrefixSize + length;

    /// <summary>Where a chunk entry ends in B: a commit covers it only if CommittedUntilAddress is at or past this.</summary>
    public static long ChunkEnd(BodyChunk chunk) => chunk.Address + ChunkEntrySize(chunk.Length);

    public static void WriteStartup(Span<byte> destination, long bodyCommittedUntil)
    {
        new RecordHeader(RecordKind.Startup, StartupVersion, 0).Write(destination);
        BinaryPrimitives.WriteInt64LittleEndian(destination[RecordHeader.Size..], bodyCommittedUntil);
    }

    public static long ReadStartup(ReadOnlySpan<byte> record)
    {
        if (record.Length != StartupSize)
            throw new InvalidDataException($"Startup record of {record.Length} bytes, expected {StartupSize}.");
        return BinaryPrimitives.ReadInt64LittleEndian(record[RecordHeader.Size..]);
    }

    public static byte[] CreateFlags(ulong messageId, MessageFlags flags, DateTimeOffset at)
    {
        var record = new byte[FlagsSize];
        new RecordHeader(RecordKind.Flags, FlagsVersion, messageId).Write(record);
        record[RecordHeader.Size] = (byte)flags;
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(RecordHeader.Size + 1), at.ToUnixTimeMilliseconds());
        return record;
    }

    public static MessageFlags ReadFlags(ReadOnlySpan<byte> record)
    {
        if (record.Length != FlagsSize)
            throw new InvalidDataException($"Flags record of {record.Length} bytes, expected {FlagsSize}.");
        return (MessageFlags)record[RecordHeader.Size];
    }

    public static int MovedSize(int chunkCount) => RecordHeader.Size + 4 + (chunkCount * AcceptedRecord.ChunkRefSize);

    public static byte[] CreateMoved(ulong messageId, ReadOnlySpan<BodyChunk> chunks)
    {
        var record = new byte[MovedSize(chunks.Length)];
        new RecordHeader(RecordKind.Moved, MovedVersion, messageId).Write(record);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(RecordHeader.Size), chunks.Length);
        int at = RecordHeader.Size + 4;
        foreach (var chunk in chunks)
        {
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(at), chunk.Address);
            BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(at + 8), chunk.Length);
            at += AcceptedRecord.ChunkRefSize;
        }
        return record;
    }

    public static BodyChunk[] ReadMoved(ReadOnlySpan<byte> record)
    {
        int count = record.Length >= RecordHeader.Size + 4 ? BinaryPrimitives.ReadInt32LittleEndian(record[RecordHeader.Size..]) : -1;
        if (count < 0 || record.Length != MovedSize(count))
            throw new InvalidDataException($"Moved record of {record.Length} bytes does not match its chunk count.");
        var chunks = new BodyChunk[count];
        for (int i = 0, at = RecordHeader.Size + 4; i < count; i++, at += AcceptedRecord.ChunkRefSize)
            chunks[i] = new BodyChunk(BinaryPrimitives.ReadInt64LittleEndian(record[at..]), BinaryPrimitives.ReadInt32LittleEndian(record[(at + 8)..]));
        return chunks;
    }

    public static byte MaxKnownVersion(RecordKind kind) => kind switch
    {
        RecordKind.Accepted => AcceptedVersion,
        RecordKind.Carry => CarryVersion,
        RecordKind.RcptDelivered or RecordKind.RcptDeferred or RecordKind.RcptFailed => ResultVersion,
        RecordKind.MessageDone => DoneVersion,
        RecordKind.Startup => StartupVersion,
        RecordKind.Moved => MovedVersion,
        RecordKind.Flags => FlagsVersion,
        RecordKind.Chunk => ChunkVersion,
        _ => 0,
    };
}
