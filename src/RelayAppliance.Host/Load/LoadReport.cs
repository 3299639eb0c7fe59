using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace RelayAppliance.Host.Load;

/// <summary>The progress line, the summary table and the JSON document (schema <see cref="Schema"/>, described in the README).</summary>
internal static class LoadReport
{
    /// <summary>
    /// Bump on any incompatible change to the JSON; adding fields is compatible. /2 only added fields to /1
    /// (timeline, latency_distribution_ms, more machine facts), bumped so a reader can tell they are there.
    /// </summary>
    public const string Schema = "relayd-load/2";

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string ProgressLine(LoadRunner runner, long previousAttempted, TimeSpan interval)
    {
        var stats = runner.Statistics;
        var attempted = stats.Attempted;
        var transaction = stats.Transaction.Summarize();
        var rate = (attempted - previousAttempted) / Math.Max(interval.TotalSeconds, 0.001);
        return string.Create(Invariant,
            $"[{runner.SoFar.TotalSeconds,5:0}s] sent {attempted,8} ok {stats.Accepted,8}  {rate,8:0} msg/s  errors {FormatErrors(stats.Errors)}  p50 {transaction.P50:0.00} ms  p99 {transaction.P99:0.00} ms");
    }

    private static string FormatErrors(IReadOnlyList<KeyValuePair<string, long>> errors) =>
        errors.Count == 0 ? "0" : string.Join(' ', errors.Select(e => string.Create(Invariant, $"{e.Key}:{e.Value}")));

    public static void WriteSummary(TextWriter output, LoadOptions options, LoadRunner runner)
    {
        var stats = runner.Statistics;
        var seconds = Math.Max(runner.Elapsed.TotalSeconds, 0.001);
        var mode = options.OpenLoop ? string.Create(Invariant, $"open loop at {options.Rate:0.###}/s") : "closed loop";
        output.WriteLine(string.Create(Invariant,
            $"relayd load → {options.Target}: {mode}, {options.Concurrency} connections, {(options.SizeDistribution is { } d ? "sizes " + d.Spec + " (seed " + options.Seed.ToString(Invariant) + ")" : options.Size.ToString(Invariant) + " bytes")}, {options.Recipients} rcpt, " +
            $"{(options.PerConnection == 0 ? "unlimited" : options.PerConnection.ToString(Invariant))} msg/connection{(options.Pipelining ? ", pipelining" : "")}{(options.StartTls ? ", starttls" : "")}{(options.Credentials is null ? "" : ", auth")}"));
        output.WriteLine(string.Create(Invariant,
            $"messages  attempted {stats.Attempted}  accepted {stats.Accepted}  failed {stats.Failed}  unsent {stats.Unsent}  connections {stats.Connections}"));
        output.WriteLine(string.Create(Invariant,
            $"elapsed   {seconds:0.000} s  accepted {stats.Accepted / seconds:0.0} msg/s  attempted {stats.Attempted / seconds:0.0} msg/s"));
        output.WriteLine();
        output.WriteLine("latency (ms)         count        p50        p90        p99      p99.9        max");
        foreach (var histogram in stats.Histograms)
        {
            var s = histogram.Summarize();
            output.WriteLine(string.Create(Invariant, $"{s.Name,-14} {s.Count,11} {s.P50,10:0.000} {s.P90,10:0.000} {s.P99,10:0.000} {s.P999,10:0.000} {s.Max,10:0.000}"));
        }
        output.WriteLine();
        output.WriteLine($"errors    {FormatErrors(stats.Errors)}");
        if (stats.RecipientRefusals.Count > 0)
        {
            output.WriteLine($"refused recipients {FormatErrors(stats.RecipientRefusals)}");
        }
    }

    public static void WriteJson(Stream stream, LoadOptions options, LoadRunner runner)
    {
        var stats = runner.Statistics;
        var seconds = Math.Max(runner.Elapsed.TotalSeconds, 0.001);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("schema", Schema);
        json.WriteString("started_at", runner.StartedAt);
        json.WriteNumber("elapsed_s", Math.Round(runner.Elapsed.TotalSeconds, 6));

        json.WriteStartObject("parameters");
        json.WriteString("target", options.Target);
        json.WriteString("mode", options.OpenLoop ? "open" : "closed");
        WriteNullable(json, "messages", options.Messages);
        json.WriteNumber("duration_s", options.Duration.TotalSeconds);
        json.WriteNumber("concurrency", options.Concurrency);
        json.WriteNumber("size", options.Size);
        // Written only when used, so a plaintext run's parameters match a /1 result's and `compare` stays quiet.
        if (options.StartTls)
        {
            json.WriteBoolean("starttls", true);
            json.WriteBoolean("tls_verify", options.TlsVerify);
        }
        if (options.Credentials is { } credentials)
        {
            json.WriteString("auth_user", credentials.User);
        }
        if (options.SizeDistribution is { } distribution)
        {
            json.WriteString("size_dist", distribution.Spec);
            json.WriteNumber("seed", options.Seed);
        }
        json.WriteNumber("recipients", options.Recipients);
        json.WriteNumber("per_connection", options.PerConnection);
        json.WriteBoolean("pipelining", options.Pipelining);
        if (options.Rate is { } rate)
        {
            json.WriteNumber("rate", rate);
        }
        else
        {
            json.WriteNull("rate");
        }
        json.WriteString("from", options.From);
        json.WriteString("to", options.To);
        json.WriteEndObject();

        json.WriteStartObject("totals");
        json.WriteNumber("attempted", stats.Attempted);
        json.WriteNumber("accepted", stats.Accepted);
        json.WriteNumber("failed", stats.Failed);
        json.WriteNumber("unsent", stats.Unsent);
        json.WriteNumber("connections", stats.Connections);
        json.WriteEndObject();

        json.WriteStartObject("rates");
        json.WriteNumber("accepted_per_s", Math.Round(stats.Accepted / seconds, 3));
        json.WriteNumber("attempted_per_s", Math.Round(stats.Attempted / seconds, 3));
        json.WriteEndObject();

        json.WriteStartObject("latency_ms");
        foreach (var histogram in stats.Histograms)
        {
            var s = histogram.Summarize();
            json.WriteStartObject(s.Name);
            json.WriteNumber("count", s.Count);
            json.WriteNumber("mean", Math.Round(s.Mean, 3));
            json.WriteNumber("p50", s.P50);
            json.WriteNumber("p90", s.P90);
            json.WriteNumber("p99", s.P99);
            json.WriteNumber("p99_9", s.P999);
            json.WriteNumber("max", s.Max);
            json.WriteEndObject();
        }
        json.WriteEndObject();

        WriteCounts(json, "errors", stats.Errors);
        WriteCounts(json, "refused_recipients", stats.RecipientRefusals);

        json.WriteStartArray("timeline");
        foreach (var sample in stats.Timeline)
        {
            json.WriteStartObject();
            json.WriteNumber("t_s", sample.Second);
            json.WriteNumber("interval_s", Math.Round(sample.IntervalSeconds, 3));
            json.WriteNumber("accepted", sample.Accepted);
            json.WriteNumber("attempted", sample.Attempted);
            json.WriteNumber("errors", sample.Errors);
            json.WriteNumber("ttf250_p50_ms", sample.Ttf250P50);
            json.WriteNumber("ttf250_p99_ms", sample.Ttf250P99);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartObject("latency_distribution_ms");
        foreach (var histogram in stats.Histograms)
        {
            json.WriteStartArray(histogram.Name);
            foreach (var point in histogram.Distribution())
            {
                json.WriteStartObject();
                json.WriteNumber("p", Math.Round(point.Percentile, 6));
                json.WriteNumber("ms", point.Ms);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();

        WriteMachine(json, MachineFacts.Read());
        json.WriteEndObject();
    }

    private static void WriteMachine(Utf8JsonWriter json, MachineFacts machine)
    {
        json.WriteStartObject("machine");
        json.WriteNumber("cores", machine.Cores);
        json.WriteString("os", machine.Os);
        json.WriteString("arch", RuntimeInformation.OSArchitecture.ToString());
        json.WriteString("runtime", RuntimeInformation.FrameworkDescription);
        json.WriteString("relayd", Program.Version);
        json.WriteString("relayd_version", Program.Version);
        if (machine.Kernel is { } kernel)
        {
            json.WriteString("kernel", kernel);
        }
        json.WriteString("hostname", machine.Hostname);
        if (machine.LoadAverage is { } load)
        {
            json.WriteStartArray("load_avg");
            foreach (var average in load)
            {
                json.WriteNumberValue(average);
            }
            json.WriteEndArray();
        }
        if (machine.MemoryTotalBytes is { } memory)
        {
            json.WriteNumber("memory_total_bytes", memory);
        }
        json.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteCounts(Utf8JsonWriter json, string name, IReadOnlyList<KeyValuePair<string, long>> counts)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in counts)
        {
            json.WriteNumber(key, value);
        }
        json.WriteEndObject();
    }
}
