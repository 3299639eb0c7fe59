using System.Collections.Concurrent;
using System.Globalization;

namespace RelayAppliance.Host.Load;

/// <summary>Counters and histograms shared by every worker of one run.</summary>
internal sealed class LoadStatistics
{
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _recipientRefusals = new(StringComparer.Ordinal);
    private long _attempted;
    private long _accepted;
    private long _failed;
    private long _connections;
    private long _unsent;

    /// <summary>TCP connect (SYN to established).</summary>
    public LatencyHistogram Connect { get; } = new("connect");
    /// <summary>Established to the end of the 220 greeting.</summary>
    public LatencyHistogram Greeting { get; } = new("greeting");
    /// <summary>Final dot written to the reply read: the server's durable-accept time.</summary>
    public LatencyHistogram TimeTo250 { get; } = new("time_to_250");
    /// <summary>MAIL FROM to the final reply; in open loop, from the intended send time (so queueing shows).</summary>
    public LatencyHistogram Transaction { get; } = new("transaction");

    public IEnumerable<LatencyHistogram> Histograms => [Connect, Greeting, TimeTo250, Transaction];

    public long Attempted => Interlocked.Read(ref _attempted);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Failed => Interlocked.Read(ref _failed);
    public long Connections => Interlocked.Read(ref _connections);
    /// <summary>Open loop: messages whose send time came but that no connection could take before the run ended.</summary>
    public long Unsent => Interlocked.Read(ref _unsent);

    public void CountConnection() => Interlocked.Increment(ref _connections);
    public void CountUnsent(long n) => Interlocked.Add(ref _unsent, n);

    public void CountAccepted()
    {
        Interlocked.Increment(ref _attempted);
        Interlocked.Increment(ref _accepted);
    }

    /// <summary>A message that failed: by reply code ("451") or connection error class ("refused", "reset").</summary>
    public void CountFailed(string errorClass)
    {
        Interlocked.Increment(ref _attempted);
        Interlocked.Increment(ref _failed);
        _errors.AddOrUpdate(errorClass, 1, static (_, n) => n + 1);
    }

    public void CountFailed(int code) => CountFailed(code.ToString(CultureInfo.InvariantCulture));

    public void CountRecipientRefusal(int code) =>
        _recipientRefusals.AddOrUpdate(code.ToString(CultureInfo.InvariantCulture), 1, static (_, n) => n + 1);

    public IReadOnlyList<KeyValuePair<string, long>> Errors => [.. _errors.OrderBy(e => e.Key, StringComparer.Ordinal)];
    public IReadOnlyList<KeyValuePair<string, long>> RecipientRefusals => [.. _recipientRefusals.OrderBy(e => e.Key, StringComparer.Ordinal)];
}
