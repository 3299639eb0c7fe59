using System.Text.Json;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Load;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>`relayd load compare`: the table's values and changes, parameter warnings, bad input.</summary>
public sealed class LoadCompareTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("relay-load-compare-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string json)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static string Result(string schema, double acceptedPerS, long failed, double p99, int concurrency, string extraParameters = "") => $$"""
        { "schema": "{{schema}}", "elapsed_s": 10,
          "parameters": { "target": "127.0.0.1:2525", "concurrency": {{concurrency}}, "size": 1024{{extraParameters}} },
          "totals": { "attempted": 1000, "accepted": {{1000 - failed}}, "failed": {{failed}} },
          "rates": { "accepted_per_s": {{acceptedPerS}}, "attempted_per_s": 100 },
          "latency_ms": { "time_to_250": { "count": 1000, "p50": 1, "p90": 2, "p99": {{p99}}, "max": 9 } } }
        """;

    [Fact]
    public void TheTableShowsBothValuesAndTheChange()
    {
        var a = Write("a.json", Result("relayd-load/1", 100, 0, 4, 10));
        var b = Write("b.json", Result("relayd-load/2", 125, 10, 3, 10));
        var output = new StringWriter();
        var error = new StringWriter();

        Assert.Equal(0, LoadCompare.Run([a, b], output, error));

        var lines = output.ToString().Split('\n');
        Assert.Matches(@"^accepted msg/s\s+100\s+125\s+\+25\.0%", lines.Single(l => l.StartsWith("accepted msg/s", StringComparison.Ordinal)));
        Assert.Matches(@"^failed\s+0\s+10\s+n/a", lines.Single(l => l.StartsWith("failed", StringComparison.Ordinal)));
        Assert.Matches(@"^time_to_250 p99 ms\s+4\s+3\s+-25\.0%", lines.Single(l => l.StartsWith("time_to_250 p99", StringComparison.Ordinal)));
        Assert.Matches(@"^time_to_250 max ms\s+9\s+9\s+0\.0%", lines.Single(l => l.StartsWith("time_to_250 max", StringComparison.Ordinal)));
        Assert.Equal("", error.ToString()); // same parameters: no warning
    }

    [Fact]
    public void DifferentParametersAreNamedInAWarning()
    {
        var a = Write("a.json", Result("relayd-load/2", 100, 0, 4, 10));
        var b = Write("b.json", Result("relayd-load/2", 100, 0, 4, 20, """, "size_dist": "1k:70,10k:30" """));
        var error = new StringWriter();

        Assert.Equal(0, LoadCompare.Run([a, b], new StringWriter(), error));

        Assert.Contains("warning", error.ToString());
        Assert.Contains("concurrency (10 → 20)", error.ToString());
        Assert.Contains("size_dist (absent → 1k:70,10k:30)", error.ToString());
        Assert.DoesNotContain("target", error.ToString());
    }

    [Fact]
    public void JsonOutputHasEveryMetricAndDifference()
    {
        var a = Write("a.json", Result("relayd-load/2", 200, 0, 4, 10));
        var b = Write("b.json", Result("relayd-load/2", 100, 0, 4, 5));
        var output = new StringWriter();

        Assert.Equal(0, LoadCompare.Run([a, b, "--json"], output, new StringWriter()));

        using var json = JsonDocument.Parse(output.ToString());
        var metrics = json.RootElement.GetProperty("metrics").EnumerateArray().ToDictionary(m => m.GetProperty("metric").GetString()!);
        Assert.Equal(5 + 4, metrics.Count); // 5 counts and rates, 4 percentiles of the one latency kind
        Assert.Equal(-50, metrics["accepted msg/s"].GetProperty("change_pct").GetDouble());
        Assert.Equal(JsonValueKind.Null, metrics["failed"].GetProperty("change_pct").ValueKind);
        Assert.Equal("concurrency", json.RootElement.GetProperty("parameter_differences")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task BadInputIsAClearErrorWithTheCliExitCodes()
    {
        var good = Write("good.json", Result("relayd-load/2", 1, 0, 1, 1));
        var foreign = Write("sink.json", """{ "schema": "relayd-sink/1", "messages": 3 }""");
        var broken = Write("broken.json", "{ \"schema\": ");
        var missing = Path.Combine(_directory, "missing.json");

        var e = Assert.Throws<UsageException>(() => LoadCompare.Run([good, foreign], TextWriter.Null, TextWriter.Null));
        Assert.Contains("sink.json", e.Message);
        Assert.Contains("relayd-sink/1", e.Message);
        Assert.Throws<UsageException>(() => LoadCompare.Run([good, broken], TextWriter.Null, TextWriter.Null));
        Assert.Throws<UsageException>(() => LoadCompare.Run([good], TextWriter.Null, TextWriter.Null));
        var error = new StringWriter();
        Assert.Equal(1, LoadCompare.Run([missing, good], TextWriter.Null, error));
        Assert.Contains("missing.json", error.ToString());

        Assert.Equal(2, await Program.Main(["load", "compare", good, foreign]));
        Assert.Equal(1, await Program.Main(["load", "compare", good, missing]));
        Assert.Equal(0, await Program.Main(["load", "compare", good, good]));
    }
}
