using System.Buffers;
using System.Text;

namespace RelayAppliance.Protocol.Smtp;

public enum ReplyStatus : byte { Incomplete, Complete, Malformed }

/// <summary>Client side: frames one (possibly multi-line) SMTP reply out of a pipe buffer.</summary>
public static class SmtpReplyParser
{
    /// <summary>RFC 5321 §4.5.3.1.5 sets 512 octets per reply line; we accept more from lenient servers, but not unbounded.</summary>
    public const int MaxLineLength = 2048;
    /// <summary>A bound on continuation lines (a long EHLO has about 20).</summary>
    public const int MaxLines = 128;

    /// <summary>
    /// RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF.
    /// Returns Incomplete (consuming nothing) until the last line is buffered. <paramref name="lines"/> holds the text
    /// of each line after the code and separator. A bare LF ends a line too: replies are not relayed, so being liberal
    /// here carries no smuggling risk.
    /// </summary>
    public static ReplyStatus TryParseReply(ref SequenceReader<byte> reader, out int code, out string[] lines)
    {
        code = 0;
        lines = [];
        var probe = reader;
        var texts = new List<string>(1);
        Span<byte> scratch = stackalloc byte[MaxLineLength];
        while (true)
        {
            var status = SmtpLineReader.TryReadLine(ref probe, MaxLineLength, out var sequence, out _);
            if (status == LineStatus.Incomplete)
            {
                return ReplyStatus.Incomplete;
            }
            if (status == LineStatus.TooLong || texts.Count == MaxLines)
            {
                return ReplyStatus.Malformed;
            }

            var line = SmtpLineReader.GetLineSpan(sequence, scratch);
            if (!TryReadReplyLine(line, out var lineCode, out var last, out var text) || (texts.Count > 0 && lineCode != code))
            {
                return ReplyStatus.Malformed;
            }

            code = lineCode;
            texts.Add(text);
            if (last)
            {
                reader = probe;
                lines = [.. texts];
                return ReplyStatus.Complete;
            }
        }
    }

    // RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39; the separator is SP, "-" or nothing.
    private static bool TryReadReplyLine(ReadOnlySpan<byte> line, out int code, out bool last, out string text)
    {
        code = 0;
        last = true;
        text = "";
        if (line.Length < 3 || line[0] is < (byte)'2' or > (byte)'5' || !char.IsAsciiDigit((char)line[1]) || !char.IsAsciiDigit((char)line[2]))
        {
            return false;
        }

        code = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        if (line.Length == 3)
        {
            return true;
        }
        if (line[3] is not ((byte)' ' or (byte)'-'))
        {
            return false;
        }

        last = line[3] == ' ';
        // Reply text is ASCII in RFC 5321; SMTPUTF8 servers may send UTF-8 (RFC 6531 §3.7.4.2), and garbage is replaced.
        text = Encoding.UTF8.GetString(line[4..]);
        return true;
    }
}
