using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Delivery.Tests.Outbound;

public sealed class SmtpReplyParserTests
{
    [Theory]
    [InlineData("250 2.1.0 Ok\r\n", 250, new[] { "2.1.0 Ok" })]
    [InlineData("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n", 250, new[] { "mx.test", "PIPELINING", "SIZE 10" })]
    [InlineData("220\r\n", 220, new[] { "" })]
    [InlineData("554 5.7.1 No\n", 554, new[] { "5.7.1 No" })]
    public void CompleteRepliesParseInOneSegmentAndBytewise(string text, int code, string[] lines)
    {
        foreach (var sequence in new[] { OneSegment(text + "NEXT"), PerByte(text + "NEXT") })
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(ReplyStatus.Complete, SmtpReplyParser.TryParseReply(ref reader, out var parsedCode, out var parsedLines));
            Assert.Equal(code, parsedCode);
            Assert.Equal(lines, parsedLines);
            Assert.Equal(4, reader.Remaining); // stops right after the reply
        }
    }

    [Theory]
    [InlineData("250-first\r\n250 sec")]
    [InlineData("250-first\r\n")]
    [InlineData("25")]
    public void IncompleteRepliesConsumeNothing(string text)
    {
        foreach (var sequence in new[] { OneSegment(text), PerByte(text) })
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(ReplyStatus.Incomplete, SmtpReplyParser.TryParseReply(ref reader, out _, out _));
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData("hello\r\n")]
    [InlineData("250-a\r\n251 b\r\n")]
    [InlineData("250xok\r\n")]
    [InlineData("650 no\r\n")]
    public void GarbageIsMalformed(string text)
    {
        var reader = new SequenceReader<byte>(OneSegment(text));
        Assert.Equal(ReplyStatus.Malformed, SmtpReplyParser.TryParseReply(ref reader, out _, out _));
    }

    [Fact]
    public void OverlongLineIsMalformed()
    {
        var reader = new SequenceReader<byte>(OneSegment("250 " + new string('x', SmtpReplyParser.MaxLineLength) + "\r\n"));
        Assert.Equal(ReplyStatus.Malformed, SmtpReplyParser.TryParseReply(ref reader, out _, out _));
    }

    private static ReadOnlySequence<byte> OneSegment(string text) => new(Encoding.ASCII.GetBytes(text));

    private static ReadOnlySequence<byte> PerByte(string text) => RelayAppliance.Testing.BufferSegments.Split(Encoding.ASCII.GetBytes(text), 1);
}
