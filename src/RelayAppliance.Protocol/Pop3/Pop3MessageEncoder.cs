using System.Buffers;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Protocol.Pop3;

/// <summary>
/// Streams a stored message as the body of a RETR or TOP multi-line response (RFC 1939 §3): a '.' at the start of a
/// line is doubled (byte-stuffing), and <see cref="Complete"/> ends the response with "." CRLF, first adding the CRLF
/// that a last line without one lacks. Resumable: feed the message in chunks of any size, as it is read from the store,
/// so a message is never held in memory whole.
/// </summary>
/// <remarks>
/// <para>A line starts after any LF, not only after CRLF. Stored messages have CRLF lines (SMTP ingress refuses bare
/// line endings), and on those both rules agree; on a message with a stray bare LF this rule keeps "LF . CRLF" from
/// ever looking like the end of the response to a lenient client.</para>
/// <para>TOP msg n (RFC 1939 §7): the header, the blank line that ends it, then the first n lines of the body. A
/// message without a blank line is all header and is sent whole. <see cref="IsComplete"/> turns true once the last
/// wanted line is written, and the caller may stop reading.</para>
/// </remarks>
public struct Pop3MessageEncoder
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';
    private const byte Dot = (byte)'.';

    private int _bodyLinesLeft;   // TOP: body lines still to send; -1: all (RETR)
    private bool _inBody;         // TOP: the blank line after the header has been sent
    private bool _midLine;        // bytes of the current line have been written, its LF not yet
    private bool _lastWasCr;      // the last byte written was CR
    private int _lineLength;      // TOP header: bytes of the current line so far, for spotting the blank line
    private bool _complete;

    /// <summary>RETR: the whole message.</summary>
    public static Pop3MessageEncoder ForRetr() => new() { _bodyLinesLeft = -1, _inBody = true };

    /// <summary>TOP: the header, the blank line and the first <paramref name="bodyLines"/> lines of the body.</summary>
    public static Pop3MessageEncoder ForTop(int bodyLines)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bodyLines);
        return new Pop3MessageEncoder { _bodyLinesLeft = bodyLines };
    }

    /// <summary>Everything wanted has been written; more input would be ignored.</summary>
    public readonly bool IsComplete => _complete;

    /// <summary>Writes the next chunk of the stored message, stuffed. Returns the number of input bytes used (less than the input only once complete).</summary>
    public int Write(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        if (_bodyLinesLeft < 0 && !_complete && !input.IsEmpty)
        {
            // RETR: no lines to count, so the input goes out in runs between line-starting dots.
            DotStuffer.Write(input, output, atLineStart: !_midLine);
            _midLine = input[^1] != Lf;
            _lastWasCr = _midLine && input[^1] == Cr;
            return input.Length;
        }

        int used = 0;
        while (used < input.Length && !_complete)
        {
            ReadOnlySpan<byte> rest = input[used..];
            if (!_midLine && rest[0] == Dot)
            {
                output.Write("."u8);
            }

            int lf = rest.IndexOf(Lf);
            if (lf < 0)
            {
                output.Write(rest);
                _midLine = true;
                _lastWasCr = rest[^1] == Cr;
                _lineLength = _inBody ? 0 : _lineLength + rest.Length;
                used = input.Length;
                break;
            }

            ReadOnlySpan<byte> line = rest[..(lf + 1)];
            output.Write(line);
            used += line.Length;
            int contentLength = _lineLength + lf;
            bool endsCr = lf > 0 ? rest[lf - 1] == Cr : _lastWasCr;
            EndLine(blank: contentLength == 0 || contentLength == 1 && endsCr);
        }

        return used;
    }

    /// <summary>Ends the response: CRLF when the message's last line lacks one, then "." CRLF.</summary>
    public void Complete(IBufferWriter<byte> output)
    {
        if (_midLine)
        {
            output.Write(_lastWasCr ? "\n"u8 : "\r\n"u8);
            _midLine = false;
        }

        output.Write(Pop3Replies.EndOfMultiline);
        _complete = true;
    }

    private void EndLine(bool blank)
    {
        _midLine = false;
        _lastWasCr = false;
        _lineLength = 0;
        if (!_inBody)
        {
            if (blank)
            {
                _inBody = true;
                _complete = _bodyLinesLeft == 0;
            }

            return;
        }

        if (_bodyLinesLeft > 0 && --_bodyLinesLeft == 0)
        {
            _complete = true;
        }
    }
}
