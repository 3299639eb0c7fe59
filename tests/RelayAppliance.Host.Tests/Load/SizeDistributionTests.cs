using System.Text.Json;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Load;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>--size-dist: parsing, the seeded draw, no allocation per message, the JSON record.</summary>
public sealed class SizeDistributionTests
{
    private static LoadOptions Options(params string[] more) => LoadOptions.Parse(["--target", "127.0.0.1:25", .. more]);

    [Fact]
    public void SpecIsParsedWith1024BasedSuffixes()
    {
        var options = Options("--size-dist", "1k:70,10K:25,1m:5, 300:1");
        Assert.Equal([new SizeBucket(1024, 70), new SizeBucket(10240, 25), new SizeBucket(1 << 20, 5), new SizeBucket(300, 1)],
            options.SizeDistribution!.Buckets);
        Assert.Equal(SizeDistribution.DefaultSeed, options.Seed);
        Assert.Equal((int)((1024.0 * 70 + 10240 * 25 + (1 << 20) * 5 + 300) / 101), options.Size); // the mean
    }

    [Theory]
    [InlineData("1k")]            // no weight
    [InlineData("1k:0")]          // weight 0
    [InlineData("1k:-1")]
    [InlineData("10:5")]          // below 64 bytes
    [InlineData("200m:1")]        // above 100 MB
    [InlineData("1g:1")]          // unknown suffix
    [InlineData(":5")]
    [InlineData("1k:70,,10k:30")]
    public void BadSpecsNameTheOption(string spec)
    {
        var e = Assert.Throws<UsageException>(() => Options("--size-dist", spec));
        Assert.Contains("--size-dist", e.Message);
    }

    [Fact]
    public void SizeAndSizeDistExcludeEachOther()
    {
        var e = Assert.Throws<UsageException>(() => Options("--size", "2048", "--size-dist", "1k:1"));
        Assert.Contains("--size-dist", e.Message);
        Assert.Contains("--size ", e.Message);
    }

    [Fact]
    public void DrawsFollowTheWeightsAndTheSeed()
    {
        const int N = 20_000;
        static int[] Draw(LoadMessage message) => [.. Enumerable.Range(0, N).Select(_ => message.NextBody().Length)];
        var first = Draw(new LoadMessage(Options("--size-dist", "1k:70,10k:25,100k:5", "--seed", "7")));
        var again = Draw(new LoadMessage(Options("--size-dist", "1k:70,10k:25,100k:5", "--seed", "7")));
        var other = Draw(new LoadMessage(Options("--size-dist", "1k:70,10k:25,100k:5", "--seed", "8")));

        var counts = first.GroupBy(n => n).OrderBy(g => g.Key).Select(g => g.Count()).ToArray();
        Assert.Equal(3, counts.Length);
        Assert.InRange(counts[0], N * 0.68, N * 0.72);
        Assert.InRange(counts[1], N * 0.23, N * 0.27);
        Assert.InRange(counts[2], N * 0.04, N * 0.06);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        // Each body is exactly its bucket's size (plus the CRLF.CRLF end).
        Assert.Equal([1024 + 3, 10240 + 3, 102400 + 3], first.Distinct().Order());
    }

    [Fact]
    public void ChoosingABodyDoesNotAllocate()
    {
        var message = new LoadMessage(Options("--size-dist", "1k:1,2k:1,4k:1"));
        message.NextBody();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            message.NextBody();
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Fact]
    public async Task ARunSendsTheDrawnSizesAndRecordsTheSpec()
    {
        await using var peer = new ScriptedSmtpPeer();
        var file = Path.GetTempFileName();
        try
        {
            var exit = await LoadCommand.RunAsync(["--target", peer.Target, "--messages", "20", "--concurrency", "2",
                "--size-dist", "1k:1,8k:1", "--seed", "3", "--json", file], new StringWriter(), TextWriter.Null);
            Assert.Equal(0, exit);
            Assert.Equal(20, peer.Messages);
            using var json = JsonDocument.Parse(File.ReadAllBytes(file));
            var parameters = json.RootElement.GetProperty("parameters");
            Assert.Equal("1k:1,8k:1", parameters.GetProperty("size_dist").GetString());
            Assert.Equal(3, parameters.GetProperty("seed").GetInt32());
            Assert.Equal((1024 + 8192) / 2, parameters.GetProperty("size").GetInt32());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
