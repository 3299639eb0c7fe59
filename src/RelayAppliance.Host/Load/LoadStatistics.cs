using System.Collections.Concurrent;
using System.Globalization;

namespace RelayAppliance.Host.Load;

/// <summary>Counters and histograms shared by every worker of one run.</summary>
internal sealed class LoadStatistics(bool tls = false)
{
    private readonly bool _tls = tls;
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _recipientRefusals = new(StringComparer.Ordinal);
    private long _attempted;
    private long _accepted;
    private long _failed;
    private long _connections;
    private long _unsent;
    // The timeline: written by the one sampler (once a second and once at the end), read after the run.
    private readonly List<TimelineSample> _timeline = [];
    private long _sampledAccepted;
    private long _sampledAttempted;
    private long _sampledFailed;

    /// <summary>TCP connect (SYN to established).</summary>
    public LatencyHistogram Connect { get; } = new("connect");
    /// <summary>Established to the end of the 220 greeting.</summary>
    public LatencyHistogram Greeting { get; } = new("greeting");
    /// <summary>Final dot written to the reply read: the server's durable-accept time.</summary>
    public LatencyHistogram TimeTo250 { get; } = new("time_to_250", perInterval: true);
    /// <summary>MAIL FROM to the final reply; in open loop, from the intended send time (so queueing shows).</summary>
    public LatencyHistogram Transaction { get; } = new("transaction");

    /// <summary>STARTTLS sent to the TLS handshake done (--starttls only).</summary>
    public LatencyHistogram Tls { get; } = new("tls");

    /// <summary>The kinds reported; "tls" only when the run used STARTTLS, so plaintext results keep the /1 set.</summary>
    public IEnumerable<LatencyHistogram> Histograms => _tls ? [Connect, Greeting, Tls, TimeTo250, Transaction] : [Connect, Greeting, TimeTo250, Transaction];

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

    /// <summary>
    /// Closes timeline interval <paramref name="second"/> (1-based; the last one may be shorter than a second):
    /// the counts since the previous sample, and time-to-250 over the interval. Called by one sampler only.
    /// </summary>
    public void Sample(int second, TimeSpan interval)
    {
        long accepted = Accepted, attempted = Attempted, failed = Failed;
        var ttf250 = TimeTo250.TakeInterval();
        _timeline.Add(new TimelineSample(second, interval.TotalSeconds, accepted - _sampledAccepted, attempted - _sampledAttempted,
            failed - _sampledFailed, ttf250.P50, ttf250.P99));
        (_sampledAccepted, _sampledAttempted, _sampledFailed) = (accepted, attempted, failed);
    }

    public IReadOnlyList<TimelineSample> Timeline => _timeline;
}

/// <summary>One second of the run: messages finished in it, and time-to-250 percentiles of the final-dot replies read in it (ms).</summary>
internal readonly record struct TimelineSample(int Second, double IntervalSeconds, long Accepted, long Attempted, long Errors, double Ttf250P50, double Ttf250P99);
