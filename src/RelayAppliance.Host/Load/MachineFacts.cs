using System.Globalization;
using System.Runtime.InteropServices;

namespace RelayAppliance.Host.Load;

/// <summary>
/// Facts about the machine that ran the load, so two results can be judged comparable. Read from /proc (Linux is
/// the only platform relayd ships for); a fact that cannot be read is left out rather than guessed.
/// </summary>
internal sealed record MachineFacts(int Cores, string Os, string? Kernel, string Hostname, double[]? LoadAverage, long? MemoryTotalBytes)
{
    public static MachineFacts Read() =>
        new(Environment.ProcessorCount, RuntimeInformation.OSDescription, ReadFirstLine("/proc/sys/kernel/osrelease"),
            Environment.MachineName, ParseLoadAverage(ReadFirstLine("/proc/loadavg")), ParseMemTotal("/proc/meminfo"));

    /// <summary>"0.52 0.58 0.59 1/467 12345": the 1, 5 and 15 minute averages.</summary>
    internal static double[]? ParseLoadAverage(string? line)
    {
        var fields = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields is not { Length: >= 3 })
        {
            return null;
        }
        var averages = new double[3];
        for (var i = 0; i < 3; i++)
        {
            if (!double.TryParse(fields[i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out averages[i]))
            {
                return null;
            }
        }
        return averages;
    }

    /// <summary>"MemTotal:       16318464 kB" (the kernel's kB are KiB).</summary>
    private static long? ParseMemTotal(string path)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    var digits = line["MemTotal:".Length..].Trim().Split(' ')[0];
                    return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib * 1024 : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
