using System.Globalization;
using RelayAppliance.Host.Commands;
using RelayAppliance.Server.Sink;

namespace RelayAppliance.Host.Load;

/// <summary>One --size-dist bucket: messages of <see cref="Size"/> bytes, drawn with relative <see cref="Weight"/>.</summary>
internal readonly record struct SizeBucket(int Size, int Weight);

/// <summary>
/// --size-dist SPEC, e.g. <c>1k:70,10k:25,1m:5</c> (size:weight; k and m are 1024-based). Message i's bucket is a
/// hash of (seed, i), so a run with the same seed sends the same sizes in the same order of message numbers however
/// the workers interleave, and two runs compare. Choosing is a hash and a short scan: no allocation.
/// </summary>
internal sealed class SizeDistribution
{
    public const int DefaultSeed = 1;
    private const int MaxBuckets = 32;
    private readonly long[] _cumulative;
    private readonly long _totalWeight;
    private readonly ulong _seed;

    private SizeDistribution(SizeBucket[] buckets, string spec, int seed)
    {
        Buckets = buckets;
        Spec = spec;
        _seed = (ulong)seed;
        _cumulative = new long[buckets.Length];
        long sum = 0;
        for (var i = 0; i < buckets.Length; i++)
        {
            sum += buckets[i].Weight;
            _cumulative[i] = sum;
        }
        _totalWeight = sum;
    }

    public IReadOnlyList<SizeBucket> Buckets { get; }
    /// <summary>The spec as given, recorded in the JSON parameters.</summary>
    public string Spec { get; }

    /// <summary>The weighted mean size, for the summary and the JSON "size" field.</summary>
    public int MeanSize => (int)(Buckets.Sum(b => (double)b.Size * b.Weight) / _totalWeight);

    public static SizeDistribution Parse(string option, string spec, int seed)
    {
        var items = spec.Split(',', StringSplitOptions.TrimEntries);
        if (items.Length > MaxBuckets)
        {
            throw new UsageException($"load: {option} '{spec}' has more than {MaxBuckets} sizes");
        }
        var buckets = new SizeBucket[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            var colon = items[i].IndexOf(':');
            if (colon <= 0 || !TryParseSize(items[i][..colon], out var size) || size is < 64 or > 100_000_000
                || !int.TryParse(items[i].AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var weight) || weight is < 1 or > 1_000_000)
            {
                throw new UsageException($"load: {option} '{items[i]}' is not SIZE:WEIGHT like 10k:25 (size 64 bytes to 100 MB, weight 1 to 1000000)");
            }
            buckets[i] = new SizeBucket((int)size, weight);
        }
        return new SizeDistribution(buckets, spec, seed);
    }

    private static bool TryParseSize(string text, out long size)
    {
        var (digits, scale) = text.EndsWith('k') || text.EndsWith('K') ? (text[..^1], 1024L)
            : text.EndsWith('m') || text.EndsWith('M') ? (text[..^1], 1024L * 1024) : (text, 1L);
        size = 0;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 100_000_000)
        {
            return false;
        }
        size = n * scale;
        return true;
    }

    /// <summary>The bucket of message <paramref name="messageNumber"/>.</summary>
    public int Choose(long messageNumber) =>
        SeededDraw.Bucket(_seed ^ ((ulong)messageNumber * 0x9E3779B97F4A7C15UL), _cumulative);
}
