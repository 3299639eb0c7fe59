using System.Diagnostics;
using System.Net;
using System.Text;
using MailKit.Net.Smtp;
using MimeKit;
using RelayAppliance.Server.Sink;

namespace RelayAppliance.Server.Tests.Sink;

public sealed class SinkTests
{
    private static async Task<SinkServer> StartAsync(ReplyMix? mix = null, TimeSpan delay = default, string? dump = null)
    {
        var server = new SinkServer(new SinkOptions
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ReplyMix = mix ?? ReplyMix.AcceptAll,
            Delay = delay,
            DumpDirectory = dump,
        });
        server.Start();
        await Task.Yield();
        return server;
    }

    private static ReplyMix Mix(string spec)
    {
        Assert.True(ReplyMix.TryParse(spec, seed: 1, out var mix, out var error), error);
        return mix!;
    }

    private static MimeMessage Message(int i, int recipients)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("a@example.org"));
        for (var r = 0; r < recipients; r++)
        {
            message.To.Add(MailboxAddress.Parse($"r{r}@example.com"));
        }
        message.Subject = $"m{i}";
        message.Body = new TextPart("plain") { Text = $"message {i}\r\n.leading dot\r\n" };
        return message;
    }

    [Fact]
    public async Task MailKitCountsAreExact()
    {
        await using var sink = await StartAsync();
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", sink.BoundEndPoint.Port, MailKit.Security.SecureSocketOptions.None);
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
            for (var i = 0; i < 20; i++)
            {
                await client.SendAsync(Message(i, recipients: 3));
            }
            await client.DisconnectAsync(quit: true);
        }
        var counts = sink.Counters.Snapshot();
        Assert.Equal(1, counts.Connections);
        Assert.Equal(20, counts.Messages);
        Assert.Equal(60, counts.Recipients);
        Assert.Equal(20, sink.Counters.ByReply(0));
    }

    [Fact]
    public async Task PipelinedBurstIsAnsweredAndCountedExactly()
    {
        await using var sink = await StartAsync();
        await using var client = await RawSmtpClient.ConnectAsync(sink.BoundEndPoint.Port);
        Assert.Contains("PIPELINING", await client.CommandAsync("EHLO c"));
        var burst = new StringBuilder();
        const int n = 50;
        for (var i = 0; i < n; i++)
        {
            burst.Append("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
                 .Append("Subject: x\r\n\r\n..stuffed\r\nbody\r\n.\r\n");
        }
        await client.SendAsync(burst.ToString());
        for (var i = 0; i < n; i++)
        {
            Assert.StartsWith("250", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.ReadReplyAsync());
            Assert.StartsWith("354", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.ReadReplyAsync());
        }
        var counts = sink.Counters.Snapshot();
        Assert.Equal(n, counts.Messages);
        Assert.Equal(2 * n, counts.Recipients);
        Assert.Equal(n * "Subject: x\r\n\r\n.stuffed\r\nbody\r\n".Length, counts.Bytes);
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task BdatChunksAreCounted()
    {
        await using var sink = await StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(sink.BoundEndPoint.Port);
        await client.SendAsync("BDAT 5\r\nhelloBDAT 7 LAST\r\n, world");
        Assert.StartsWith("250 2.0.0 Chunk", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0 Message accepted", await client.ReadReplyAsync());
        Assert.StartsWith("503", await client.CommandAsync("BDAT 0 LAST"));
        Assert.Equal(new SinkSnapshot(1, 1, 1, 12), sink.Counters.Snapshot());
    }

    [Fact]
    public async Task InputSplitAcrossReadsAndOverlongLinesAreHandled()
    {
        // The session keeps its own input buffer: lines, DATA and BDAT arriving a few bytes per read, and a command
        // line longer than the buffer (answered once, skipped to its end, the session goes on).
        await using var sink = await StartAsync();
        await using var client = await RawSmtpClient.OpenTransactionAsync(sink.BoundEndPoint.Port);
        Assert.StartsWith("500", await client.CommandAsync("NOOP " + new string('x', 20_000)));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        foreach (var piece in Pieces("DATA\r\nSubject: s\r\n\r\n..dot\r\nend\r\n.\r\n", 3))
        {
            await client.SendAsync(piece);
            await Task.Delay(1);
        }
        Assert.StartsWith("354", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0 Message accepted", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@example.com>"));
        foreach (var piece in Pieces("BDAT 10 LAST\r\n0123456789", 4))
        {
            await client.SendAsync(piece);
            await Task.Delay(1);
        }
        Assert.StartsWith("250 2.0.0 Message accepted", await client.ReadReplyAsync());
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
        var counts = sink.Counters.Snapshot();
        Assert.Equal(2, counts.Messages);
        Assert.Equal("Subject: s\r\n\r\n.dot\r\nend\r\n".Length + 10, counts.Bytes);

        static IEnumerable<string> Pieces(string text, int size)
        {
            for (var i = 0; i < text.Length; i += size)
            {
                yield return text.Substring(i, Math.Min(size, text.Length - i));
            }
        }
    }

    [Theory]
    [InlineData("250:100", 0)]
    [InlineData("250:0,451:100", 1)]
    [InlineData("550:100,250:0", 0)]
    public async Task SingleCodeMixesAreExact(string spec, int expectedIndex)
    {
        var mix = Mix(spec);
        await using var sink = await StartAsync(mix);
        await using var client = await RawSmtpClient.ConnectAsync(sink.BoundEndPoint.Port);
        await client.CommandAsync("EHLO c");
        var code = mix.Code(expectedIndex).ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < 100; i++)
        {
            await client.CommandAsync("MAIL FROM:<a@example.org>");
            await client.CommandAsync("RCPT TO:<b@example.com>");
            await client.CommandAsync("DATA");
            Assert.StartsWith(code, await client.CommandAsync("x\r\n."));
        }
        Assert.Equal(100, sink.Counters.ByReply(expectedIndex));
        Assert.Equal(100, sink.Counters.Messages);
    }

    [Fact]
    public async Task ReplyMixIsHonouredOver1000Messages()
    {
        await using var sink = await StartAsync(Mix("250:90,451:7,550:3"));
        await using var client = await RawSmtpClient.ConnectAsync(sink.BoundEndPoint.Port);
        await client.CommandAsync("EHLO c");
        var seen = new Dictionary<string, int>();
        const string transaction = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nx\r\n.\r\n";
        for (var batch = 0; batch < 10; batch++)
        {
            await client.SendAsync(string.Concat(Enumerable.Repeat(transaction, 100)));
            for (var i = 0; i < 100; i++)
            {
                await client.ReadReplyAsync();
                await client.ReadReplyAsync();
                await client.ReadReplyAsync();
                var code = (await client.ReadReplyAsync())[..3];
                seen[code] = seen.GetValueOrDefault(code) + 1;
            }
        }
        Assert.Equal(1000, seen.Values.Sum());
        Assert.InRange(seen.GetValueOrDefault("250"), 860, 940);
        Assert.InRange(seen.GetValueOrDefault("451"), 45, 95);
        Assert.InRange(seen.GetValueOrDefault("550"), 12, 50);
        Assert.Equal(seen["250"], sink.Counters.ByReply(0));
        Assert.Equal(seen.GetValueOrDefault("451"), sink.Counters.ByReply(1));
    }

    [Fact]
    public async Task DumpWritesUnstuffedBytesExactly()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sink-dump-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var sink = await StartAsync(dump: dir);
            await using var client = await RawSmtpClient.OpenTransactionAsync(sink.BoundEndPoint.Port);
            Assert.StartsWith("354", await client.CommandAsync("DATA"));
            var body = "Subject: dump\r\n\r\n..one\r\n.\r\n...\r\nbare\nlf and caf\u00e9\r\n" + new string('y', 40000) + "\r\n";
            var stuffed = body.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
            await client.SendAsync(Encoding.UTF8.GetBytes(stuffed + ".\r\n"));
            Assert.StartsWith("250", await client.ReadReplyAsync());
            await client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 4 LAST\r\nabcd");
            Assert.StartsWith("250", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.ReadReplyAsync());
            var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(2, files.Length);
            Assert.Equal(Encoding.UTF8.GetBytes(body), await File.ReadAllBytesAsync(files[0]));
            Assert.Equal("abcd"u8.ToArray(), await File.ReadAllBytesAsync(files[1]));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task DelayIsAppliedBeforeTheFinalReply()
    {
        await using var sink = await StartAsync(delay: TimeSpan.FromMilliseconds(300));
        await using var client = await RawSmtpClient.OpenTransactionAsync(sink.BoundEndPoint.Port);
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        var watch = Stopwatch.StartNew();
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        Assert.True(watch.ElapsedMilliseconds >= 280, $"reply after {watch.ElapsedMilliseconds} ms");
        watch.Restart();
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.True(watch.ElapsedMilliseconds < 250, "only the final reply is delayed");
    }

    [Theory]
    [InlineData("250", "not CODE:WEIGHT")]
    [InlineData("350:1", "not a 2xx, 4xx or 5xx")]
    [InlineData("250:0,451:0", "add up to 0")]
    [InlineData("250:1,250:2", "twice")]
    [InlineData("250:x", "not CODE:WEIGHT")]
    public void BadReplyMixesAreRefused(string spec, string message)
    {
        Assert.False(ReplyMix.TryParse(spec, 0, out _, out var error));
        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
