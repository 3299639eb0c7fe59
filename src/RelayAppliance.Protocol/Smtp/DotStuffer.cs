using System.Buffers;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>
/// Dot-stuffing (RFC 5321 §4.5.2; POP3's byte-stuffing, RFC 1939 §3, is the same rule): a '.' that starts a line is
/// doubled. A line starts after any LF, not only after CRLF: on well-formed input (CRLF line ends) that is the same,
/// and on a body with a stray bare LF it keeps "LF . CRLF" from ever reaching a lenient receiver as the end of data.
/// </summary>
/// <remarks>
/// The input is copied in runs that end just before a line-starting '.': one search and one copy per run, where a
/// search and a copy per line cost three times as much on a 100 KiB body (perf/RESULTS.md item 26).
/// </remarks>
public static class DotStuffer
{
    /// <summary>
    /// Writes <paramref name="input"/> stuffed to <paramref name="output"/>; <paramref name="atLineStart"/> says whether
    /// the byte before it ended a line (true for the first piece). Returns the number of dots added.
    /// </summary>
    public static int Write(ReadOnlySpan<byte> input, IBufferWriter<byte> output, bool atLineStart)
    {
        if (input.IsEmpty)
        {
            return 0;
        }
        int added = 0;
        if (atLineStart && input[0] == (byte)'.')
        {
            output.Write("."u8);
            added++;
        }
        int lineFeedDot;
        while ((lineFeedDot = input.IndexOf("\n."u8)) >= 0)
        {
            output.Write(input[..(lineFeedDot + 1)]);
            output.Write("."u8);
            added++;
            input = input[(lineFeedDot + 1)..]; // starts with that '.', which goes out with the next run
        }
        output.Write(input);
        return added;
    }
}
