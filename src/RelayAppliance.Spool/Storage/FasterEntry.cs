using System.Numerics;
using System.Runtime.InteropServices;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// One FasterLog entry as it lies in a segment file, with per-entry checksums (FASTER 2.6.5 <c>FasterLog.SetHeader</c>
/// and <c>VerifyChecksum</c>): an 8-byte checksum, the 4-byte payload length, the payload. The checksum is the XOR of
/// the length and payload taken as 8-byte words, the bytes of a last partial word XORed in one by one
/// (<c>Utility.XorBytes</c>); all in the machine's byte order, as FASTER writes it. It is FASTER's on-disk format,
/// which recovery already relies on; here it lets the spool check an entry it read from the file itself exactly as
/// FASTER's own read would.
/// </summary>
internal static class FasterEntry
{
    public const int HeaderSize = 12;

    /// <summary>Whether <paramref name="entry"/> is one whole entry: its length field matches and its checksum holds.</summary>
    public static bool IsIntact(ReadOnlySpan<byte> entry) =>
        entry.Length >= HeaderSize
        && MemoryMarshal.Read<int>(entry[8..]) == entry.Length - HeaderSize
        && Checksum(entry[8..]) == MemoryMarshal.Read<ulong>(entry);

    internal static ulong Checksum(ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(bytes[..(bytes.Length & ~7)]);
        var vectors = MemoryMarshal.Cast<ulong, Vector<ulong>>(words);
        var lanes = Vector<ulong>.Zero;
        foreach (var vector in vectors)
            lanes ^= vector;
        ulong result = 0;
        for (int i = 0; i < Vector<ulong>.Count; i++)
            result ^= lanes[i];
        foreach (var word in words[(vectors.Length * Vector<ulong>.Count)..])
            result ^= word;
        foreach (var tail in bytes[(bytes.Length & ~7)..])
            result ^= tail;
        return result;
    }
}
