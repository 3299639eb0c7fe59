using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class SmtpLineReaderTests
{
    private static (LineStatus Status, string Line, bool LfFound, long Consumed) Read(ReadOnlySequence<byte> sequence, int maxLength)
    {
        var reader = new SequenceReader<byte>(sequence);
        LineStatus status = SmtpLineReader.TryReadLine(ref reader, maxLength, out ReadOnlySequence<byte> line, out bool lfFound);
        return (status, Encoding.Latin1.GetString(line.ToArray()), lfFound, reader.Consumed);
    }

    [Theory]
    [InlineData("EHLO client.example\r\n", "EHLO client.example")]
    [InlineData("\r\n", "")]
    [InlineData("NOOP\r\nQUIT\r\n", "NOOP")]
    public void Complete_line_excludes_crlf_and_consumes_through_lf(string wire, string expected)
    {
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var result = Read(sequence, 512);
            Assert.True(result.Status == LineStatus.Complete, shape);
            Assert.Equal(expected, result.Line);
            Assert.True(result.LfFound, shape);
            Assert.Equal(expected.Length + 2, result.Consumed);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("EHLO client.example")]
    [InlineData("EHLO client.example\r")]
    [InlineData("\r")]
    public void Incomplete_line_consumes_nothing(string wire)
    {
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var result = Read(sequence, 512);
            Assert.True(result.Status == LineStatus.Incomplete, shape);
            Assert.False(result.LfFound, shape);
            Assert.Equal(0, result.Consumed);
        }
    }

    [Fact]
    public void Pipelined_lines_are_read_one_after_another()
    {
        foreach (var (shape, sequence) in TestSequences.Shapes("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nRSET"))
        {
            var reader = new SequenceReader<byte>(sequence);
            var lines = new List<string>();
            while (SmtpLineReader.TryReadLine(ref reader, 512, out var line, out _) == LineStatus.Complete)
            {
                lines.Add(Encoding.ASCII.GetString(line.ToArray()));
            }

            Assert.Equal(["MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA"], lines);
            Assert.True(reader.Remaining == 4, shape); // "RSET" left for the next read
        }
    }

    [Theory]
    [InlineData("EHLO client.example\n", "EHLO client.example")]
    [InlineData("\n", "")]
    [InlineData("a\rb\n", "a\rb")] // the line ending decides: it is bare, whatever is inside
    public void Bare_line_feed_is_reported_and_consumed(string wire, string expectedFirstLine)
    {
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var result = Read(sequence, 512);
            Assert.True(result.Status == LineStatus.BareLineFeed, shape);
            Assert.Equal(expectedFirstLine, result.Line);
            Assert.True(result.LfFound);
            Assert.Equal(wire.Length, result.Consumed);
        }
    }

    [Theory]
    [InlineData("EH\rLO x\r\n", "EH\rLO x")]
    [InlineData("DATA\r\r\n", "DATA\r")]
    [InlineData("\r\r\n", "\r")]
    public void Bare_carriage_return_is_reported_and_line_consumed(string wire, string expected)
    {
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var result = Read(sequence, 512);
            Assert.True(result.Status == LineStatus.BareCarriageReturn, shape);
            Assert.Equal(expected, result.Line);
            Assert.True(result.LfFound);
            Assert.Equal(wire.Length, result.Consumed);
        }
    }

    [Fact]
    public void Line_of_exactly_max_length_including_crlf_is_complete()
    {
        string wire = new string('a', 8) + "\r\n";
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var result = Read(sequence, 10);
            Assert.True(result.Status == LineStatus.Complete, shape);
            Assert.Equal(10, result.Consumed);
        }
    }

    [Fact]
    public void Line_one_byte_over_max_is_too_long_and_skipped_through_its_lf()
    {
        string wire = new string('a', 9) + "\r\nNOOP\r\n";
        foreach (var (shape, sequence) in TestSequences.Shapes(wire))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(ref reader, 10, out _, out bool lfFound));
            Assert.True(lfFound, shape);
            Assert.Equal(11, reader.Consumed);

            Assert.Equal(LineStatus.Complete, SmtpLineReader.TryReadLine(ref reader, 10, out var next, out _));
            Assert.Equal("NOOP"u8.ToArray(), next.ToArray());
        }
    }

    [Fact]
    public void Too_long_without_lf_consumes_everything_and_the_caller_skips_later()
    {
        byte[] first = TestSequences.Bytes(new string('a', 600));
        foreach (var (shape, sequence) in TestSequences.Shapes(first))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.Equal(LineStatus.TooLong, SmtpLineReader.TryReadLine(ref reader, 512, out _, out bool lfFound));
            Assert.False(lfFound, shape);
            Assert.Equal(600, reader.Consumed);
        }

        foreach (var (shape, sequence) in TestSequences.Shapes("aaaa\r\nQUIT\r\n"))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.True(SmtpLineReader.TrySkipToLineEnd(ref reader), shape);
            Assert.Equal(6, reader.Consumed);
        }
    }

    [Fact]
    public void Exactly_max_length_bytes_without_lf_is_already_too_long()
    {
        // 512 bytes and no LF: the line is at least 513 bytes, so waiting for more would only buffer an oversize line.
        foreach (var (shape, sequence) in TestSequences.Shapes(new string('a', 512)))
        {
            Assert.True(Read(sequence, 512).Status == LineStatus.TooLong, shape);
        }

        foreach (var (shape, sequence) in TestSequences.Shapes(new string('a', 511)))
        {
            var result = Read(sequence, 512);
            Assert.True(result.Status == LineStatus.Incomplete, shape);
            Assert.Equal(0, result.Consumed);
        }
    }

    [Fact]
    public void Skip_without_lf_consumes_everything_and_returns_false()
    {
        foreach (var (shape, sequence) in TestSequences.Shapes("aaaa"))
        {
            var reader = new SequenceReader<byte>(sequence);
            Assert.False(SmtpLineReader.TrySkipToLineEnd(ref reader), shape);
            Assert.True(reader.End);
        }
    }

    [Fact]
    public void GetLineSpan_copies_only_multi_segment_lines()
    {
        byte[] data = "RSET"u8.ToArray();
        var single = new ReadOnlySequence<byte>(data);
        Span<byte> scratch = stackalloc byte[8];
        Assert.True(SmtpLineReader.GetLineSpan(single, scratch) == data.AsSpan());

        ReadOnlySequence<byte> split = TestSequences.SegmentPerByte(data);
        ReadOnlySpan<byte> copied = SmtpLineReader.GetLineSpan(split, scratch);
        Assert.True(copied.SequenceEqual(data));
        Assert.Throws<ArgumentException>(() => SmtpLineReader.GetLineSpan(split, new byte[2]));
    }
}
