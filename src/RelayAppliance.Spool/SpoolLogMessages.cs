using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool;

/// <summary>Spool log events. Event ids are stable (2000-2099): operators alert on them.</summary>
internal static partial class SpoolLogMessages
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information,
        Message = "Spool opened at {Directory}: {Messages} queued messages, journal [{JournalBegin}, {JournalUntil}), bodies [{BodyBegin}, {BodyUntil}), next id {NextId}, in {ElapsedMs} ms")]
    public static partial void Opened(ILogger logger, string directory, int messages, long journalBegin, long journalUntil, long bodyBegin, long bodyUntil, string nextId, long elapsedMs);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Critical,
        Message = "Commit of the {Log} log failed: the spool is Failed and refuses mail (451 4.3.0) until relayd is restarted")]
    public static partial void CommitFailed(ILogger logger, Exception exception, string log);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning,
        Message = "Free space on the spool filesystem is {FreeBytes} bytes, below the floor of {FloorBytes} bytes: new mail is refused (452 4.3.1)")]
    public static partial void LowDiskSpace(ILogger logger, long freeBytes, long floorBytes);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information,
        Message = "Free space on the spool filesystem is back to {FreeBytes} bytes: accepting mail again")]
    public static partial void DiskSpaceRecovered(ILogger logger, long freeBytes);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Debug,
        Message = "Reclaimed the {Log} log: begin address {OldBegin} -> {NewBegin}")]
    public static partial void Truncated(ILogger logger, string log, long oldBegin, long newBegin);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug,
        Message = "Compacted the journal: carried {Count} live messages ({Bytes} bytes) forward")]
    public static partial void Carried(ILogger logger, int count, long bytes);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Spool reclamation failed")]
    public static partial void ReclaimFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Message {MessageId} deleted from the queue")]
    public static partial void MessageDeleted(ILogger logger, string messageId);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Could not read free space of {Directory}")]
    public static partial void DiskCheckFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning,
        Message = "Dropped {Count} journaled messages whose bodies the body log never committed (cut by a crash before their 250; the clients will retry); body log committed until {BodyCommitted}")]
    public static partial void DroppedUnbacked(ILogger logger, int count, long bodyCommitted);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Debug,
        Message = "Copied {Count} live messages ({Bytes} body bytes) forward out of body segment {Segment}")]
    public static partial void CopiedForward(ILogger logger, int count, long bytes, long segment);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Error,
        Message = "A MessageAccepted handler failed for message {MessageId}; the message is queued regardless")]
    public static partial void MessageAcceptedHandlerFailed(ILogger logger, Exception exception, string messageId);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information,
        Message = "Deleted {Files} segment file(s) of the {Log} log below its begin address ({Bytes} bytes), left by a crash or stop during truncation")]
    public static partial void DeletedLeftoverSegments(ILogger logger, int files, string log, long bytes);
}
