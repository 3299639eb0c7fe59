using System.Text;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Tests.Smtp;

public sealed class DotUnstufferTests
{
    public enum Feed { Whole, ByteByByte, OneByteOutput, ByteByByteOneByteOutput }

    private static readonly Feed[] AllFeeds = Enum.GetValues<Feed>();

    private sealed record Result(DataStatus Status, string Output, int Consumed, bool SawBareLineEnding, bool SawLongLine);

    private static Result Run(byte[] input, Feed feed, bool normalize = false, int maxLineLength = 1000)
    {
        var unstuffer = new DotUnstuffer(normalize, maxLineLength);
        int chunk = feed is Feed.ByteByByte or Feed.ByteByByteOneByteOutput ? 1 : Math.Max(1, input.Length);
        byte[] buffer = new byte[feed is Feed.OneByteOutput or Feed.ByteByByteOneByteOutput ? 1 : input.Length * 2 + 4];
        var output = new List<byte>();
        int offset = 0;
        DataStatus status;
        for (int guard = 0; ; guard++)
        {
            Assert.True(guard < 10 * input.Length + 10, "no progress");
            int length = Math.Min(chunk, input.Length - offset);
            status = unstuffer.Process(input.AsSpan(offset, length), buffer, out int consumed, out int written);
            Assert.InRange(consumed, 0, length);
            output.AddRange(buffer.AsSpan(0, written).ToArray());
            offset += consumed;
            if (status == DataStatus.EndOfData)
            {
                break;
            }

            if (status == DataStatus.NeedMoreInput)
            {
                Assert.Equal(length, consumed); // NeedMoreInput means everything offered was taken
                if (offset == input.Length)
                {
                    break;
                }
            }
        }

        return new Result(status, Encoding.Latin1.GetString(output.ToArray()), offset, unstuffer.SawBareLineEnding, unstuffer.SawLongLine);
    }

    private static void AssertAllFeeds(string input, DataStatus status, string output, bool normalize = false, int? consumed = null, bool bare = false)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(input);
        foreach (Feed feed in AllFeeds)
        {
            Result result = Run(bytes, feed, normalize);
            Assert.True(status == result.Status, $"{feed}: {result.Status}");
            Assert.True(output == result.Output, $"{feed}: output {Escape(result.Output)}, expected {Escape(output)}");
            Assert.True((consumed ?? bytes.Length) == result.Consumed, $"{feed}: consumed {result.Consumed}");
            Assert.True(bare == result.SawBareLineEnding, $"{feed}: bare {result.SawBareLineEnding}");
        }
    }

    private static string Escape(string s) => s.Replace("\r", "<CR>").Replace("\n", "<LF>");

    [Theory]
    [InlineData("Hello\r\n.\r\n", "Hello\r\n")]
    [InlineData(".\r\n", "")]                              // the DATA line's CRLF is the first CRLF of the terminator
    [InlineData("\r\n.\r\n", "\r\n")]
    [InlineData("a\r\nb\r\n\r\n.\r\n", "a\r\nb\r\n\r\n")]
    [InlineData("..\r\n.\r\n", ".\r\n")]
    [InlineData("..foo\r\n.\r\n", ".foo\r\n")]
    [InlineData("...\r\n.\r\n", "..\r\n")]
    [InlineData("a\r\n..\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n")]
    [InlineData(".foo\r\n.\r\n", "foo\r\n")]                // RFC 5321 §4.5.2: a leading period is deleted
    [InlineData("a.\r\n.b.\r\n.\r\n", "a.\r\nb.\r\n")]
    [InlineData(". \r\n.\r\n", " \r\n")]
    public void Unstuffs_and_ends_at_crlf_dot_crlf(string input, string output)
        => AssertAllFeeds(input, DataStatus.EndOfData, output);

    [Fact]
    public void Stops_just_past_the_terminator_leaving_pipelined_commands()
        => AssertAllFeeds("body\r\n.\r\nQUIT\r\n", DataStatus.EndOfData, "body\r\n", consumed: 9);

    [Theory]
    [InlineData("", "")]
    [InlineData("a", "a")]
    [InlineData("a\r\n.", "a\r\n")]        // the dot is held back: stuffing or terminator
    [InlineData("a\r\n.\r", "a\r\n")]
    [InlineData("a\r", "a\r")]
    [InlineData("a\r\n", "a\r\n")]
    public void Incomplete_input_needs_more(string input, string output)
        => AssertAllFeeds(input, DataStatus.NeedMoreInput, output);

    [Fact]
    public void Resumes_across_calls_at_every_split_point()
    {
        byte[] input = "x\r\n..y\r\n.\r\n"u8.ToArray();
        for (int split = 0; split < input.Length; split++)
        {
            var unstuffer = new DotUnstuffer(false, 1000);
            byte[] output = new byte[64];
            Assert.Equal(DataStatus.NeedMoreInput, unstuffer.Process(input.AsSpan(0, split), output, out int c1, out int w1));
            Assert.Equal(split, c1);
            Assert.Equal(DataStatus.EndOfData, unstuffer.Process(input.AsSpan(split), output.AsSpan(w1), out int c2, out int w2));
            Assert.Equal(input.Length, c1 + c2);
            Assert.Equal("x\r\n.y\r\n", Encoding.ASCII.GetString(output, 0, w1 + w2));
        }
    }

    public static TheoryData<string> SmugglingVariants => new()
    {
        "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n.\r\r\n", "\r\n.\n\r\n", "\n.\n\r\n",
    };

    [Theory]
    [MemberData(nameof(SmugglingVariants))]
    public void Smuggled_terminators_never_end_data_in_reject_mode(string fakeTerminator)
    {
        string smuggled = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nforged\r\n";
        string input = "Subject: hi\r\n\r\nbody" + fakeTerminator + smuggled + ".\r\n";
        byte[] bytes = Encoding.ASCII.GetBytes(input);
        foreach (Feed feed in AllFeeds)
        {
            Result result = Run(bytes, feed);
            Assert.True(result.Status == DataStatus.EndOfData, $"{Escape(fakeTerminator)} {feed}");
            Assert.True(result.Consumed == bytes.Length, $"{Escape(fakeTerminator)} {feed}: ended early at {result.Consumed}");
            Assert.True(result.SawBareLineEnding, $"{Escape(fakeTerminator)} {feed}");
            Assert.Contains("MAIL FROM:<evil@attacker.example>", result.Output);
        }

        // Without the real terminator the data never ends.
        byte[] open = Encoding.ASCII.GetBytes("body" + fakeTerminator + smuggled);
        foreach (Feed feed in AllFeeds)
        {
            Assert.Equal(DataStatus.NeedMoreInput, Run(open, feed).Status);
        }
    }

    [Theory]
    [MemberData(nameof(SmugglingVariants))]
    public void Smuggled_terminators_never_end_data_in_normalise_mode(string fakeTerminator)
    {
        string smuggled = "MAIL FROM:<evil@attacker.example>\r\n";
        byte[] open = Encoding.ASCII.GetBytes("body" + fakeTerminator + smuggled);
        foreach (Feed feed in AllFeeds)
        {
            Result result = Run(open, feed, normalize: true);
            Assert.True(result.Status == DataStatus.NeedMoreInput, $"{Escape(fakeTerminator)} {feed}");
            Assert.False(result.SawBareLineEnding);
            AssertOnlyCrlf(result.Output);
        }
    }

    [Fact]
    public void Reject_mode_passes_bare_line_endings_through_and_flags_them()
    {
        AssertAllFeeds("a\nb\r\n.\r\n", DataStatus.EndOfData, "a\nb\r\n", bare: true);
        AssertAllFeeds("a\rb\r\n.\r\n", DataStatus.EndOfData, "a\rb\r\n", bare: true);
        AssertAllFeeds("a\r\r\n.\r\n", DataStatus.EndOfData, "a\r\r\n", bare: true);
        AssertAllFeeds("a\r\n.\rb\r\n.\r\n", DataStatus.EndOfData, "a\r\n.\rb\r\n", bare: true);
        // ".<LF>" is not a line of its own, so the following ".<CRLF>" is mid-line: it ends a line, not the data.
        AssertAllFeeds("a\r\n.\n.\r\n", DataStatus.NeedMoreInput, "a\r\n.\n.\r\n", bare: true);
        AssertAllFeeds("a\r\n.\n.\r\n.\r\n", DataStatus.EndOfData, "a\r\n.\n.\r\n", bare: true);
        // A bare LF followed by a real <CRLF>.<CRLF> ends the data, flagged, so the server still rejects it.
        AssertAllFeeds("a\n\r\n.\r\n", DataStatus.EndOfData, "a\n\r\n", bare: true);
    }

    [Fact]
    public void Normalise_mode_rewrites_bare_line_endings_to_crlf_but_stays_mid_line()
    {
        AssertAllFeeds("a\nb\r\n.\r\n", DataStatus.EndOfData, "a\r\nb\r\n", normalize: true);
        AssertAllFeeds("a\rb\r\n.\r\n", DataStatus.EndOfData, "a\r\nb\r\n", normalize: true);
        AssertAllFeeds("a\r\r\n.\r\n", DataStatus.EndOfData, "a\r\n\r\n", normalize: true);
        // After a bare LF the "." is mid-line data, not stuffing and not a terminator.
        AssertAllFeeds("a\n.\r\n.\r\n", DataStatus.EndOfData, "a\r\n.\r\n", normalize: true);
        AssertAllFeeds("a\n..b\r\n.\r\n", DataStatus.EndOfData, "a\r\n..b\r\n", normalize: true);
        AssertAllFeeds("a\r\n.\rb\r\n.\r\n", DataStatus.EndOfData, "a\r\n.\r\nb\r\n", normalize: true);
        AssertAllFeeds("a\r\n.\n.\r\n", DataStatus.NeedMoreInput, "a\r\n.\r\n.\r\n", normalize: true);
        AssertAllFeeds("a\r\n.\n.\r\n.\r\n", DataStatus.EndOfData, "a\r\n.\r\n.\r\n", normalize: true);
    }

    [Fact]
    public void Long_lines_are_flagged_at_1000_octets_including_crlf()
    {
        foreach (Feed feed in new[] { Feed.Whole, Feed.ByteByByte, Feed.OneByteOutput })
        {
            byte[] fits = Encoding.ASCII.GetBytes(new string('a', 998) + "\r\n.\r\n");
            Result ok = Run(fits, feed);
            Assert.Equal(DataStatus.EndOfData, ok.Status);
            Assert.False(ok.SawLongLine, feed.ToString());

            byte[] tooLong = Encoding.ASCII.GetBytes("short\r\n" + new string('a', 999) + "\r\nshort\r\n.\r\n");
            Result flagged = Run(tooLong, feed);
            Assert.Equal(DataStatus.EndOfData, flagged.Status);
            Assert.True(flagged.SawLongLine, feed.ToString());
            Assert.Equal(tooLong.Length - 3, flagged.Output.Length); // content still passes through

            // RFC 5321 §4.5.3.1.6: the dot duplicated for transparency does not count, the content dot does.
            byte[] stuffed = Encoding.ASCII.GetBytes("." + new string('.', 998) + "\r\n.\r\n");
            Assert.False(Run(stuffed, feed).SawLongLine, feed.ToString());
            byte[] stuffedTooLong = Encoding.ASCII.GetBytes("." + new string('.', 999) + "\r\n.\r\n");
            Assert.True(Run(stuffedTooLong, feed).SawLongLine, feed.ToString());

            byte[] manyShort = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('b', 900) + "\r\n", 5)) + ".\r\n");
            Assert.False(Run(manyShort, feed).SawLongLine, feed.ToString());
        }
    }

    [Fact]
    public void After_end_of_data_nothing_more_is_consumed_until_reset()
    {
        var unstuffer = new DotUnstuffer(false, 1000);
        byte[] output = new byte[16];
        Assert.Equal(DataStatus.EndOfData, unstuffer.Process("a\n\r\n.\r\n"u8, output, out _, out _));
        Assert.True(unstuffer.SawBareLineEnding);
        Assert.Equal(DataStatus.EndOfData, unstuffer.Process("more\r\n"u8, output, out int consumed, out int written));
        Assert.Equal(0, consumed);
        Assert.Equal(0, written);

        unstuffer.Reset();
        Assert.False(unstuffer.SawBareLineEnding);
        Assert.Equal(DataStatus.EndOfData, unstuffer.Process(".\r\n"u8, output, out consumed, out written));
        Assert.Equal(3, consumed);
        Assert.Equal(0, written);
    }

    [Fact]
    public void Random_inputs_behave_the_same_in_every_feed_and_respect_the_invariants()
    {
        var random = new Random(5321);
        byte[] alphabet = "ab.\r\n"u8.ToArray();
        for (int iteration = 0; iteration < 3000; iteration++)
        {
            byte[] input = new byte[random.Next(0, 24)];
            for (int i = 0; i < input.Length; i++) input[i] = alphabet[random.Next(alphabet.Length)];

            foreach (bool normalize in new[] { false, true })
            {
                Result reference = Run(input, Feed.Whole, normalize, maxLineLength: 8);
                foreach (Feed feed in AllFeeds)
                {
                    Assert.Equal(reference, Run(input, feed, normalize, maxLineLength: 8));
                }

                if (reference.Status == DataStatus.EndOfData)
                {
                    // Only <CRLF>.<CRLF> ends data, where the first CRLF may be the DATA command's own.
                    string consumed = Encoding.Latin1.GetString(input, 0, reference.Consumed);
                    Assert.True(consumed == ".\r\n" || consumed.EndsWith("\r\n.\r\n", StringComparison.Ordinal), Escape(consumed));
                    Assert.True(consumed == ".\r\n" || IsCleanCrlfBefore(input, reference.Consumed - 3), Escape(consumed));
                }

                if (normalize)
                {
                    AssertOnlyCrlf(reference.Output.EndsWith('\r') ? reference.Output[..^1] : reference.Output);
                }
            }
        }
    }

    [Theory]
    [InlineData(false, 1000)]
    [InlineData(true, 1000)]
    [InlineData(false, 70)]
    [InlineData(true, 64)]
    public void Long_bodies_decode_in_bulk_exactly_as_byte_by_byte(bool normalize, int maxLineLength)
    {
        // Byte-by-byte input never reaches the bulk path for whole lines, so it is the reference for bodies of mostly
        // ordinary lines with, now and then, a stuffed dot, a bare CR or LF, a line around the length limit, a line
        // ending just across a 64-byte block, and pieces of any size.
        var random = new Random(64);
        for (int iteration = 0; iteration < 300; iteration++)
        {
            byte[] body = RandomBody(random, maxLineLength);
            Result reference = Run(body, Feed.ByteByByte, normalize, maxLineLength);
            Assert.Equal(DataStatus.EndOfData, reference.Status);
            Assert.Equal(reference, Run(body, Feed.Whole, normalize, maxLineLength));
            Assert.Equal(reference, RunInPieces(body, random, normalize, maxLineLength));
        }
    }

    private static byte[] RandomBody(Random random, int maxLineLength)
    {
        var body = new List<byte>();
        int lines = random.Next(1, 120);
        for (int line = 0; line < lines; line++)
        {
            int kind = random.Next(40);
            int length = kind switch
            {
                0 => maxLineLength - 2 + random.Next(-1, 3), // at, just under and just over the limit with CRLF
                1 => random.Next(64, 3 * 64),
                _ => random.Next(0, 80),
            };
            if (kind == 2) body.Add((byte)'.');
            for (int i = 0; i < length; i++) body.Add((byte)('a' + random.Next(26)));
            if (kind == 3) body.Add((byte)'\n');
            if (kind == 4) body.Add((byte)'\r');
            if (kind == 5) body.AddRange(".\n"u8.ToArray()); // a smuggling attempt inside a line
            body.AddRange(kind == 6 ? "\n"u8.ToArray() : "\r\n"u8.ToArray());
        }

        body.AddRange("\r\n.\r\n"u8.ToArray()); // a CRLF first, as the last line may have ended in a bare LF
        return body.ToArray();
    }

    // Input in random pieces into output of random sizes, as the session's receive buffer and the spool's chunk feed it.
    private static Result RunInPieces(byte[] input, Random random, bool normalize, int maxLineLength)
    {
        var unstuffer = new DotUnstuffer(normalize, maxLineLength);
        var output = new List<byte>();
        int offset = 0;
        DataStatus status;
        do
        {
            int length = Math.Min(random.Next(1, 600), input.Length - offset);
            byte[] buffer = new byte[random.Next(1, 700)];
            status = unstuffer.Process(input.AsSpan(offset, length), buffer, out int consumed, out int written);
            output.AddRange(buffer.AsSpan(0, written).ToArray());
            offset += consumed;
        }
        while (status != DataStatus.EndOfData && offset < input.Length);

        return new Result(status, Encoding.Latin1.GetString(output.ToArray()), offset, unstuffer.SawBareLineEnding, unstuffer.SawLongLine);
    }

    // The CRLF before the terminating "." must itself be a real line end: not the LF of "\r\r\n" after a bare CR, etc.
    private static bool IsCleanCrlfBefore(byte[] input, int dotIndex) => dotIndex >= 2 && input[dotIndex - 2] == '\r' && input[dotIndex - 1] == '\n';

    private static void AssertOnlyCrlf(string output)
    {
        for (int i = 0; i < output.Length; i++)
        {
            if (output[i] == '\r') Assert.True(i + 1 < output.Length && output[i + 1] == '\n', Escape(output));
            if (output[i] == '\n') Assert.True(i > 0 && output[i - 1] == '\r', Escape(output));
        }
    }
}
