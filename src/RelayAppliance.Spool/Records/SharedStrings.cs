using System.Text;

namespace RelayAppliance.Spool.Records;

/// <summary>
/// Shares the strings of recipient results (remote host, last reply). A big deferred queue holds the same few
/// replies a million times over; one string each instead of one per recipient is most of the index's memory and
/// much of a restart's allocation (queue-scale profile). A small direct-mapped table, lock-free: a slot read or
/// written concurrently at worst misses and allocates a copy, which is still correct.
/// </summary>
internal static class SharedStrings
{
    private const int MaxBytes = 512;
    private static readonly string?[] Slots = new string?[4096];

    public static string Get(ReadOnlySpan<byte> utf8)
    {
        // Only ASCII is compared byte for char; anything else (rare in replies) gets its own string.
        if (utf8.Length > MaxBytes || !Ascii.IsValid(utf8))
            return Encoding.UTF8.GetString(utf8);
        var hash = new HashCode();
        hash.AddBytes(utf8);
        ref var slot = ref Slots[hash.ToHashCode() & (Slots.Length - 1)];
        var cached = Volatile.Read(ref slot);
        if (cached is not null && Ascii.Equals(utf8, cached))
            return cached;
        var value = Encoding.ASCII.GetString(utf8);
        Volatile.Write(ref slot, value);
        return value;
    }
}
