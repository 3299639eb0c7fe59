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
