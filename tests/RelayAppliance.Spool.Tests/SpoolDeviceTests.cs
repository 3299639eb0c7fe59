using System.Runtime.InteropServices;
using RelayAppliance.Spool.Storage;

namespace RelayAppliance.Spool.Tests;

/// <summary>
/// The spool's FASTER device on its own: data round-trips, zero-fill runs ahead of the last write but never over data
/// (of this run or an earlier one) and never past the segment, and errors reach the callback. The spool tests exercise
/// it under FASTER.
/// </summary>
public sealed class SpoolDeviceTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-device-tests", Guid.NewGuid().ToString("n"));

    public SpoolDeviceTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Segment(int id) => Path.Combine(_directory, "log." + id);

    private SpoolDevice Open(long zeroAhead, long segmentSize)
    {
        var device = new SpoolDevice(Path.Combine(_directory, "log"), zeroAhead);
        device.Initialize(segmentSize);
        return device;
    }

    private static byte[] Pattern(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private static Task<(uint Error, uint Bytes)> WriteAsync(SpoolDevice device, int segment, long offset, byte[] data, Action? onCallback = null)
    {
        var done = new TaskCompletionSource<(uint, uint)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = Marshal.AllocHGlobal(data.Length);
        Marshal.Copy(data, 0, source, data.Length);
        device.WriteAsync(source, segment, (ulong)offset, (uint)data.Length, (error, bytes, _) =>
        {
            onCallback?.Invoke();
            Marshal.FreeHGlobal(source);
            done.SetResult((error, bytes));
        }, null!);
        return done.Task;
    }

    private static Task<(uint Error, byte[] Data)> ReadAsync(SpoolDevice device, int segment, long offset, int length, byte fill = 0)
    {
        var done = new TaskCompletionSource<(uint, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        var destination = Marshal.AllocHGlobal(length);
        Marshal.Copy(Pattern(length, fill), 0, destination, length);
        device.ReadAsync(segment, (ulong)offset, destination, (uint)length, (error, bytes, _) =>
        {
            var data = new byte[bytes];
            Marshal.Copy(destination, data, 0, (int)bytes);
            Marshal.FreeHGlobal(destination);
            done.SetResult((error, data));
        }, null!);
        return done.Task;
    }

    private static async Task WaitForLengthAsync(string path, long length)
    {
        await SpoolTestExtensions.WaitUntilAsync(() => new FileInfo(path).Length == length, $"{path} reaching {length} bytes");
        await Task.Delay(200); // and staying there
        Assert.Equal(length, new FileInfo(path).Length);
    }

    /// <summary>The open flags of this process's descriptor for <paramref name="path"/>, from /proc/self/fdinfo.</summary>
    private static int OpenFlags(string path)
    {
        foreach (var fd in new DirectoryInfo("/proc/self/fd").GetFileSystemInfos())
        {
            if (fd.LinkTarget == path)
            {
                var line = File.ReadLines($"/proc/self/fdinfo/{fd.Name}").First(l => l.StartsWith("flags:"));
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
        }
        throw new InvalidOperationException($"no open descriptor for {path}");
    }

    [Fact]
    public async Task Segments_are_written_with_O_DSYNC_not_O_SYNC()
    {
        const int DataSync = 0x1000, FullSync = 0x100000; // O_DSYNC, and the bit O_SYNC adds to it (Linux)
        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);
        Assert.Equal((0u, 512u), await WriteAsync(device, 0, 0, Pattern(512, 0xA1)));

        int flags = OpenFlags(Segment(0));

        Assert.Equal(DataSync, flags & DataSync);
        Assert.Equal(0, flags & FullSync); // O_SYNC would also flush the timestamps every write changes
    }

    [Fact]
    public void A_segment_that_cannot_be_opened_names_its_path_and_the_reason()
    {
        var path = Path.Combine(_directory, "missing", "log.0");

        var e = Assert.Throws<IOException>(() => DataSyncFile.OpenOrCreate(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("No such file or directory", e.Message);
    }

    [Fact]
    public async Task Written_data_reads_back_and_past_the_end_reads_as_zeros()
    {
        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);
        Assert.Equal((0u, 4096u), await WriteAsync(device, 0, 0, Pattern(4096, 0xA1)));

        // The destination holds something else first, as a reused FASTER frame would.
        var (error, data) = await ReadAsync(device, 0, 0, 8192, fill: 0xEE);

        Assert.Equal(0u, error);
        Assert.Equal([.. Pattern(4096, 0xA1), .. Pattern(4096, 0)], data);
        await WaitForLengthAsync(Segment(0), 4096); // zero-fill off: the file is exactly what was written
    }

    [Fact]
    public async Task A_segment_that_does_not_exist_reads_as_zeros_and_is_not_created()
    {
        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);

        var (error, data) = await ReadAsync(device, 3, 512, 1024, fill: 0xEE);

        Assert.Equal(0u, error);
        Assert.Equal(Pattern(1024, 0), data);
        Assert.False(File.Exists(Segment(3)));
    }

    [Fact]
    public async Task Zero_fill_keeps_the_segment_allocated_ahead_of_the_last_write()
    {
        using var device = Open(zeroAhead: 64 * 1024, segmentSize: 1 << 20);
        await WriteAsync(device, 0, 0, Pattern(4096, 0xA1));

        await WaitForLengthAsync(Segment(0), 4096 + 64 * 1024);
        var file = File.ReadAllBytes(Segment(0));
        Assert.Equal(Pattern(4096, 0xA1), file[..4096]);
        Assert.All(file[4096..], b => Assert.Equal(0, b));

        // Appending into the filled range overwrites zeros; the fill moves on once less than half of it is left.
        await WriteAsync(device, 0, 4096, Pattern(40 * 1024, 0xB2));
        await WaitForLengthAsync(Segment(0), 44 * 1024 + 64 * 1024);
        Assert.Equal(Pattern(40 * 1024, 0xB2), File.ReadAllBytes(Segment(0))[4096..(44 * 1024)]);
    }

    [Fact]
    public async Task Zero_fill_never_writes_over_data_written_out_of_order()
    {
        using var device = Open(zeroAhead: 64 * 1024, segmentSize: 1 << 20);
        // FASTER may complete a later page's flush first.
        await WriteAsync(device, 0, 32 * 1024, Pattern(4096, 0xA1));
        await WriteAsync(device, 0, 0, Pattern(4096, 0xB2));

        await WaitForLengthAsync(Segment(0), 36 * 1024 + 64 * 1024);
        var file = File.ReadAllBytes(Segment(0));
        Assert.Equal(Pattern(4096, 0xB2), file[..4096]);
        Assert.Equal(Pattern(4096, 0xA1), file[(32 * 1024)..(36 * 1024)]);
    }

    [Fact]
    public async Task Zero_fill_leaves_an_earlier_runs_bytes_alone()
    {
        // What a previous run left past the log's recovered tail: FASTER overwrites it as it appends, zero-fill must not.
        File.WriteAllBytes(Segment(0), Pattern(100 * 1024, 0xEE));
        using var device = Open(zeroAhead: 256 * 1024, segmentSize: 1 << 20);

        await WriteAsync(device, 0, 0, Pattern(4096, 0xA1));

        await WaitForLengthAsync(Segment(0), 4096 + 256 * 1024);
        var file = File.ReadAllBytes(Segment(0));
        Assert.Equal(Pattern(4096, 0xA1), file[..4096]);
        Assert.Equal(Pattern(96 * 1024, 0xEE), file[4096..(100 * 1024)]);
        Assert.All(file[(100 * 1024)..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task An_inline_write_completes_on_the_calling_thread_and_mixes_with_queued_writes_and_zero_fill()
    {
        using var device = Open(zeroAhead: 64 * 1024, segmentSize: 1 << 20);
        await WriteAsync(device, 0, 0, Pattern(4096, 0xA1)); // queued: the writer zero-fills 64 KiB past it
        await WaitForLengthAsync(Segment(0), 4096 + 64 * 1024);

        Task<(uint Error, uint Bytes)> inline;
        int callerThread = Environment.CurrentManagedThreadId, callbackThread = -1;
        SpoolDevice.WriteInline = true;
        try
        {
            inline = WriteAsync(device, 0, 4096, Pattern(40 * 1024, 0xB2), () => callbackThread = Environment.CurrentManagedThreadId);
        }
        finally
        {
            SpoolDevice.WriteInline = false;
        }

        Assert.True(inline.IsCompleted); // the O_SYNC write and its callback ran before WriteAsync returned
        Assert.Equal(callerThread, callbackThread);
        Assert.Equal((0u, 40u * 1024), await inline);
        // Less than half the distance was left after it, so the writer thread zero-fills 64 KiB past it again.
        await WaitForLengthAsync(Segment(0), 44 * 1024 + 64 * 1024);
        await WriteAsync(device, 0, 44 * 1024, Pattern(4096, 0xC3)); // queued again, over those zeros
        await WaitForLengthAsync(Segment(0), 44 * 1024 + 64 * 1024); // more than half is left: no fill
        var file = File.ReadAllBytes(Segment(0));
        Assert.Equal(Pattern(4096, 0xA1), file[..4096]);
        Assert.Equal(Pattern(40 * 1024, 0xB2), file[4096..(44 * 1024)]);
        Assert.Equal(Pattern(4096, 0xC3), file[(44 * 1024)..(48 * 1024)]);
        Assert.All(file[(48 * 1024)..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Zero_fill_stops_at_the_end_of_the_segment()
    {
        using var device = Open(zeroAhead: 1 << 20, segmentSize: 64 * 1024);
        await WriteAsync(device, 0, 0, Pattern(4096, 0xA1));

        await WaitForLengthAsync(Segment(0), 64 * 1024);
        Assert.False(File.Exists(Segment(1)));
    }

    [Fact]
    public async Task A_failed_write_reaches_its_callback_and_later_writes_still_work()
    {
        Directory.CreateDirectory(Segment(3)); // the segment file cannot be opened
        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);

        var (error, bytes) = await WriteAsync(device, 3, 0, Pattern(512, 0xA1));

        Assert.NotEqual(0u, error);
        Assert.Equal(0u, bytes);
        Assert.Equal((0u, 512u), await WriteAsync(device, 4, 0, Pattern(512, 0xA1)));
    }

    [Fact]
    public void The_first_segment_is_recovered_from_the_files_on_disk()
    {
        foreach (var id in new[] { 2, 3, 7, 8, 9 })
            File.WriteAllBytes(Segment(id), [1]);
        File.WriteAllBytes(Path.Combine(_directory, "commit.slots"), [1]);

        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);

        // Segments 2 and 3 are left over from before a gap; the live log is the newest contiguous run (as FASTER's devices).
        Assert.Equal(7, device.StartSegment);
        Assert.Equal(9, device.EndSegment);
    }

    [Fact]
    public async Task Removing_a_segment_deletes_its_file()
    {
        using var device = Open(zeroAhead: 0, segmentSize: 1 << 20);
        await WriteAsync(device, 0, 0, Pattern(512, 0xA1));
        await WriteAsync(device, 1, 0, Pattern(512, 0xA1));

        device.RemoveSegment(0);

        Assert.False(File.Exists(Segment(0)));
        Assert.True(File.Exists(Segment(1)));
    }

    [Fact]
    public async Task Dispose_performs_the_writes_already_queued()
    {
        var device = Open(zeroAhead: 64 * 1024, segmentSize: 1 << 20);
        var writes = Enumerable.Range(0, 20).Select(i => WriteAsync(device, 0, i * 512L, Pattern(512, (byte)(i + 1)))).ToArray();

        device.Dispose();

        Assert.All(await Task.WhenAll(writes), w => Assert.Equal((0u, 512u), w));
        var file = File.ReadAllBytes(Segment(0));
        for (int i = 0; i < 20; i++)
            Assert.Equal(Pattern(512, (byte)(i + 1)), file[(i * 512)..((i + 1) * 512)]);
    }
}
