using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace RelayAppliance.Host.Load;

/// <summary>
/// The <c>--report</c> HTML page, rendered from a load result's JSON (so a saved run renders the same as a live one):
/// one self-contained file, charts as inline SVG computed here, no scripts, fonts or links to fetch. Every string
/// that came from the run (target, addresses, error keys) is HTML-escaped. Not a hot path: a StringBuilder is fine.
/// </summary>
internal static class LoadHtmlReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];
    // A timeline interval this short (the run's tail) would plot a rate from a handful of messages; leave it out.
    private const double ShortestPlottedInterval = 0.2;

    private sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

    public static string Render(JsonElement root)
    {
        var html = new StringBuilder(64 * 1024);
        var target = root.TryGetProperty("parameters", out var parameters) && parameters.TryGetProperty("target", out var t) ? LoadResultFile.Text(t) : "?";
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>relayd load → ").Append(Escape(target)).Append("</title>\n")
            .Append("<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:.5em 0 1.5em}")
            .Append("td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}")
            .Append("figure{margin:1em 0}figcaption{font-weight:bold}svg text{font-size:11px}</style></head><body>\n");
        html.Append("<h1>relayd load → ").Append(Escape(target)).Append("</h1>\n<p>")
            .Append(Escape(Field(root, "schema"))).Append(", started ").Append(Escape(Field(root, "started_at")))
            .Append(", elapsed ").Append(Format(LoadResultFile.Number(root, "elapsed_s"))).Append(" s</p>\n");

        html.Append("<h2>Results</h2>\n");
        Table(html, ["", "value"], [
            .. LoadResultFile.Properties(root, "totals").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }),
            .. LoadResultFile.Properties(root, "rates").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }),
        ]);
        Table(html, ["latency (ms)", "count", "mean", "p50", "p90", "p99", "p99.9", "max"],
            LoadResultFile.Properties(root, "latency_ms").Select(kind => Row(kind.Name,
                ["count", "mean", "p50", "p90", "p99", "p99_9", "max"], n => Format(LoadResultFile.Number(kind.Value, n)))));

        var timeline = root.TryGetProperty("timeline", out var tl) && tl.ValueKind == JsonValueKind.Array ? tl.EnumerateArray().ToList() : [];
        html.Append("<h2>Over time</h2>\n");
        Chart(html, "Throughput (messages/s)", "s", TimelineSeries(timeline, ["accepted", "attempted", "errors"], perSecond: true), logX: false);
        Chart(html, "Time to 250 (ms), per second", "s", TimelineSeries(timeline, ["ttf250_p50_ms", "ttf250_p99_ms"], perSecond: false), logX: false);

        html.Append("<h2>Latency distribution</h2>\n");
        var kinds = LoadResultFile.Properties(root, "latency_distribution_ms").ToList();
        if (kinds.Count == 0)
        {
            html.Append("<p>No distribution in this result (schema relayd-load/1).</p>\n");
        }
        foreach (var kind in kinds)
        {
            var points = kind.Value.ValueKind != JsonValueKind.Array ? [] : kind.Value.EnumerateArray()
                .Select(p => (X: PercentileX(LoadResultFile.Number(p, "p") ?? 0), Y: LoadResultFile.Number(p, "ms") ?? 0)).ToList();
            Chart(html, kind.Name + " (ms) by percentile", "percentile", [new Series(kind.Name, points)], logX: true);
        }

        html.Append("<h2>Errors</h2>\n");
        Table(html, ["reply or error", "messages"], LoadResultFile.Properties(root, "errors").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }));
        Table(html, ["refused recipients", "count"], LoadResultFile.Properties(root, "refused_recipients").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }));
        html.Append("<h2>Parameters</h2>\n");
        Table(html, ["parameter", "value"], LoadResultFile.Properties(root, "parameters").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }));
        html.Append("<h2>Machine</h2>\n");
        Table(html, ["fact", "value"], LoadResultFile.Properties(root, "machine").Select(p => new[] { p.Name, LoadResultFile.Text(p.Value) }));
        html.Append("</body></html>\n");
        return html.ToString();
    }

    // HdrHistogram's plot: x = log10(1 / (1 - p)), so 90 %, 99 %, 99.9 % … are evenly spaced. 100 % is infinitely far
    // right; it is drawn at 99.9999 %.
    private static double PercentileX(double percentile) => Math.Log10(1 / Math.Max(1 - (percentile / 100), 1e-6));

    private static string PercentileLabel(double x) => x == 0 ? "0%" : (100 - (100 / Math.Pow(10, x))).ToString("0.#####", Invariant) + "%";

    /// <summary>One series per field; the x of a sample is the end of its interval.</summary>
    private static List<Series> TimelineSeries(List<JsonElement> timeline, string[] fields, bool perSecond)
    {
        var series = fields.Select(f => (Name: f, Points: new List<(double, double)>())).ToList();
        double end = 0;
        foreach (var sample in timeline)
        {
            var interval = LoadResultFile.Number(sample, "interval_s") ?? 1;
            end += interval;
            // Percentiles of a second with no replies are not zero, they are absent.
            if (interval < ShortestPlottedInterval || (!perSecond && (LoadResultFile.Number(sample, "attempted") ?? 0) == 0))
            {
                continue;
            }
            foreach (var (name, points) in series)
            {
                var value = LoadResultFile.Number(sample, name) ?? 0;
                points.Add((end, perSecond ? value / interval : value));
            }
        }
        return [.. series.Select(s => new Series(s.Name, s.Points))];
    }

    private static void Chart(StringBuilder html, string title, string xUnit, IReadOnlyList<Series> series, bool logX)
    {
        const double Width = 720, Height = 280, Left = 64, Right = 16, Top = 12, Bottom = 40;
        html.Append("<figure><figcaption>").Append(Escape(title)).Append("</figcaption>\n");
        var all = series.SelectMany(s => s.Points).ToList();
        if (all.Count == 0)
        {
            html.Append("<p>No data.</p></figure>\n");
            return;
        }
        const double xMin = 0;
        // Seconds: about six round steps, the axis ending at the first step past the data (not at a round 10ⁿ,
        // which would leave a 60 s run on a 100 s axis). Percentiles: one step per "nine".
        var step = logX ? 1 : NiceCeiling(all.Max(p => p.X) / 6);
        var xMax = Math.Max(step, Math.Ceiling((all.Max(p => p.X) / step) - 1e-9) * step);
        var yMax = NiceCeiling(all.Max(p => p.Y));
        double Px(double x) => Left + ((x - xMin) / (xMax - xMin) * (Width - Left - Right));
        double Py(double y) => Height - Bottom - (y / yMax * (Height - Top - Bottom));

        html.Append(Invariant, $"<svg width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\">\n");
        html.Append(Invariant, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"none\" stroke=\"#888\"/>\n");
        for (var i = 0; i <= 4; i++)
        {
            var y = yMax * i / 4;
            html.Append(Invariant, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Py(y):0.#}\" y2=\"{Py(y):0.#}\" stroke=\"#eee\"/>")
                .Append(Invariant, $"<text x=\"{Left - 4}\" y=\"{Py(y) + 4:0.#}\" text-anchor=\"end\">{y:G4}</text>\n");
        }
        for (var x = xMin; x <= xMax + (step / 1000); x += step)
        {
            var label = logX ? PercentileLabel(x) : x.ToString("G4", Invariant) + " " + xUnit;
            html.Append(Invariant, $"<line x1=\"{Px(x):0.#}\" x2=\"{Px(x):0.#}\" y1=\"{Top}\" y2=\"{Height - Bottom}\" stroke=\"#eee\"/>")
                .Append(Invariant, $"<text x=\"{Px(x):0.#}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Escape(label)}</text>\n");
        }
        for (var s = 0; s < series.Count; s++)
        {
            var color = Colors[s % Colors.Length];
            html.Append(Invariant, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"");
            foreach (var (x, y) in series[s].Points)
            {
                html.Append(Invariant, $"{Px(x):0.#},{Py(y):0.#} ");
            }
            html.Append("\"><title>").Append(Escape(series[s].Name)).Append("</title></polyline>\n");
            if (series[s].Points.Count == 1)
            {
                // A polyline of one point draws nothing.
                var (x, y) = series[s].Points[0];
                html.Append(Invariant, $"<circle cx=\"{Px(x):0.#}\" cy=\"{Py(y):0.#}\" r=\"3\" fill=\"{color}\"/>\n");
            }
            html.Append(Invariant, $"<rect x=\"{Left + 8}\" y=\"{Top + 6 + (s * 14)}\" width=\"10\" height=\"10\" fill=\"{color}\"/>")
                .Append(Invariant, $"<text x=\"{Left + 22}\" y=\"{Top + 15 + (s * 14)}\">").Append(Escape(series[s].Name)).Append("</text>\n");
        }
        html.Append("</svg></figure>\n");
    }

    /// <summary>The smallest 1, 2 or 5 × 10ⁿ at or above <paramref name="value"/>, for round axis ends.</summary>
    internal static double NiceCeiling(double value)
    {
        if (value <= 0 || !double.IsFinite(value))
        {
            return 1;
        }
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var factor in (ReadOnlySpan<double>)[1, 2, 5, 10])
        {
            if (factor * magnitude >= value * (1 - 1e-9))
            {
                return factor * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static void Table(StringBuilder html, string[] header, IEnumerable<string[]> rows)
    {
        html.Append("<table><tr>");
        foreach (var h in header)
        {
            html.Append("<th>").Append(Escape(h)).Append("</th>");
        }
        html.Append("</tr>\n");
        foreach (var row in rows)
        {
            html.Append("<tr>");
            foreach (var cell in row)
            {
                html.Append("<td>").Append(Escape(cell)).Append("</td>");
            }
            html.Append("</tr>\n");
        }
        html.Append("</table>\n");
    }

    private static string[] Row(string first, string[] names, Func<string, string> cell) => [first, .. names.Select(cell)];

    private static string Field(JsonElement root, string name) => root.TryGetProperty(name, out var value) ? LoadResultFile.Text(value) : "";

    private static string Format(double? value) => value is { } v ? v.ToString("0.###", Invariant) : "";

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
