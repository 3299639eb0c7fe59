using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>
/// Streaming, resumable DATA decoder (RFC 5321 §4.5.2): removes dot-stuffing and finds the only terminator,
/// &lt;CRLF&gt;.&lt;CRLF&gt;. Output ends with the CRLF of the last line. Bare CR/LF are flagged (reject policy)
/// or rewritten to CRLF (normalise policy) but never end the data.
/// </summary>
/// <remarks>
/// The CRLF that ended the DATA command counts as the first CRLF of the terminator, so the decoder starts at a line
/// start and an immediate ".CRLF" is an empty message. After a bare CR or LF the decoder is mid-line in both policies,
/// so sequences such as &lt;LF&gt;.&lt;LF&gt; or &lt;CR&gt;.&lt;CR&gt; can never be taken for the end of data
/// (the SMTP smuggling attack; RFC 5321 §4.1.1.4, Postfix 3.9 smtpd_forbid_bare_newline).
/// On <see cref="DataStatus.OutputFull"/> call again with the unconsumed input (possibly empty) and fresh output space;
/// the output span must not be empty. Once <see cref="DataStatus.EndOfData"/> is returned, further calls return it again
/// without consuming anything until <see cref="Reset"/>.
/// </remarks>
public struct DotUnstuffer
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';
    private const byte Dot = (byte)'.';

    private enum State : byte
    {
        LineStart = 0,
        MidLine,
        /// <summary>Mid-line CR emitted; an LF completes the line.</summary>
        Cr,
        /// <summary>"." at a line start, withheld: it is stuffing or the start of the terminator.</summary>
        Dot,
        /// <summary>".CR" at a line start, withheld.</summary>
        DotCr,
        Done,
    }

    private readonly bool _normalizeBareLineEndings;
    private readonly int _maxLineLength;
    private State _state;
    private int _lineLength;
    private bool _sawBareLineEnding;
    private bool _sawLongLine;
    // Bytes decided but not yet written because the output was full: at most ".", CR, LF, low byte first.
    private uint _pending;
    private byte _pendingCount;

    public DotUnstuffer(bool normalizeBareLineEndings, int maxLineLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLineLength);
        _normalizeBareLineEndings = normalizeBareLineEndings;
        _maxLineLength = maxLineLength;
    }

    public void Reset()
    {
        _state = State.LineStart;
        _lineLength = 0;
        _sawBareLineEnding = false;
        _sawLongLine = false;
        _pending = 0;
        _pendingCount = 0;
    }

    public DataStatus Process(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
    {
        consumed = 0;
        written = 0;
        if (_state == State.Done)
        {
            return DataStatus.EndOfData;
        }

        while (true)
        {
            if (_pendingCount != 0 && !TryFlushPending(output, ref written))
            {
                return DataStatus.OutputFull;
            }

            if (consumed == input.Length)
            {
                return DataStatus.NeedMoreInput;
            }

            if (_state == State.LineStart)
            {
                // Fast path: whole lines that need no decoding are copied as they are.
                int clean = CleanLinesLength(input[consumed..], output.Length - written);
                if (clean != 0)
                {
                    input.Slice(consumed, clean).CopyTo(output[written..]);
                    consumed += clean;
                    written += clean;
                    continue;
                }
            }

            if (_state == State.MidLine)
            {
                // Fast path: copy the run up to the next CR or LF in one go.
                ReadOnlySpan<byte> rest = input[consumed..];
                int run = rest.IndexOfAny(Cr, Lf);
                if (run != 0)
                {
                    int count = Math.Min(run < 0 ? rest.Length : run, output.Length - written);
                    if (count == 0)
                    {
                        return DataStatus.OutputFull;
                    }

                    rest[..count].CopyTo(output[written..]);
                    consumed += count;
                    written += count;
                    CountLineBytes(count);
                    continue;
                }
            }

            byte b = input[consumed];
            switch (_state)
            {
                case State.LineStart:
                    if (b == Dot)
                    {
                        consumed++; // not counted yet: a stuffing dot is not part of the line (RFC 5321 §4.5.3.1.6)
                        _state = State.Dot;
                    }
                    else
                    {
                        _state = State.MidLine;
                    }

                    break;

                case State.MidLine: // b is CR or LF
                    Consume(ref consumed);
                    if (b == Cr)
                    {
                        Emit(Cr, output, ref written);
                        _state = State.Cr;
                    }
                    else
                    {
                        BareLineEnding(output, ref written, alreadyEmittedCr: false);
                    }

                    break;

                case State.Cr:
                    if (b == Lf)
                    {
                        Consume(ref consumed);
                        Emit(Lf, output, ref written);
                        _lineLength = 0;
                        _state = State.LineStart;
                    }
                    else
                    {
                        BareLineEnding(output, ref written, alreadyEmittedCr: true); // b is looked at again mid-line
                    }

                    break;

                case State.Dot:
                    if (b == Cr)
                    {
                        Consume(ref consumed);
                        _state = State.DotCr;
                    }
                    else
                    {
                        // RFC 5321 §4.5.2: a leading period on a line with other characters is deleted. A lone "." ended by a
                        // bare LF is kept, as the line has no other characters.
                        if (b == Lf)
                        {
                            Emit(Dot, output, ref written);
                            CountLineBytes(1);
                        }

                        _state = State.MidLine;
                    }

                    break;

                case State.DotCr:
                    if (b == Lf)
                    {
                        consumed++;
                        _state = State.Done;
                        return DataStatus.EndOfData;
                    }

                    // ".", bare CR, then b: not the terminator. The line is "." followed by a bare CR.
                    Emit(Dot, output, ref written);
                    CountLineBytes(1);
                    Emit(Cr, output, ref written);
                    BareLineEnding(output, ref written, alreadyEmittedCr: true);
                    break;
            }
        }
    }

    /// <summary>
    /// The length of the longest prefix of <paramref name="input"/> (at most <paramref name="limit"/> bytes) made of
    /// whole lines that decode to themselves: each ends in CRLF, holds no other CR or LF, does not start with "." and
    /// is at most maxLineLength long. Called at a line start.
    /// </summary>
    /// <remarks>
    /// Looks at 64 bytes at a time through bit masks of where CR, LF and "." are, so a body of ordinary lines costs a
    /// few vector compares per 64 bytes instead of a search, a copy and three state changes per line. Any block that
    /// is not plainly clean stops the fast path at the last line end before it; the state machine decides that line.
    /// Lines inside one block are shorter than 64 bytes, so only lines that cross blocks need their length counted.
    /// </remarks>
    private readonly int CleanLinesLength(ReadOnlySpan<byte> input, int limit)
    {
        if (!Vector128.IsHardwareAccelerated || _maxLineLength < BlockSize)
        {
            return 0;
        }

        int end = Math.Min(input.Length, limit) - BlockSize;
        ref byte start = ref MemoryMarshal.GetReference(input);
        int clean = 0;
        int lineLength = 0; // of the line that runs into the next block
        ulong crBefore = 0; // the previous block ended with a CR
        ulong lineStartBefore = 1; // the previous block ended with an LF (or this is the first block)
        for (int offset = 0; offset <= end; offset += BlockSize)
        {
            Masks(ref Unsafe.Add(ref start, offset), out ulong cr, out ulong lf, out ulong dot);
            ulong lineStarts = (lf << 1) | lineStartBefore;
            if (lf != ((cr << 1) | crBefore) || (dot & lineStarts) != 0)
            {
                break; // a bare CR or LF, or a line that starts with "."
            }

            if (lf == 0)
            {
                lineLength += BlockSize;
                if (lineLength >= _maxLineLength)
                {
                    break; // too long by the time it ends
                }
            }
            else
            {
                if (lineLength + BitOperations.TrailingZeroCount(lf) + 1 > _maxLineLength)
                {
                    break;
                }

                int lastLf = BlockSize - 1 - BitOperations.LeadingZeroCount(lf);
                clean = offset + lastLf + 1;
                lineLength = BlockSize - 1 - lastLf;
            }

            crBefore = cr >> (BlockSize - 1);
            lineStartBefore = lf >> (BlockSize - 1);
        }

        return clean;
    }

    private const int BlockSize = 64;

    // Bit i of each mask is set when byte i of the 64-byte block is CR, LF or ".".
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Masks(ref byte block, out ulong cr, out ulong lf, out ulong dot)
    {
        Vector128<byte> v0 = Vector128.LoadUnsafe(ref block);
        Vector128<byte> v1 = Vector128.LoadUnsafe(ref block, 16);
        Vector128<byte> v2 = Vector128.LoadUnsafe(ref block, 32);
        Vector128<byte> v3 = Vector128.LoadUnsafe(ref block, 48);
        cr = Mask(v0, v1, v2, v3, Vector128.Create(Cr));
        lf = Mask(v0, v1, v2, v3, Vector128.Create(Lf));
        dot = Mask(v0, v1, v2, v3, Vector128.Create(Dot));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mask(Vector128<byte> v0, Vector128<byte> v1, Vector128<byte> v2, Vector128<byte> v3, Vector128<byte> value) =>
        Vector128.Equals(v0, value).ExtractMostSignificantBits()
        | (ulong)Vector128.Equals(v1, value).ExtractMostSignificantBits() << 16
        | (ulong)Vector128.Equals(v2, value).ExtractMostSignificantBits() << 32
        | (ulong)Vector128.Equals(v3, value).ExtractMostSignificantBits() << 48;

    /// <summary>A bare CR or LF was seen (reject policy only).</summary>
    public readonly bool SawBareLineEnding => _sawBareLineEnding;

    /// <summary>A line longer than maxLineLength (including CRLF) was seen.</summary>
    public readonly bool SawLongLine => _sawLongLine;

    // A bare CR (already written) or a bare LF (already consumed). Either way the position after it is mid-line.
    private void BareLineEnding(Span<byte> output, ref int written, bool alreadyEmittedCr)
    {
        if (_normalizeBareLineEndings)
        {
            if (!alreadyEmittedCr)
            {
                Emit(Cr, output, ref written);
            }

            Emit(Lf, output, ref written);
            _lineLength = 0;
        }
        else
        {
            _sawBareLineEnding = true;
            if (!alreadyEmittedCr)
            {
                Emit(Lf, output, ref written);
                _lineLength = 0;
            }
        }

        _state = State.MidLine;
    }

    private void Consume(ref int consumed)
    {
        consumed++;
        CountLineBytes(1);
    }

    // RFC 5321 §4.5.3.1.6: 1000 octets per text line including CRLF, "not counting the leading dot duplicated for
    // transparency".
    private void CountLineBytes(int count)
    {
        if (_lineLength > _maxLineLength - count)
        {
            _sawLongLine = true;
            _lineLength = _maxLineLength; // saturate: the exact length no longer matters
        }
        else
        {
            _lineLength += count;
        }
    }

    private void Emit(byte value, Span<byte> output, ref int written)
    {
        if (_pendingCount == 0 && written < output.Length)
        {
            output[written++] = value;
        }
        else
        {
            _pending |= (uint)value << (8 * _pendingCount);
            _pendingCount++;
        }
    }

    private bool TryFlushPending(Span<byte> output, ref int written)
    {
        while (_pendingCount != 0)
        {
            if (written == output.Length)
            {
                return false;
            }

            output[written++] = (byte)_pending;
            _pending >>= 8;
            _pendingCount--;
        }

        return true;
    }
}
