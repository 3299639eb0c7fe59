using System.Buffers.Binary;
using System.Text;

namespace RelayAppliance.Spool.Records;

/// <summary>
/// Delivery state of one recipient. Immutable; the index swaps whole arrays of them (copy-on-write) so readers
/// never see a half-written entry. Detail and RemoteHost are stored already truncated, exactly as they are on disk,
/// so the live view equals what recovery rebuilds.
/// </summary>
internal readonly record struct RecipientProgress(
    RecipientState State, int Attempts, DateTimeOffset? NextAttemptAt, string? RemoteHost, string? Detail)
{
    public bool IsFinal => State is RecipientState.Delivered or RecipientState.Failed;

    /// <summary>
    /// This recipient after a result; unchanged (false) when it is already final. Replay and the live path both go
    /// through here, so they agree on what a late result for a final recipient does: nothing.
    /// </summary>
    public bool TryApply(RecipientOutcome outcome, int attempt, DateTimeOffset? nextAttemptAt, string? remoteHost, string? detail, out RecipientProgress next)
    {
        next = this;
        if (IsFinal)
            return false;
        next = new RecipientProgress((RecipientState)outcome, attempt,
            outcome == RecipientOutcome.Deferred ? nextAttemptAt : null, remoteHost, detail);
        return true;
    }
}

/// <summary>One recipient in an RcptDelivered/RcptDeferred/RcptFailed record.</summary>
internal readonly record struct ResultEntry(int RecipientIndex, int Attempt, string? RemoteHost, string? Detail);

/// <summary>
/// RcptDelivered / RcptDeferred / RcptFailed records and the per-recipient state block of Carry v2 (layouts in
/// RecordLayout.cs). Both encode a recipient's state the same way: attempt i32, host, detail.
/// </summary>
internal static class ResultRecord
{
    public const int MaxDetailBytes = 512;
    public const int MaxRemoteHostBytes = 255;
    /// <summary>header, at, nextAttemptAt, count.</summary>
    public const int FixedSize = RecordHeader.Size + 8 + 8 + 4;
    /// <summary>On disk for "no next attempt time".</summary>
    public const long NoTime = -1;

    public static RecordKind KindOf(RecipientOutcome outcome) => outcome switch
    {
        RecipientOutcome.Delivered => RecordKind.RcptDelivered,
        RecipientOutcome.Deferred => RecordKind.RcptDeferred,
        RecipientOutcome.Failed => RecordKind.RcptFailed,
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown recipient outcome."),
    };

    public static RecipientOutcome OutcomeOf(RecordKind kind) => kind switch
    {
        RecordKind.RcptDelivered => RecipientOutcome.Delivered,
        RecordKind.RcptDeferred => RecipientOutcome.Deferred,
        RecordKind.RcptFailed => RecipientOutcome.Failed,
        _ => throw new InvalidDataException($"Record kind {(byte)kind} is not a recipient result."),
    };

    /// <summary>
    /// The string as the spool keeps it: at most <paramref name="maxBytes"/> of UTF-8, cut at a character boundary;
    /// null for null or empty (the disk has no separate null marker).
    /// </summary>
    public static string? Truncate(string? value, int maxBytes)
    {
        if (string.IsNullOrEmpty(value))
            return null;
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length <= maxBytes)
            return SharedStrings.Get(bytes);
        int cut = maxBytes;
        while (cut > 0 && (bytes[cut] & 0xC0) == 0x80)
            cut--; // never split a multi-byte sequence
        return SharedStrings.Get(bytes.AsSpan(0, cut));
    }

    public static byte[] Create(RecordKind kind, ulong messageId, DateTimeOffset at, DateTimeOffset? nextAttemptAt, IReadOnlyList<ResultEntry> entries)
    {
        int length = FixedSize;
        foreach (var e in entries)
            length += 4 + StateSize(e.RemoteHost, e.Detail);
        var record = new byte[length];
        var span = record.AsSpan();
        new RecordHeader(kind, RecordLayout.ResultVersion, messageId).Write(span);
        BinaryPrimitives.WriteInt64LittleEndian(span[10..], at.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteInt64LittleEndian(span[18..], ToDisk(nextAttemptAt));
        BinaryPrimitives.WriteInt32LittleEndian(span[26..], entries.Count);
        int offset = FixedSize;
        foreach (var e in entries)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[offset..], e.RecipientIndex);
            offset = WriteState(span, offset + 4, e.Attempt, e.RemoteHost, e.Detail);
        }
        return record;
    }

    public static (DateTimeOffset? NextAttemptAt, ResultEntry[] Entries) Read(ReadOnlySpan<byte> record)
    {
        if (record.Length < FixedSize)
            throw new InvalidDataException("Result record: truncated.");
        var next = FromDisk(BinaryPrimitives.ReadInt64LittleEndian(record[18..]));
        int count = BinaryPrimitives.ReadInt32LittleEndian(record[26..]);
        if (count < 0 || count > (record.Length - FixedSize) / 12)
            throw new InvalidDataException("Result record: bad entry count.");
        var entries = new ResultEntry[count];
        int at = FixedSize;
        for (int i = 0; i < count; i++)
        {
            int index = ReadInt32(record, at);
            at = ReadState(record, at + 4, out int attempt, out var host, out var detail);
            entries[i] = new ResultEntry(index, attempt, host, detail);
        }
        if (at != record.Length)
            throw new InvalidDataException("Result record: trailing bytes.");
        return (next, entries);
    }

    /// <summary>Bytes of one encoded state without its next-attempt time: attempt i32, host and detail (u16 length + UTF-8 each).</summary>
    public static int StateSize(string? remoteHost, string? detail)
        => 4 + 2 + Encoding.UTF8.GetByteCount(remoteHost ?? "") + 2 + Encoding.UTF8.GetByteCount(detail ?? "");

    public static int WriteState(Span<byte> record, int at, int attempt, string? remoteHost, string? detail)
    {
        BinaryPrimitives.WriteInt32LittleEndian(record[at..], attempt);
        at = WriteString(record, at + 4, remoteHost);
        return WriteString(record, at, detail);
    }

    public static int ReadState(ReadOnlySpan<byte> record, int at, out int attempt, out string? remoteHost, out string? detail)
    {
        attempt = ReadInt32(record, at);
        at = ReadString(record, at + 4, out remoteHost);
        return ReadString(record, at, out detail);
    }

    public static long ToDisk(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds() ?? NoTime;

    public static DateTimeOffset? FromDisk(long value) => value == NoTime ? null : DateTimeOffset.FromUnixTimeMilliseconds(value);

    public static int ReadInt32(ReadOnlySpan<byte> record, int at)
    {
        if ((uint)at > (uint)(record.Length - 4))
            throw new InvalidDataException("Recipient state: truncated.");
        return BinaryPrimitives.ReadInt32LittleEndian(record[at..]);
    }

    private static int WriteString(Span<byte> record, int at, string? value)
    {
        int length = Encoding.UTF8.GetBytes(value ?? "", record[(at + 2)..]);
        BinaryPrimitives.WriteUInt16LittleEndian(record[at..], checked((ushort)length));
        return at + 2 + length;
    }

    private static int ReadString(ReadOnlySpan<byte> record, int at, out string? value)
    {
        if ((uint)at > (uint)(record.Length - 2))
            throw new InvalidDataException("Recipient state: truncated.");
        int length = BinaryPrimitives.ReadUInt16LittleEndian(record[at..]);
        if (at + 2 + length > record.Length)
            throw new InvalidDataException("Recipient state: truncated string.");
        value = length == 0 ? null : SharedStrings.Get(record.Slice(at + 2, length));
        return at + 2 + length;
    }
}
