using System.Globalization;
using System.Text.Json;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Load;

/// <summary>
/// <c>relayd load compare A.json B.json [--json]</c>: the headline numbers of two results side by side with the change
/// from A to B, and a warning naming every parameter that differs (a comparison of unlike runs is rarely meant).
/// Reads relayd-load/1 and /2: it only uses fields /1 already had.
/// </summary>
internal static class LoadCompare
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly string[] Percentiles = ["p50", "p90", "p99", "max"];

    internal readonly record struct Metric(string Name, double? A, double? B)
    {
        /// <summary>(B − A) / A in percent; null when A is zero or either side is missing.</summary>
        public double? ChangePercent => A is { } a && B is { } b && a != 0 ? (b - a) / a * 100 : null;
    }

    internal readonly record struct ParameterDifference(string Name, string? A, string? B);

    public const string Usage = "load compare: usage is 'relayd load compare A.json B.json [--json]'";

    /// <summary>0 compared, 1 a file unreadable, 2 usage (including a file that is not a load result).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var json = args.Contains("--json");
        var files = args.Where(a => a != "--json").ToArray();
        if (files.Length != 2 || files.Any(f => f.StartsWith("--", StringComparison.Ordinal)))
        {
            throw new UsageException(Usage);
        }
        JsonDocument a, b;
        try
        {
            a = LoadResultFile.Read(files[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"relayd: cannot read {files[0]}: {e.Message}");
            return Program.ExitFailure;
        }
        using (a)
        {
            try
            {
                b = LoadResultFile.Read(files[1]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"relayd: cannot read {files[1]}: {e.Message}");
                return Program.ExitFailure;
            }
            using (b)
            {
                var metrics = Metrics(a.RootElement, b.RootElement);
                var differences = ParameterDifferences(a.RootElement, b.RootElement);
                if (json)
                {
                    WriteJson(output, files, metrics, differences);
                }
                else
                {
                    WriteTable(output, files, metrics);
                }
                if (differences.Count > 0)
                {
                    error.WriteLine("relayd: warning: the runs' parameters differ: " +
                        string.Join(", ", differences.Select(d => $"{d.Name} ({d.A ?? "absent"} → {d.B ?? "absent"})")));
                }
                return Program.ExitOk;
            }
        }
    }

    internal static List<Metric> Metrics(JsonElement a, JsonElement b)
    {
        List<Metric> metrics =
        [
            Pair("accepted msg/s", a, b, "rates", "accepted_per_s"),
            Pair("attempted msg/s", a, b, "rates", "attempted_per_s"),
            Pair("attempted", a, b, "totals", "attempted"),
            Pair("accepted", a, b, "totals", "accepted"),
            Pair("failed", a, b, "totals", "failed"),
        ];
        // Latency kinds in A's order, then any only B has (a /2 run with --starttls has "tls", say).
        var kinds = LoadResultFile.Properties(a, "latency_ms").Select(p => p.Name)
            .Concat(LoadResultFile.Properties(b, "latency_ms").Select(p => p.Name)).Distinct(StringComparer.Ordinal);
        foreach (var kind in kinds)
        {
            foreach (var percentile in Percentiles)
            {
                metrics.Add(Pair($"{kind} {percentile} ms", a, b, "latency_ms", kind, percentile));
            }
        }
        return metrics;
    }

    private static Metric Pair(string name, JsonElement a, JsonElement b, params string[] path) =>
        new(name, LoadResultFile.Number(a, path), LoadResultFile.Number(b, path));

    internal static List<ParameterDifference> ParameterDifferences(JsonElement a, JsonElement b)
    {
        var inA = LoadResultFile.Properties(a, "parameters").ToDictionary(p => p.Name, p => LoadResultFile.Text(p.Value), StringComparer.Ordinal);
        var inB = LoadResultFile.Properties(b, "parameters").ToDictionary(p => p.Name, p => LoadResultFile.Text(p.Value), StringComparer.Ordinal);
        return [.. inA.Keys.Concat(inB.Keys).Distinct(StringComparer.Ordinal)
            .Select(name => new ParameterDifference(name, inA.GetValueOrDefault(name), inB.GetValueOrDefault(name)))
            .Where(d => d.A != d.B)];
    }

    private static void WriteTable(TextWriter output, string[] files, List<Metric> metrics)
    {
        output.WriteLine($"A = {files[0]}");
        output.WriteLine($"B = {files[1]}");
        output.WriteLine(string.Create(Invariant, $"{"metric",-24} {"A",14} {"B",14} {"change",9}"));
        foreach (var m in metrics)
        {
            output.WriteLine(string.Create(Invariant, $"{m.Name,-24} {Format(m.A),14} {Format(m.B),14} {FormatChange(m.ChangePercent),9}"));
        }
    }

    internal static string FormatChange(double? percent) => percent is { } p ? p.ToString("+0.0;-0.0;0.0", Invariant) + "%" : "n/a";

    private static string Format(double? value) => value is { } v ? v.ToString("0.###", Invariant) : "-";

    private static void WriteJson(TextWriter output, string[] files, List<Metric> metrics, List<ParameterDifference> differences)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("schema", "relayd-load-compare/1");
            json.WriteString("a", files[0]);
            json.WriteString("b", files[1]);
            json.WriteStartArray("metrics");
            foreach (var m in metrics)
            {
                json.WriteStartObject();
                json.WriteString("metric", m.Name);
                WriteNumberOrNull(json, "a", m.A);
                WriteNumberOrNull(json, "b", m.B);
                WriteNumberOrNull(json, "change_pct", m.ChangePercent is { } c ? Math.Round(c, 3) : null);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("parameter_differences");
            foreach (var d in differences)
            {
                json.WriteStartObject();
                json.WriteString("name", d.Name);
                json.WriteString("a", d.A);
                json.WriteString("b", d.B);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, double? value)
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
}
