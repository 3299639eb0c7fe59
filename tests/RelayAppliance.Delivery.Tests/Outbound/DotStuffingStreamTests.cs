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
