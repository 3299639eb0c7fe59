using System.Diagnostics;
using HdrHistogram;

namespace RelayAppliance.Host.Load;

/// <summary>
/// One latency distribution in microseconds (HdrHistogram, 1 µs to 1 h at 3 significant digits). Recording takes a
/// lock: the progress line reads while workers record, and at load-generator rates the lock is uncontended enough.
/// </summary>
internal sealed class LatencyHistogram(string name)
{
    private static readonly long HighestMicroseconds = (long)TimeSpan.FromHours(1).TotalMicroseconds;
    private readonly LongHistogram _histogram = new(HighestMicroseconds, 3);
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
        }
    }

    public LatencySummary Summarize()
    {
        lock (_lock)
        {
            var count = _histogram.TotalCount;
            return count == 0
                ? new LatencySummary(Name, 0, 0, 0, 0, 0, 0, 0)
                : new LatencySummary(Name, count, _histogram.GetMean() / 1000.0,
                    Ms(_histogram.GetValueAtPercentile(50)), Ms(_histogram.GetValueAtPercentile(90)),
                    Ms(_histogram.GetValueAtPercentile(99)), Ms(_histogram.GetValueAtPercentile(99.9)), Ms(_histogram.GetMaxValue()));
        }
    }

    private static double Ms(long microseconds) => microseconds / 1000.0;
}

/// <summary>A histogram's count and percentiles, in milliseconds.</summary>
internal readonly record struct LatencySummary(string Name, long Count, double Mean, double P50, double P90, double P99, double P999, double Max);
