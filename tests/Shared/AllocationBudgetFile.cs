using System.Text.Json;

namespace RelayAppliance.Testing;

/// <summary>
/// perf/allocation-budgets.json: bytes allowed per operation. Each entry is checked by one test project, named by its
/// "test" field (the Protocol tests' when it has none), so a project reads only its own entries.
/// </summary>
internal static class AllocationBudgetFile
{
    public const string FileName = "perf/allocation-budgets.json";
    private const string DefaultProject = "RelayAppliance.Protocol.Tests";

    public static Dictionary<string, long> Read(string testProject)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(FindRepositoryRoot(), FileName)));
        var budgets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (JsonElement entry in document.RootElement.GetProperty("budgets").EnumerateArray())
        {
            string? project = entry.TryGetProperty("test", out JsonElement test) ? test.GetString() : DefaultProject;
            if (project != testProject)
            {
                continue;
            }
            string name = entry.GetProperty("operation").GetString()!;
            if (!budgets.TryAdd(name, entry.GetProperty("bytesPerOp").GetInt64()))
            {
                throw new InvalidOperationException($"{FileName} lists {name} twice.");
            }
        }
        return budgets;
    }

    private static string FindRepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RelayAppliance.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No RelayAppliance.sln above {AppContext.BaseDirectory}.");
    }
}
