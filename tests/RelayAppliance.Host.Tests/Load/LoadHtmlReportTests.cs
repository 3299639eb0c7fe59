using System.Text.Json;
using System.Text.RegularExpressions;
using RelayAppliance.Host.Load;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>The --report HTML page and `relayd load report`: self-contained, escaped, one chart per view.</summary>
public sealed class LoadHtmlReportTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("relay-load-report-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    [Fact]
    public async Task ALiveRunWritesASelfContainedReportThatLoadReportRendersAgain()
    {
        await using var peer = new ScriptedSmtpPeer(n => n % 5 == 0 ? "451 4.3.0 later" : "250 ok");
        var exit = await LoadCommand.RunAsync(["--target", peer.Target, "--rate", "30/s", "--messages", "40", "--concurrency", "2",
            "--json", PathOf("run.json"), "--report", PathOf("run.html")], new StringWriter(), TextWriter.Null);
        Assert.Equal(0, exit);

        var html = File.ReadAllText(PathOf("run.html"));
        Assert.StartsWith("<!DOCTYPE html>", html);
        // Two timeline charts and one distribution per latency kind, each with a drawn line.
        Assert.Equal(6, Regex.Count(html, "<svg "));
        Assert.Equal(6, Regex.Count(html, "</svg>"));
        Assert.Equal(Regex.Count(html, "<table>"), Regex.Count(html, "</table>"));
        Assert.Matches("<polyline [^>]*points=\"[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.DoesNotContain("<script", html);
        Assert.Contains("<td>451</td><td>8</td>", html); // errors by reply code
        Assert.Contains("99.9%", html); // the log percentile axis

        Assert.Equal(0, await LoadCommand.RunAsync(["report", PathOf("run.json"), "--out", PathOf("again.html")], TextWriter.Null, TextWriter.Null));
        Assert.Equal(html, File.ReadAllText(PathOf("again.html")));
    }

    [Fact]
    public void EveryStringFromTheRunIsEscaped()
    {
        using var document = JsonDocument.Parse("""
            { "schema": "relayd-load/2", "started_at": "2026-01-01T00:00:00Z", "elapsed_s": 1,
              "parameters": { "target": "<script>alert(1)</script>:25", "from": "a\"b@x" },
              "errors": { "<b>x</b>": 3 }, "timeline": [], "latency_distribution_ms": { "t<i>": [ { "p": 50, "ms": 1 } ] } }
            """);
        var html = LoadHtmlReport.Render(document.RootElement);

        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<b>", html);
        Assert.DoesNotContain("t<i>", html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;:25", html);
        Assert.Contains("a&quot;b@x", html);
        Assert.Contains("<td>&lt;b&gt;x&lt;/b&gt;</td><td>3</td>", html);
    }

    [Fact]
    public async Task LoadReportOfASchema1FileRendersWithoutTheNewSections()
    {
        File.WriteAllText(PathOf("old.json"), """
            { "schema": "relayd-load/1", "elapsed_s": 2, "parameters": { "target": "127.0.0.1:25" },
              "totals": { "attempted": 10, "accepted": 10 }, "latency_ms": { "connect": { "count": 10, "p50": 0.1 } } }
            """);
        Assert.Equal(0, await LoadCommand.RunAsync(["report", "--out", PathOf("old.html"), PathOf("old.json")], TextWriter.Null, TextWriter.Null));
        var html = File.ReadAllText(PathOf("old.html"));
        Assert.Contains("No distribution in this result", html);
        Assert.Contains("<td>connect</td><td>10</td>", html);
    }

    [Fact]
    public async Task LoadReportRefusesMissingAndForeignFiles()
    {
        File.WriteAllText(PathOf("not.json"), "{ nope");
        File.WriteAllText(PathOf("other.json"), """{ "schema": "relayd-sink/1" }""");

        Assert.Equal(1, await Program.Main(["load", "report", PathOf("missing.json"), "--out", PathOf("x.html")]));
        Assert.Equal(2, await Program.Main(["load", "report", PathOf("not.json"), "--out", PathOf("x.html")]));
        Assert.Equal(2, await Program.Main(["load", "report", PathOf("other.json"), "--out", PathOf("x.html")]));
        Assert.Equal(2, await Program.Main(["load", "report", PathOf("other.json")]));
        Assert.False(File.Exists(PathOf("x.html")));
    }

    [Fact]
    public void TheTimeAxisEndsNearTheEndOfTheRun()
    {
        var timeline = string.Join(",", Enumerable.Range(1, 60).Select(t => $$"""{ "t_s": {{t}}, "interval_s": 1, "accepted": 100, "attempted": 100, "errors": 0 }"""));
        using var document = JsonDocument.Parse($$"""{ "schema": "relayd-load/2", "timeline": [ {{timeline}} ] }""");
        var html = LoadHtmlReport.Render(document.RootElement);

        Assert.Contains(">60 s</text>", html);
        Assert.DoesNotContain(">70 s</text>", html); // not a round 100 s axis for a 60 s run
        Assert.Contains(">10 s</text>", html);
    }

    [Theory]
    [InlineData(0.7, 1)]
    [InlineData(1, 1)]
    [InlineData(1.01, 2)]
    [InlineData(3, 5)]
    [InlineData(730, 1000)]
    public void AxesEndAtRoundNumbers(double value, double expected) => Assert.Equal(expected, LoadHtmlReport.NiceCeiling(value));
}
