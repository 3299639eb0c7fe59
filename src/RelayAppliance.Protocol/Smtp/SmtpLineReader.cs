using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>Frames SMTP command lines (RFC 5321 §2.3.8: lines end in CRLF) out of a pipe buffer.</summary>
public static class SmtpLineReader
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';

    /// <summary>
    /// Reads one command line. maxLength counts the CRLF (RFC 5321 §4.5.3.1.4: 512 octets).
    /// On Complete <paramref name="line"/> excludes the CRLF.
    /// </summary>
    /// <remarks>
    /// Never searches further than <paramref name="maxLength"/> bytes for the LF before deciding the line is too long,
    /// so a peer cannot make us buffer without bound. On BareLineFeed / BareCarriageReturn <paramref name="line"/> is the
    /// line without its line ending; on Incomplete and TooLong it is empty.
    /// </remarks>
    public static LineStatus TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line, out bool lfFound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);

        // Fast path: the whole line is in the current segment.
        ReadOnlySpan<byte> span = reader.UnreadSpan;
        int lf = span[..Math.Min(span.Length, maxLength)].IndexOf(Lf);
        if (lf >= 0)
        {
            LineStatus status = Classify(span[..lf], out int contentLength);
            line = reader.Sequence.Slice(reader.Position, contentLength);
            reader.Advance(lf + 1);
            lfFound = true;
            return status;
        }

        if (span.Length < maxLength && reader.Remaining > span.Length)
        {
            return TryReadMultiSegmentLine(ref reader, maxLength, out line, out lfFound);
        }

        line = default;
        if (reader.Remaining < maxLength)
        {
            lfFound = false;
            return LineStatus.Incomplete;
        }

        return SkipTooLongLine(ref reader, maxLength, out lfFound);
    }

    /// <summary>Skips to just past the next LF; false (everything consumed) when there is none yet.</summary>
    public static bool TrySkipToLineEnd(ref SequenceReader<byte> reader)
    {
        if (reader.TryAdvanceTo(Lf, advancePastDelimiter: true))
        {
            return true;
        }

        reader.AdvanceToEnd();
        return false;
    }

    /// <summary>
    /// The line as one span: the segment itself when the line is contiguous, otherwise copied into
    /// <paramref name="scratch"/> (a stackalloc of maxLength bytes is always enough for a line from <see cref="TryReadLine"/>).
    /// </summary>
    public static ReadOnlySpan<byte> GetLineSpan(scoped in ReadOnlySequence<byte> line, Span<byte> scratch)
    {
        if (line.IsSingleSegment)
        {
            return line.FirstSpan;
        }

        if (line.Length > scratch.Length)
        {
            ThrowScratchTooSmall();
        }

        line.CopyTo(scratch);
        return scratch[..(int)line.Length];
    }

    private static LineStatus TryReadMultiSegmentLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line, out bool lfFound)
    {
        ReadOnlySequence<byte> window = reader.UnreadSequence;
        SequencePosition? lfPosition = window.Slice(0, Math.Min(window.Length, maxLength)).PositionOf(Lf);
        if (lfPosition is null)
        {
            line = default;
            if (window.Length < maxLength)
            {
                lfFound = false;
                return LineStatus.Incomplete;
            }

            return SkipTooLongLine(ref reader, maxLength, out lfFound);
        }

        ReadOnlySequence<byte> withoutLf = window.Slice(0, lfPosition.Value);
        long length = withoutLf.Length;
        LineStatus status;
        if (length == 0 || withoutLf.Slice(length - 1).FirstSpan[0] != Cr)
        {
            status = LineStatus.BareLineFeed;
            line = withoutLf;
        }
        else
        {
            line = withoutLf.Slice(0, length - 1);
            status = line.PositionOf(Cr) is null ? LineStatus.Complete : LineStatus.BareCarriageReturn;
        }

        reader.Advance(length + 1);
        lfFound = true;
        return status;
    }

    // The line is longer than maxLength: drop what we have looked at, then skip to its LF if it is already buffered.
    private static LineStatus SkipTooLongLine(ref SequenceReader<byte> reader, int maxLength, out bool lfFound)
    {
        reader.Advance(maxLength);
        lfFound = TrySkipToLineEnd(ref reader);
        return LineStatus.TooLong;
    }

    // RFC 5321 §2.3.8: only CRLF ends a line; bare CR and bare LF are reported (smuggling defence, §4.1.1.4).
    private static LineStatus Classify(ReadOnlySpan<byte> withoutLf, out int contentLength)
    {
        if (withoutLf.IsEmpty || withoutLf[^1] != Cr)
        {
            contentLength = withoutLf.Length;
            return LineStatus.BareLineFeed;
        }

        contentLength = withoutLf.Length - 1;
        return withoutLf[..contentLength].Contains(Cr) ? LineStatus.BareCarriageReturn : LineStatus.Complete;
    }

    [DoesNotReturn]
    private static void ThrowScratchTooSmall() => throw new ArgumentException("The scratch buffer is smaller than the line.", "scratch");
}
