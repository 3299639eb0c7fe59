using RelayAppliance.Host.Load;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>The per-second timeline and the percentile curves, from short real runs against the scripted peer.</summary>
public sealed class LoadTimelineTests
{
    [Fact]
    public async Task TimelineHasEverySecondAndSumsToTheTotals()
    {
        // Every 4th message refused: errors must land in the timeline too. 40/s for 70 messages spans ~1.75 s.
        await using var peer = new ScriptedSmtpPeer(n => n % 4 == 0 ? "451 later" : "250 ok");
        var runner = new LoadRunner(LoadOptions.Parse(["--target", peer.Target, "--rate", "40/s", "--messages", "70", "--concurrency", "3", "--per-connection", "0"]));
        await runner.RunAsync();

        var timeline = runner.Statistics.Timeline;
        Assert.InRange(timeline.Count, 2, 6); // ~1.75 s on schedule; a slow start on a busy host stretches it
        Assert.Equal(Enumerable.Range(1, timeline.Count), timeline.Select(s => s.Second));
        Assert.All(timeline.SkipLast(1), s => Assert.Equal(1.0, s.IntervalSeconds));
        Assert.Equal(runner.Statistics.Attempted, timeline.Sum(s => s.Attempted));
        Assert.Equal(runner.Statistics.Accepted, timeline.Sum(s => s.Accepted));
        Assert.Equal(runner.Statistics.Failed, timeline.Sum(s => s.Errors));
        Assert.Equal(70, runner.Statistics.Attempted);
        // Every second that accepted mail has its own time-to-250 percentiles. (How the 70 messages split between the
        // seconds depends on how fast the test host starts the connections, so that is not asserted.)
        Assert.All(timeline.Where(s => s.Accepted > 0), s => Assert.True(s.Ttf250P50 > 0 && s.Ttf250P99 >= s.Ttf250P50, $"second {s.Second}"));
    }

    [Fact]
    public void PerIntervalHistogramIsResetEachTime()
    {
        var histogram = new LatencyHistogram("t", perInterval: true);
        for (var i = 1; i <= 100; i++)
        {
            histogram.RecordMicroseconds(i * 1000);
        }
        var first = histogram.TakeInterval();
        histogram.RecordMicroseconds(5000);
        var second = histogram.TakeInterval();

        Assert.Equal(100, first.Count);
        Assert.InRange(first.P50, 49.9, 50.1);
        Assert.InRange(first.P99, 98.9, 99.1);
        Assert.Equal(1, second.Count);
        Assert.InRange(second.P99, 4.99, 5.01);
        Assert.Equal(0, histogram.TakeInterval().Count);
        Assert.Equal(101, histogram.Summarize().Count); // the whole-run histogram keeps everything
    }

    [Fact]
    public void DistributionIsAMonotonePercentileCurveEndingAtTheMax()
    {
        var histogram = new LatencyHistogram("t");
        Assert.Empty(histogram.Distribution());
        for (var i = 1; i <= 100_000; i++)
        {
            histogram.RecordMicroseconds(i);
        }
        var curve = histogram.Distribution();

        Assert.InRange(curve.Count, 40, 150);
        Assert.Equal(100, curve[^1].Percentile);
        Assert.InRange(curve[^1].Ms, 99.9, 100.1);
        for (var i = 1; i < curve.Count; i++)
        {
            Assert.True(curve[i].Percentile >= curve[i - 1].Percentile && curve[i].Ms >= curve[i - 1].Ms, $"point {i}");
        }
    }

    [Fact]
    public void LoadAverageIsParsedFromProcLoadavg()
    {
        Assert.Equal(new double[] { 0.52, 1.5, 10.0 }, MachineFacts.ParseLoadAverage("0.52 1.50 10.00 1/467 12345"));
        Assert.Null(MachineFacts.ParseLoadAverage("garbage"));
        Assert.Null(MachineFacts.ParseLoadAverage(null));
    }
}
