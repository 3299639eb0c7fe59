using System.Buffers;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>
/// A session's command-line framing over successive pipe reads (SMTP, POP3 and the sink share it): an over-long line
/// is reported once as <see cref="LineStatus.TooLong"/> and the rest of it skipped however many reads that takes, and
/// a line that spans buffer segments is copied into the caller's scratch. A mutable struct held in a session field.
/// </summary>
public struct CommandLineFramer(int maxLength)
{
    private bool _skippingLongLine;

    /// <summary>
    /// The next line, as <see cref="SmtpLineReader.TryReadLine"/> frames it. <paramref name="line"/> is set for
    /// Complete, BareLineFeed and BareCarriageReturn; <paramref name="scratch"/> must hold maxLength bytes.
    /// </summary>
    public LineStatus TryReadLine(ref SequenceReader<byte> reader, Span<byte> scratch, out ReadOnlySpan<byte> line)
    {
        line = default;
        if (_skippingLongLine)
        {
            if (!SmtpLineReader.TrySkipToLineEnd(ref reader))
            {
                return LineStatus.Incomplete;
            }
            _skippingLongLine = false;
        }
        var status = SmtpLineReader.TryReadLine(ref reader, maxLength, out var sequence, out var lfFound);
        if (status == LineStatus.TooLong)
        {
            _skippingLongLine = !lfFound;
        }
        else if (status != LineStatus.Incomplete)
        {
            line = SmtpLineReader.GetLineSpan(sequence, scratch);
        }
        return status;
    }
}
