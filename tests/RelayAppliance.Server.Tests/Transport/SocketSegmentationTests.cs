using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Server.Tests.Transport;

/// <summary>
/// A whole pipelined conversation, sent over a real socket cut into random pieces (1 to 300 bytes, some after a
/// pause so they arrive as reads of their own): every reply must come in order and both messages must be stored byte
/// for byte. This drives the socket reader's partial lines, compaction and growth through the real session: commands,
/// dot-stuffed DATA split anywhere (inside "\r\n.\r\n" too), BDAT chunks and the commands after them.
/// </summary>
public sealed class SocketSegmentationTests
{
    private static readonly int[] ExpectedCodes = [220, 250, 250, 250, 354, 250, 250, 250, 250, 250, 250, 221];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task A_conversation_cut_into_random_pieces_is_answered_in_order_and_stored_exactly(int seed)
    {
        var random = new Random(seed);
        string dataContent = DataContent(random);
        string bdatContent = "Subject: chunked\r\n\r\n.not stuffed\r\n.\r\nstill content\r\n";
        int firstChunk = random.Next(1, bdatContent.Length);
        string conversation =
            "EHLO client.test\r\n" +
            "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@localhost>\r\nDATA\r\n" +
            dataContent.Replace("\r\n.", "\r\n..", StringComparison.Ordinal) + ".\r\n" +
            "MAIL FROM:<c@example.org>\r\nRCPT TO:<d@localhost>\r\n" +
            $"BDAT {firstChunk}\r\n{bdatContent[..firstChunk]}BDAT {bdatContent.Length - firstChunk} LAST\r\n{bdatContent[firstChunk..]}" +
            "NOOP\r\nQUIT\r\n";

        await using var relay = await RelayFixture.StartAsync(configure: o => o with { MaxMessageSize = 5_000_000 });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, relay.Port));
        var replies = ReadUntilClosedAsync(socket);

        var bytes = Encoding.ASCII.GetBytes(conversation);
        for (int at = 0; at < bytes.Length;)
        {
            int piece = Math.Min(bytes.Length - at, random.Next(4) == 0 ? random.Next(1, 4) : random.Next(1, 301));
            at += await socket.SendAsync(bytes.AsMemory(at, piece), SocketFlags.None);
            if (random.Next(8) == 0)
            {
                await Task.Delay(2); // arrives as a read of its own
            }
        }

        var codes = FinalReplyCodes(await replies.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(ExpectedCodes, codes);
        var stored = relay.Spool.List().Select(m => Body(relay, m.Id)).ToList();
        Assert.Equal(2, stored.Count);
        Assert.Single(stored, body => body.EndsWith(dataContent, StringComparison.Ordinal));
        Assert.Single(stored, body => body.EndsWith(bdatContent, StringComparison.Ordinal));
    }

    /// <summary>Headers, then lines of random length (up to 998), about one in five starting with a dot.</summary>
    private static string DataContent(Random random)
    {
        var content = new StringBuilder("Subject: pieces\r\n\r\n");
        int lines = random.Next(20, 200);
        for (int i = 0; i < lines; i++)
        {
            var line = new string((char)('a' + random.Next(26)), random.Next(0, 999));
            content.Append(random.Next(5) == 0 ? "." + line[..Math.Min(line.Length, 997)] : line).Append("\r\n");
        }
        content.Append(".\r\n..\r\n"); // a lone dot and a double dot as content lines: both travel stuffed
        return content.ToString();
    }

    private static async Task<string> ReadUntilClosedAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0)
            {
                return Encoding.ASCII.GetString(received.ToArray());
            }
            received.Write(buffer, 0, n);
        }
    }

    private static int[] FinalReplyCodes(string replies) =>
        [.. replies.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Where(line => line.Length >= 4 && line[3] == ' ').Select(line => int.Parse(line[..3]))];

    private static string Body(RelayFixture relay, RelayAppliance.Spool.MessageId id)
    {
        using var stream = new MemoryStream();
        relay.Spool.CopyBodyToAsync(id, stream, CancellationToken.None).AsTask().Wait();
        return Encoding.ASCII.GetString(stream.ToArray());
    }
}
