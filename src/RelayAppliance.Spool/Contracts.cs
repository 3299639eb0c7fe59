// API CONTRACT: the public signatures in this file and in MessageId.cs, EnvelopeBuilder.cs, BodyWriter.cs and
// MessageSpool.cs are what RelayAppliance.Server and Host code against. Keep them stable.

namespace RelayAppliance.Spool;

public sealed class SpoolOptions
{
    /// <summary>The spool folder (Relay:DataDirectory/spool).</summary>
    public required string Directory { get; init; }
    /// <summary>Below this many free bytes new mail is refused (452 4.3.1).</summary>
    public long FreeSpaceFloorBytes { get; init; } = 512L * 1024 * 1024;
    /// <summary>Page, segment and memory sizes and background cadences; tests shrink them (internal knob).</summary>
    internal SpoolTuning Tuning { get; init; } = SpoolTuning.Default;
}

public enum SpoolHealth : byte { Healthy = 0, LowDiskSpace, Failed }

public enum RecipientRoute : byte { Remote = 0, Local = 1 } // persisted: never renumber
public enum RecipientState : byte { Queued = 0, Delivered = 1, Deferred = 2, Failed = 3 } // persisted: never renumber

/// <summary>What became of one delivery attempt for a recipient. Persisted: never renumber (values equal RecipientState's).</summary>
public enum RecipientOutcome : byte { Delivered = 1, Deferred = 2, Failed = 3 }

/// <summary>
/// One recipient's result for <see cref="MessageSpool.RecordResultsAsync"/>. <paramref name="RecipientIndex"/> is the
/// position in <see cref="QueuedMessageInfo.Recipients"/>. <paramref name="Detail"/> is the remote reply or our own
/// error text; the spool keeps at most 512 bytes of it (UTF-8), <paramref name="RemoteHost"/> at most 255.
/// </summary>
public readonly record struct RecipientResult(int RecipientIndex, RecipientOutcome Outcome, string Detail, string? RemoteHost);

/// <summary>A queued message with remote recipients still to deliver, due at <paramref name="DueAt"/> (may be in the past).</summary>
public readonly record struct PendingDelivery(MessageId Id, DateTimeOffset DueAt);

public sealed record RecipientInfo(string Address, RecipientRoute Route, RecipientState State)
{
    /// <summary>Delivery attempts with a recorded result (every outcome counts one).</summary>
    public int Attempts { get; init; }
    /// <summary>When a Deferred recipient is due again; null otherwise.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }
    /// <summary>The detail of the latest recorded result (remote reply or our error text), truncated.</summary>
    public string? LastResult { get; init; }
    /// <summary>The host that gave <see cref="LastResult"/>, when there was one.</summary>
    public string? LastRemoteHost { get; init; }
}

public sealed record QueuedMessageInfo(
    MessageId Id, string Sender, IReadOnlyList<RecipientInfo> Recipients, long Size, DateTimeOffset ReceivedAt,
    string ClientAddress, string Helo, string? AuthenticatedUser, bool Tls, bool SmtpUtf8, bool EightBitMime)
{
    /// <summary>On hold (`relayd queue hold`): not attempted until released.</summary>
    public bool Held { get; init; }
    /// <summary>The sender was sent a delay notification for this message.</summary>
    public bool DelayWarned { get; init; }
}

/// <summary>Recipients counts those not final yet (Queued or Deferred).</summary>
public readonly record struct QueueStats(long Messages, long Recipients, long Bytes);

/// <summary>Thrown when the spool cannot take mail now: the server answers 451 4.3.0.</summary>
public sealed class SpoolUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Thrown by Open when another process holds the spool.</summary>
public sealed class SpoolLockedException(string message) : Exception(message);

/// <summary>Thrown by Open when recovery finds the spool inconsistent; relayd refuses to start.</summary>
public sealed class SpoolRecoveryException(string message, Exception? inner = null) : Exception(message, inner);
