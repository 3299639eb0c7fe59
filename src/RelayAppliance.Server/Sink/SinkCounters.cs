namespace RelayAppliance.Server.Sink;

/// <summary>
/// Totals since start, updated with interlocked adds by every session and read by the reporter.
/// Messages are counted when their content has been read (end of DATA / BDAT LAST), whatever the reply.
/// </summary>
public sealed class SinkCounters
{
    private long _connections;
    private long _messages;
    private long _recipients;
    private long _bytes;
    private readonly long[] _byReply;

    public SinkCounters(int replyKinds) => _byReply = new long[replyKinds];

    public long Connections => Interlocked.Read(ref _connections);
    public long Messages => Interlocked.Read(ref _messages);
    /// <summary>Recipients of counted messages.</summary>
    public long Recipients => Interlocked.Read(ref _recipients);
    /// <summary>Message bytes after un-stuffing (DATA) or as sent (BDAT).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);
    /// <summary>Messages answered with the reply-mix entry <paramref name="index"/>.</summary>
    public long ByReply(int index) => Interlocked.Read(ref _byReply[index]);

    public SinkSnapshot Snapshot() => new(Connections, Messages, Recipients, Bytes);

    internal void Connection() => Interlocked.Increment(ref _connections);

    internal void Message(int recipients, long bytes, int replyIndex)
    {
        Interlocked.Increment(ref _messages);
        Interlocked.Add(ref _recipients, recipients);
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Increment(ref _byReply[replyIndex]);
    }
}

public readonly record struct SinkSnapshot(long Connections, long Messages, long Recipients, long Bytes);
