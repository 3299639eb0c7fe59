// API CONTRACT STUBS: the signatures below are what RelayAppliance.Server and Host code against.
// Implementations replace the bodies (and may move types into their own files); keep the signatures.
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool;

public sealed class SpoolOptions
{
    /// <summary>The spool folder (Relay:DataDirectory/spool).</summary>
    public required string Directory { get; init; }
    /// <summary>Below this many free bytes new mail is refused (452 4.3.1).</summary>
    public long FreeSpaceFloorBytes { get; init; } = 512L * 1024 * 1024;
}

public enum SpoolHealth : byte { Healthy = 0, LowDiskSpace, Failed }

/// <summary>Message identifier: unique across restarts, printed as 16 lower-case hex digits.</summary>
public readonly record struct MessageId(ulong Value)
{
    public override string ToString() => Value.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    public static bool TryParse(string text, out MessageId id) => throw new NotImplementedException();
}

public enum RecipientRoute : byte { Remote = 0, Local = 1 } // persisted: never renumber
public enum RecipientState : byte { Queued = 0, Delivered = 1, Deferred = 2, Failed = 3 } // persisted: never renumber

public sealed record RecipientInfo(string Address, RecipientRoute Route, RecipientState State);

public sealed record QueuedMessageInfo(
    MessageId Id, string Sender, IReadOnlyList<RecipientInfo> Recipients, long Size, DateTimeOffset ReceivedAt,
    string ClientAddress, string Helo, string? AuthenticatedUser, bool Tls, bool SmtpUtf8, bool EightBitMime);

public readonly record struct QueueStats(long Messages, long Recipients, long Bytes);

/// <summary>Thrown when the spool cannot take mail now: the server answers 451 4.3.0.</summary>
public sealed class SpoolUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Thrown by Open when another process holds the spool.</summary>
public sealed class SpoolLockedException(string message) : Exception(message);

/// <summary>Thrown by Open when recovery finds the spool inconsistent; relayd refuses to start.</summary>
public sealed class SpoolRecoveryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The envelope of one transaction, built without per-command allocations; one instance per session, reused.
/// </summary>
public sealed class EnvelopeBuilder
{
    public void Reset() => throw new NotImplementedException();
    public void SetSender(ReadOnlySpan<byte> addressUtf8, bool smtpUtf8, bool eightBitMime) => throw new NotImplementedException();
    public void AddRecipient(ReadOnlySpan<byte> addressUtf8, RecipientRoute route) => throw new NotImplementedException();
    public int RecipientCount => throw new NotImplementedException();
    /// <summary>Facts about the session for the trace and queue listing; set once per session (or after STARTTLS/AUTH).</summary>
    public void SetSession(string clientAddress, string helo, string? authenticatedUser, bool tls) => throw new NotImplementedException();
}

/// <summary>
/// Streams one message body into the body log in chunks while DATA/BDAT arrives (an IBufferWriter-like shape):
/// write into <see cref="GetSpan"/>, <see cref="Advance"/>, and <see cref="FlushChunkAsync"/> when <see cref="IsFull"/>.
/// One instance per session, reused; its buffer is pooled and returned by <see cref="Reset"/>.
/// </summary>
public sealed class BodyWriter
{
    public Span<byte> GetSpan() => throw new NotImplementedException();
    public void Advance(int count) => throw new NotImplementedException();
    public bool IsFull => throw new NotImplementedException();
    /// <summary>Total bytes written for this message so far.</summary>
    public long Length => throw new NotImplementedException();
    public ValueTask FlushChunkAsync(CancellationToken cancellationToken) => throw new NotImplementedException();
    /// <summary>Forgets the current body (RSET, abort, size exceeded); chunks already appended become dead space.</summary>
    public void Reset() => throw new NotImplementedException();
}

public sealed class MessageSpool : IAsyncDisposable
{
    /// <summary>Opens (creating if needed), recovers and indexes the spool. Throws SpoolLockedException or SpoolRecoveryException.</summary>
    public static MessageSpool Open(SpoolOptions options, ILoggerFactory loggerFactory, TimeProvider time) => throw new NotImplementedException();

    public SpoolHealth Health => throw new NotImplementedException();

    public BodyWriter CreateBodyWriter() => throw new NotImplementedException();

    /// <summary>
    /// Makes the message durable: flushes the last chunk, waits for the body log commit, appends Accepted to the
    /// journal and waits for its commit. Returns only when a crash can no longer lose the message.
    /// Throws SpoolUnavailableException (451) on commit failure. Resets the body writer.
    /// </summary>
    public ValueTask<MessageId> AcceptAsync(BodyWriter body, EnvelopeBuilder envelope, CancellationToken cancellationToken) => throw new NotImplementedException();

    public IReadOnlyList<QueuedMessageInfo> List() => throw new NotImplementedException();
    public QueuedMessageInfo? Find(MessageId id) => throw new NotImplementedException();
    public QueueStats GetStats() => throw new NotImplementedException();
    /// <summary>Removes the message from the queue durably; false when there is no such message.</summary>
    public ValueTask<bool> DeleteAsync(MessageId id, CancellationToken cancellationToken) => throw new NotImplementedException();
    /// <summary>Copies the stored body (including our Received header) to the destination.</summary>
    public ValueTask CopyBodyToAsync(MessageId id, Stream destination, CancellationToken cancellationToken) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
