using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Pop3;

namespace RelayAppliance.Protocol.Tests.Pop3;

public sealed class Pop3MessageEncoderTests
{
    /// <summary>Encodes in chunks of <paramref name="chunk"/> bytes; stops feeding once the encoder is complete.</summary>
    private static string Encode(string message, Pop3MessageEncoder encoder, int chunk)
    {
        byte[] input = Encoding.Latin1.GetBytes(message);
        var output = new ArrayBufferWriter<byte>();
        for (int offset = 0; offset < input.Length && !encoder.IsComplete; offset += chunk)
        {
            int length = Math.Min(chunk, input.Length - offset);
            int used = encoder.Write(input.AsSpan(offset, length), output);
            Assert.True(used == length || encoder.IsComplete);
        }

        encoder.Complete(output);
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }

    private static readonly int[] ChunkSizes = [1, 2, 3, 7, 4096];

    private static void AssertRetr(string message, string expected)
    {
        foreach (int chunk in ChunkSizes)
        {
            Assert.Equal(expected, Encode(message, Pop3MessageEncoder.ForRetr(), chunk));
        }
    }

    private static void AssertTop(string message, int lines, string expected)
    {
        foreach (int chunk in ChunkSizes)
        {
            Assert.Equal(expected, Encode(message, Pop3MessageEncoder.ForTop(lines), chunk));
        }
    }

    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("a\r\n", "a\r\n.\r\n")]
    [InlineData("Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData(".hidden\r\n", "..hidden\r\n.\r\n")]
    [InlineData("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("a\r\n..\r\n", "a\r\n...\r\n.\r\n")]
    [InlineData("a.b\r\n. .\r\n", "a.b\r\n.. .\r\n.\r\n")]
    [InlineData("x\r\n\r\n.\r\n.\r\n", "x\r\n\r\n..\r\n..\r\n.\r\n")]
    [InlineData("\u00e9t\u00e9 8-bit \u00ff\r\n", "\u00e9t\u00e9 8-bit \u00ff\r\n.\r\n")]
    public void Retr_stuffs_lines_that_start_with_a_dot(string message, string expected) => AssertRetr(message, expected);

    [Theory]
    [InlineData("no line end", "no line end\r\n.\r\n")]
    [InlineData("a\r\nlast", "a\r\nlast\r\n.\r\n")]
    [InlineData("a\r\n.", "a\r\n..\r\n.\r\n")]          // a lone dot as the unterminated last line
    [InlineData("a\r\n.\r", "a\r\n..\r\n.\r\n")]        // ends in CR: only the LF is missing
    [InlineData("a\r", "a\r\n.\r\n")]
    public void Retr_adds_the_crlf_a_last_line_lacks(string message, string expected) => AssertRetr(message, expected);

    [Theory]
    [InlineData("a\n.\nb", "a\n..\nb\r\n.\r\n")]       // a line starts after any LF: a lenient client never sees an early end
    [InlineData("a\r.\r\n", "a\r.\r\n.\r\n")]           // a bare CR does not start a line
    public void Bare_line_endings(string message, string expected) => AssertRetr(message, expected);

    private const string Message = "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n";

    [Theory]
    [InlineData(0, "From: a@b\r\nSubject: s\r\n\r\n.\r\n")]
    [InlineData(1, "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n.\r\n")]
    [InlineData(2, "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n..line 2\r\n.\r\n")]
    [InlineData(3, "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n")]
    [InlineData(100, "From: a@b\r\nSubject: s\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n")]
    public void Top_sends_the_header_the_blank_line_and_n_body_lines(int lines, string expected) => AssertTop(Message, lines, expected);

    [Theory]
    [InlineData("From: a@b\r\nSubject: s\r\n", 5, "From: a@b\r\nSubject: s\r\n.\r\n")]              // no body at all
    [InlineData("From: a@b\r\nSubject: s", 0, "From: a@b\r\nSubject: s\r\n.\r\n")]                  // header without line end
    [InlineData("From: a@b\r\n\r\nbody without end", 1, "From: a@b\r\n\r\nbody without end\r\n.\r\n")]
    [InlineData("From: a@b\r\n\r\nbody without end", 0, "From: a@b\r\n\r\n.\r\n")]
    [InlineData("\r\n.body\r\n", 1, "\r\n..body\r\n.\r\n")]                                         // empty header
    [InlineData("From: a@b\r\n\r\n\r\n\r\nx\r\n", 2, "From: a@b\r\n\r\n\r\n\r\n.\r\n")]              // blank body lines count
    [InlineData("A: b\r\n \r\n\r\nx\r\n", 0, "A: b\r\n \r\n\r\n.\r\n")]                              // a line of one SP is not blank
    [InlineData("A: b\n\nx\ny\n", 1, "A: b\n\nx\n.\r\n")]                                              // bare LF lines
    public void Top_edge_cases(string message, int lines, string expected) => AssertTop(message, lines, expected);

    [Fact]
    public void Top_reports_completion_and_uses_no_more_input()
    {
        byte[] input = Encoding.ASCII.GetBytes(Message);
        var encoder = Pop3MessageEncoder.ForTop(1);
        var output = new ArrayBufferWriter<byte>();
        int used = encoder.Write(input, output);
        Assert.True(encoder.IsComplete);
        Assert.Equal("From: a@b\r\nSubject: s\r\n\r\nline 1\r\n".Length, used);
        Assert.Equal(0, encoder.Write(input, output));
    }

    [Fact]
    public void Random_messages_match_a_line_by_line_reference_in_any_chunking()
    {
        var random = new Random(1939);
        string alphabet = ".\r\n.a\r\n\u00ff .";
        for (int round = 0; round < 500; round++)
        {
            var text = new StringBuilder();
            int length = random.Next(0, 60);
            for (int i = 0; i < length; i++) text.Append(alphabet[random.Next(alphabet.Length)]);
            string message = text.ToString();
            int chunk = random.Next(1, 9);
            Assert.Equal(ReferenceRetr(message), Encode(message, Pop3MessageEncoder.ForRetr(), chunk));
            int lines = random.Next(0, 4);
            Assert.Equal(ReferenceTop(message, lines), Encode(message, Pop3MessageEncoder.ForTop(lines), chunk));
        }
    }

    // Obviously-correct references: split after every LF, stuff, terminate.
    private static List<string> Lines(string message)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < message.Length; i++)
        {
            if (message[i] == '\n')
            {
                lines.Add(message[start..(i + 1)]);
                start = i + 1;
            }
        }
        if (start < message.Length) lines.Add(message[start..]);
        return lines;
    }

    private static string Finish(IEnumerable<string> lines)
    {
        var output = new StringBuilder();
        string last = "";
        foreach (string line in lines)
        {
            output.Append(line.StartsWith('.') ? "." + line : line);
            last = line;
        }
        if (last.Length > 0 && !last.EndsWith('\n')) output.Append(last.EndsWith('\r') ? "\n" : "\r\n");
        return output.Append(".\r\n").ToString();
    }

    private static string ReferenceRetr(string message) => Finish(Lines(message));

    private static string ReferenceTop(string message, int bodyLines)
    {
        var lines = Lines(message);
        int blank = lines.FindIndex(l => l is "\n" or "\r\n");
        return blank < 0 ? Finish(lines) : Finish(lines.Take(blank + 1 + bodyLines));
    }
}
