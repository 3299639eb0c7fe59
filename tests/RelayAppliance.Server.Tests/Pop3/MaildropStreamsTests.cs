using RelayAppliance.Server.Pop3;

namespace RelayAppliance.Server.Tests.Pop3;

public sealed class MaildropStreamsTests
{
    private static byte[] Data(int length)
    {
        var data = new byte[length];
        new Random(5034).NextBytes(data);
        return data;
    }

    [Fact]
    public async Task APushCopyIsReadBackExactly()
    {
        var data = Data(3 * 1024 * 1024 + 17);
        await using var stream = MaildropStreams.FromCopy(async (destination, ct) =>
        {
            for (var offset = 0; offset < data.Length; offset += 100_000)
            {
                await destination.WriteAsync(data.AsMemory(offset, Math.Min(100_000, data.Length - offset)), ct);
            }
        });
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
    }

    [Fact]
    public async Task AFailingCopyFailsTheRead()
    {
        await using var stream = MaildropStreams.FromCopy(async (destination, ct) =>
        {
            await destination.WriteAsync(new byte[1000], ct);
            throw new IOException("disk error");
        });
        var buffer = new byte[64 * 1024];
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.Equal("disk error", error.Message);
    }

    [Fact]
    public async Task DisposingEarlyStopsTheCopyWhichNeverRunsFarAhead()
    {
        long written = 0;
        var ended = new TaskCompletionSource<Exception?>();
        var stream = MaildropStreams.FromCopy(async (destination, ct) =>
        {
            try
            {
                var chunk = new byte[16 * 1024];
                for (var i = 0; i < 10_000; i++) // 160 MB if nobody stopped it
                {
                    await destination.WriteAsync(chunk, ct);
                    Interlocked.Add(ref written, chunk.Length);
                }
                ended.SetResult(null);
            }
            catch (Exception e)
            {
                ended.SetResult(e);
                throw;
            }
        });
        var buffer = new byte[16 * 1024];
        Assert.True(await stream.ReadAsync(buffer) > 0);
        await Task.Delay(200);
        Assert.True(Interlocked.Read(ref written) <= 1024 * 1024, $"the copy ran {written} bytes ahead"); // bounded by the pipe
        await stream.DisposeAsync();
        Assert.IsAssignableFrom<OperationCanceledException>(await ended.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
