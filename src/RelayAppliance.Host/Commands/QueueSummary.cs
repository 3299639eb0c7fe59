using System.Text;
using System.Text.Json;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Commands;

/// <summary>
/// `relayd queue summary`: pending recipients by destination domain and age, like Postfix's qshape — where the
/// queue is stuck, and since when.
/// </summary>
internal static class QueueSummary
{
    // Age bucket upper bounds in minutes (qshape's doubling scale); the last bucket is open-ended.
    private static readonly int[] Buckets = [5, 10, 20, 40, 80, 160, 320, 640, 1280];

    public static string Render(IReadOnlyList<QueuedMessageInfo> messages, DateTimeOffset now, bool json)
    {
        var rows = new SortedDictionary<string, long[]>(StringComparer.Ordinal);
        var total = new long[Buckets.Length + 1];
        foreach (var message in messages)
        {
            var bucket = Bucket(now - message.ReceivedAt);
            foreach (var recipient in message.Recipients)
            {
                if (recipient.State is RecipientState.Delivered or RecipientState.Failed)
                {
                    continue;
                }
                var domain = Domain(recipient.Address);
                if (!rows.TryGetValue(domain, out var counts))
                {
                    rows[domain] = counts = new long[Buckets.Length + 1];
                }
                counts[bucket]++;
                total[bucket]++;
            }
        }
        return json ? Json(rows) : Table(rows, total);
    }

    private static int Bucket(TimeSpan age)
    {
        for (var i = 0; i < Buckets.Length; i++)
        {
            if (age.TotalMinutes < Buckets[i])
            {
                return i;
            }
        }
        return Buckets.Length;
    }

    private static string Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address.ToLowerInvariant() : address[(at + 1)..].ToLowerInvariant();
    }

    private static string Table(SortedDictionary<string, long[]> rows, long[] total)
    {
        var text = new StringBuilder();
        var width = Math.Max(6, rows.Keys.Select(k => k.Length).DefaultIfEmpty(0).Max());
        text.Append("domain".PadLeft(width)).Append("  total");
        foreach (var bound in Buckets)
        {
            text.Append(' ').Append($"<{bound}m".PadLeft(7));
        }
        text.Append(' ').Append($"{Buckets[^1]}m+".PadLeft(7)).Append('\n');
        AppendRow(text, "TOTAL", total, width);
        foreach (var (domain, counts) in rows.OrderByDescending(r => r.Value.Sum()))
        {
            AppendRow(text, domain, counts, width);
        }
        return text.ToString();
    }

    private static void AppendRow(StringBuilder text, string name, long[] counts, int width)
    {
        text.Append(name.PadLeft(width)).Append(' ').Append(counts.Sum().ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(6));
        foreach (var count in counts)
        {
            text.Append(' ').Append(count.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(7));
        }
        text.Append('\n');
    }

    private static string Json(SortedDictionary<string, long[]> rows)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("bucketsMinutes");
            foreach (var bound in Buckets)
            {
                json.WriteNumberValue(bound);
            }
            json.WriteEndArray();
            json.WriteStartArray("domains");
            foreach (var (domain, counts) in rows)
            {
                json.WriteStartObject();
                json.WriteString("domain", domain);
                json.WriteNumber("recipients", counts.Sum());
                json.WriteStartArray("byAge");
                foreach (var count in counts)
                {
                    json.WriteNumberValue(count);
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
