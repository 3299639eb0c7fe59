using System.Text;

namespace RelayAppliance.Testing;

/// <summary>
/// The inputs the BenchmarkDotNet suite measures, shared with the allocation-budget tests so that a budget is checked
/// on exactly what the benchmark ran.
/// </summary>
internal static class BenchmarkInputs
{
    /// <summary>One pipelined transaction's commands: RSET, MAIL with parameters, 10 RCPTs, DATA.</summary>
    public static byte[] PipelinedBurst()
    {
        var text = new StringBuilder("RSET\r\nMAIL FROM:<alice.sender@example.org> SIZE=48213 BODY=8BITMIME\r\n");
        for (int i = 0; i < 10; i++)
        {
            text.Append("RCPT TO:<recipient").Append(i).Append("@mail.example.com>\r\n");
        }

        text.Append("DATA\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>A DATA body as sent on the wire: 76-character lines, every 20th dot-stuffed, then the terminator.</summary>
    public static byte[] DataBody(int size, bool withDotLines = true)
    {
        var text = new StringBuilder(size + 128);
        text.Append("From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: benchmark\r\n\r\n");
        var random = new Random(42);
        int line = 0;
        while (text.Length < size - 8)
        {
            // Every 20th line starts with a (stuffed) dot, like quoted text or signatures.
            if (line++ % 20 == 0 && withDotLines) text.Append("..");
            for (int i = 0; i < 74; i++) text.Append((char)('a' + random.Next(26)));
            text.Append("\r\n");
        }

        text.Append(".\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>A stored message of exactly <paramref name="size"/> bytes for RETR; every 20th line starts with a dot.</summary>
    public static byte[] Pop3Message(int size)
    {
        var text = new StringBuilder("From: a@example.org\r\nTo: b@example.com\r\nSubject: benchmark\r\n\r\n");
        int line = 0;
        while (text.Length < size)
        {
            text.Append(line++ % 20 == 0 ? ".stuffed line of text, seventy-odd characters long, like a MUA wraps\r\n"
                : "an ordinary line of text, seventy-odd characters long, like a MUA wraps\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString()[..size]);
    }
}
