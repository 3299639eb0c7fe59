using System.Diagnostics;
using HdrHistogram;

namespace RelayAppliance.Host.Load;

/// <summary>
/// One latency distribution in microseconds (HdrHistogram, 1 µs to 1 h at 3 significant digits). Recording takes a
/// lock: the progress line reads while workers record, and at load-generator rates the lock is uncontended enough.
/// With <c>perInterval</c>, a second histogram collects the same values and is read and reset once a second for the
/// timeline; both are allocated up front, so recording never allocates.
/// </summary>
internal sealed class LatencyHistogram(string name, bool perInterval = false)
{
    private static readonly long HighestMicroseconds = (long)TimeSpan.FromHours(1).TotalMicroseconds;
    /// <summary>Percentile iteration steps per halving of the distance to 100 %: ~5 points per "nine", 50–100 in all.</summary>
    private const int DistributionTicksPerHalfDistance = 5;
    private readonly LongHistogram _histogram = new(HighestMicroseconds, 3);
    private readonly LongHistogram? _interval = perInterval ? new(HighestMicroseconds, 3) : null;
    private readonly Lock _lock = new();

    public string Name { get; } = name;

    public void Record(long startTimestamp, long endTimestamp) =>
        RecordMicroseconds((long)Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalMicroseconds);

    public void RecordMicroseconds(long microseconds)
    {
        var value = Math.Clamp(microseconds, 1, HighestMicroseconds);
        lock (_lock)
        {
            _histogram.RecordValue(value);
            _interval?.RecordValue(value);
        }
    }

    public LatencySummary Summarize()
    {
        lock (_lock)
        {
            return Summarize(Name, _histogram);
        }
    }

    /// <summary>The values recorded since the last call (the timeline's second), then forgets them.</summary>
    public LatencySummary TakeInterval()
    {
        if (_interval is null)
        {
            throw new InvalidOperationException($"{Name} keeps no per-interval histogram");
        }
        lock (_lock)
        {
            var summary = Summarize(Name, _interval);
            _interval.Reset();
            return summary;
        }
    }

    /// <summary>The percentile curve (HdrHistogram percentile iteration) for the distribution plot; ms by percentile.</summary>
    public IReadOnlyList<PercentilePoint> Distribution()
    {
        lock (_lock)
        {
            if (_histogram.TotalCount == 0)
            {
                return [];
            }
            var points = new List<PercentilePoint>(128);
            foreach (var value in _histogram.Percentiles(DistributionTicksPerHalfDistance))
            {
                points.Add(new PercentilePoint(value.PercentileLevelIteratedTo, Ms(value.ValueIteratedTo)));
            }
            return points;
        }
    }

    private static LatencySummary Summarize(string name, LongHistogram histogram) =>
        histogram.TotalCount == 0
            ? new LatencySummary(name, 0, 0, 0, 0, 0, 0, 0)
            : new LatencySummary(name, histogram.TotalCount, histogram.GetMean() / 1000.0,
                Ms(histogram.GetValueAtPercentile(50)), Ms(histogram.GetValueAtPercentile(90)),
                Ms(histogram.GetValueAtPercentile(99)), Ms(histogram.GetValueAtPercentile(99.9)), Ms(histogram.GetMaxValue()));

    private static double Ms(long microseconds) => microseconds / 1000.0;
}

/// <summary>A histogram's count and percentiles, in milliseconds.</summary>
internal readonly record struct LatencySummary(string Name, long Count, double Mean, double P50, double P90, double P99, double P999, double Max);

/// <summary>One point of a percentile curve: <see cref="Percentile"/> (0–100) of values are at most <see cref="Ms"/>.</summary>
internal readonly record struct PercentilePoint(double Percentile, double Ms);
