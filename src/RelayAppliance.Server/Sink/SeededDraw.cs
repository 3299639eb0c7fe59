namespace RelayAppliance.Server.Sink;

/// <summary>
/// A weighted choice that is a pure function of its key: the sink's reply mix and the load generator's size
/// distribution draw with it, so a seeded run repeats exactly and nothing is allocated or locked per message.
/// </summary>
public static class SeededDraw
{
    /// <summary>
    /// The bucket the hash of <paramref name="key"/> falls in, where <paramref name="cumulative"/> holds the running sums
    /// of the buckets' weights (the last one is the total).
    /// </summary>
    public static int Bucket(ulong key, ReadOnlySpan<long> cumulative)
    {
        var draw = (long)(SplitMix64(key) % (ulong)cumulative[^1]);
        var i = 0;
        while (draw >= cumulative[i])
        {
            i++;
        }
        return i;
    }

    // SplitMix64's finalizer (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", 2014): a fast,
    // well-mixed 64-bit hash of a counter.
    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
