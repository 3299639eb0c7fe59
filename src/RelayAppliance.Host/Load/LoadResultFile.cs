using System.Text.Json;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Load;

/// <summary>Reads a <c>relayd load --json</c> result back (for <c>load report</c> and <c>load compare</c>).</summary>
internal static class LoadResultFile
{
    /// <summary>Every schema this relayd reads: /2 only added fields to /1, so a reader of /1 fields reads both.</summary>
    public static readonly string[] Schemas = ["relayd-load/1", LoadReport.Schema];

    /// <summary>
    /// A missing or unreadable file throws <see cref="IOException"/> / <see cref="UnauthorizedAccessException"/>
    /// (the caller exits 1, like an unwritable --json); a file that is not a load result is a
    /// <see cref="UsageException"/> (exit 2), since the wrong file was named.
    /// </summary>
    public static JsonDocument Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new UsageException($"load: {path} is not JSON ({e.Message})");
        }
        var root = document.RootElement;
        var schema = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("schema", out var s) && s.ValueKind == JsonValueKind.String
            ? s.GetString()
            : null;
        if (schema is null || !Schemas.Contains(schema, StringComparer.Ordinal))
        {
            document.Dispose();
            throw new UsageException($"load: {path} is not a relayd load result (schema '{schema ?? "none"}', expected {string.Join(" or ", Schemas)})");
        }
        return document;
    }

    /// <summary>A number at a path of object properties, or null when any step is missing or not a number.</summary>
    public static double? Number(JsonElement element, params ReadOnlySpan<string> path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }
        return element.ValueKind == JsonValueKind.Number ? element.GetDouble() : null;
    }

    /// <summary>An object's properties, or none when it is missing or not an object.</summary>
    public static IEnumerable<JsonProperty> Properties(JsonElement element, string name) =>
        element.TryGetProperty(name, out var child) && child.ValueKind == JsonValueKind.Object ? child.EnumerateObject() : [];

    /// <summary>A property as display text: strings as they are, anything else as its JSON.</summary>
    public static string Text(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText();
}
