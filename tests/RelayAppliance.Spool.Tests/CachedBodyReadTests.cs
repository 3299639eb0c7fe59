using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool.Tests;

/// <summary>
/// Bodies are read straight from the bodies log's segment files when the page cache holds them
/// (<see cref="SpoolLog.TryReadCommitted"/>), and through FASTER otherwise: the bytes must be the same either way, and a
/// damaged entry must never come back from the cache.
/// </summary>
public sealed class CachedBodyReadTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(4099)]
    [InlineData(65_536 + 13)]
    public unsafe void The_entry_checksum_is_FASTERs_own(int length)
    {
        var bytes = SpoolTestExtensions.Body(length, seed: length);
        fixed (byte* start = bytes)
            Assert.Equal(FASTER.core.Utility.XorBytes(start, length), FasterEntry.Checksum(bytes));
    }

    [Fact]
    public async Task Committed_bodies_are_read_from_the_page_cache_across_segments_byte_exact()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        // Small tuning: 64 KiB chunks, 128 KiB segments, so these bodies span chunks and segment files.
        var bodies = new[] { SpoolTestExtensions.Body(300_000, 1), SpoolTestExtensions.Body(5_000, 2), SpoolTestExtensions.Body(140_000, 3) };
        var ids = new List<MessageId>();
        foreach (var body in bodies)
            ids.Add(await spool.AcceptAsync(body));
        long before = spool.Bodies.CachedReads;

        for (int i = 0; i < bodies.Length; i++)
            Assert.Equal(bodies[i], await spool.ReadBodyAsync(ids[i]));

        Assert.Equal(5 + 1 + 3, spool.Bodies.CachedReads - before); // one read per chunk, none through FASTER
    }

    [Fact]
    public async Task Bodies_not_in_the_page_cache_are_read_through_FASTER_with_the_same_bytes()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var body = SpoolTestExtensions.Body(200_000, 4);
        var id = await spool.AcceptAsync(body);
        spool.Bodies.RefuseCachedReads = true;
        long before = spool.Bodies.CachedReads;

        Assert.Equal(body, await spool.ReadBodyAsync(id));
        Assert.Equal(before, spool.Bodies.CachedReads);
    }

    [Fact]
    public async Task A_damaged_entry_is_never_returned_from_the_page_cache()
    {
        using var temp = new TempSpool();
        await using var spool = temp.Open();
        var body = SpoolTestExtensions.Body(20_000, 5);
        var id = await spool.AcceptAsync(body);
        Assert.Equal(body, await spool.ReadBodyAsync(id));
        long before = spool.Bodies.CachedReads;

        // Flip one payload byte in the segment file (through the page cache, where the cached read looks).
        var segment = Path.Combine(temp.BodiesDir, "log.0");
        var onDisk = await File.ReadAllBytesAsync(segment);
        int at = onDisk.AsSpan().IndexOf(body.AsSpan(10_000, 32));
        Assert.True(at > 0, "the body's bytes are in the first segment");
        await using (var file = new FileStream(segment, FileMode.Open, FileAccess.Write))
        {
            file.Position = at;
            file.WriteByte((byte)(onDisk[at] ^ 0x5A));
        }

        // The cached read refuses it (checksum), and FASTER's own read then fails the same way.
        await Assert.ThrowsAnyAsync<Exception>(() => spool.ReadBodyAsync(id));
        Assert.Equal(before, spool.Bodies.CachedReads);
    }
}
