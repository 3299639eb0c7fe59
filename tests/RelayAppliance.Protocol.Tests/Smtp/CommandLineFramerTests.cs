using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Testing;

namespace RelayAppliance.Protocol.Tests.Smtp;

/// <summary>The framing state a session keeps between pipe reads: an over-long line is reported once and its tail skipped.</summary>
public sealed class CommandLineFramerTests
{
    private const int MaxLength = 16;

    [Fact]
    public void AnOverLongLineIsReportedOnceAndItsTailSkippedAcrossReads()
    {
        var framer = new CommandLineFramer(MaxLength);
        var scratch = new byte[MaxLength];

        // First read: 20 bytes and no line end yet.
        Assert.Equal(LineStatus.TooLong, Read(ref framer, "AAAAAAAAAAAAAAAAAAAA", scratch, out _, out var consumed));
        Assert.Equal(20, consumed);
        // Second read: still the same line, then its end: nothing to answer.
        Assert.Equal(LineStatus.Incomplete, Read(ref framer, "AAAAAAAAAA", scratch, out _, out _));
        Assert.Equal(LineStatus.Incomplete, Read(ref framer, "AAA\r\n", scratch, out _, out consumed));
        Assert.Equal(5, consumed);
        // The next line is framed normally.
        Assert.Equal(LineStatus.Complete, Read(ref framer, "NOOP\r\n", scratch, out var line, out _));
        Assert.Equal("NOOP", line);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void ALineAcrossSegmentsComesBackWhole(int segmentSize)
    {
        var framer = new CommandLineFramer(MaxLength);
        var scratch = new byte[MaxLength];
        var reader = new SequenceReader<byte>(BufferSegments.Split(Encoding.ASCII.GetBytes("MAIL FROM:<>\r\nQ"), segmentSize));

        Assert.Equal(LineStatus.Complete, framer.TryReadLine(ref reader, scratch, out var line));
        Assert.Equal("MAIL FROM:<>", Encoding.ASCII.GetString(line));
        Assert.Equal(LineStatus.Incomplete, framer.TryReadLine(ref reader, scratch, out _));
    }

    [Fact]
    public void ABareLineFeedLineIsStillGiven()
    {
        var framer = new CommandLineFramer(MaxLength);
        Assert.Equal(LineStatus.BareLineFeed, Read(ref framer, "USER bob\n", new byte[MaxLength], out var line, out _));
        Assert.Equal("USER bob", line);
    }

    private static LineStatus Read(ref CommandLineFramer framer, string input, byte[] scratch, out string line, out long consumed)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(input)));
        var status = framer.TryReadLine(ref reader, scratch, out var span);
        line = Encoding.ASCII.GetString(span);
        consumed = reader.Consumed;
        return status;
    }
}
