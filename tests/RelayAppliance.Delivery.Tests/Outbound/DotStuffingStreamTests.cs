using System.IO.Pipelines;
using System.Text;
using RelayAppliance.Delivery.Outbound;

namespace RelayAppliance.Delivery.Tests.Outbound;

public sealed class DotStuffingStreamTests
{
    [Theory]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData(".x\r\n..y\r\n.\r\n", "..x\r\n...y\r\n..\r\n.\r\n")]
    [InlineData("no final crlf", "no final crlf\r\n.\r\n")]
    [InlineData("a\r\n.", "a\r\n..\r\n.\r\n")]
    [InlineData("", ".\r\n")]
    [InlineData("x.\r\ny", "x.\r\ny\r\n.\r\n")]
    public async Task StuffsLineStartsAndTerminates(string body, string wire)
    {
        // Every split point: a dot at the start of a write must still be seen as a line start.
        for (var piece = 1; piece <= Math.Max(1, body.Length); piece++)
        {
            Assert.Equal(wire, await StuffAsync(body, piece));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_long_body_in_random_pieces_matches_a_byte_by_byte_stuffer(int seed)
    {
        // Lines of random length, a quarter starting with '.', some ending in a bare LF, fed in pieces of random size.
        var random = new Random(seed);
        var body = new StringBuilder();
        while (body.Length < 200_000)
        {
            body.Append(random.Next(4) == 0 ? "." : "").Append('x', random.Next(0, 90)).Append(random.Next(10) == 0 ? "\n" : "\r\n");
        }
        var text = body.ToString();

        var output = new MemoryStream();
        var writer = PipeWriter.Create(output);
        var stream = new DotStuffingStream(writer, async ct => await writer.FlushAsync(ct));
        var bytes = Encoding.ASCII.GetBytes(text);
        for (var offset = 0; offset < bytes.Length;)
        {
            var piece = Math.Min(random.Next(1, 70_000), bytes.Length - offset);
            await stream.WriteAsync(bytes.AsMemory(offset, piece));
            offset += piece;
        }
        stream.WriteTerminator();
        await writer.FlushAsync();

        Assert.Equal(StuffByteByByte(text), Encoding.ASCII.GetString(output.ToArray()));
    }

    /// <summary>The rule stated plainly: a '.' right after an LF (or at the very start) is doubled; CRLF "." CRLF ends it.</summary>
    private static string StuffByteByByte(string body)
    {
        var wire = new StringBuilder();
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] == '.' && (i == 0 || body[i - 1] == '\n'))
            {
                wire.Append('.');
            }
            wire.Append(body[i]);
        }
        if (body.Length > 0 && !body.EndsWith("\r\n", StringComparison.Ordinal))
        {
            wire.Append("\r\n");
        }
        return wire.Append(".\r\n").ToString();
    }

    private static async Task<string> StuffAsync(string body, int piece)
    {
        var output = new MemoryStream();
        var writer = PipeWriter.Create(output);
        var stream = new DotStuffingStream(writer, async ct => await writer.FlushAsync(ct));
        var bytes = Encoding.ASCII.GetBytes(body);
        for (var offset = 0; offset < bytes.Length; offset += piece)
        {
            await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(piece, bytes.Length - offset)));
        }
        stream.WriteTerminator();
        await writer.FlushAsync();
        return Encoding.ASCII.GetString(output.ToArray());
    }
}
