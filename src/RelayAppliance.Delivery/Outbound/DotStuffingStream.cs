using System.Buffers;
using System.IO.Pipelines;

namespace RelayAppliance.Delivery.Outbound;

/// <summary>
/// The write side of DATA (RFC 5321 §4.5.2): copies message bytes into the connection's pipe, doubling a '.' at the
/// start of every line, flushing every <see cref="FlushThreshold"/> bytes (each flush is one §4.5.3.2.5 data block),
/// and <see cref="WriteTerminator"/> ends the data with CRLF "." CRLF, adding the CRLF the body may lack.
/// </summary>
/// <remarks>
/// A line starts after any LF, not only after CRLF: on well-formed input (CRLF line ends) that is the same, and on a
/// body with a stray bare LF it keeps "LF . CRLF" from ever reaching a lenient receiver (SMTP smuggling).
/// </remarks>
internal sealed class DotStuffingStream(PipeWriter writer, Func<CancellationToken, ValueTask> flushAsync) : Stream
{
    internal const int FlushThreshold = 64 * 1024;

    private bool _lineStart = true;
    private byte _previous;
    private byte _last;
    private long _length;
    private long _unflushed;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }

    /// <summary>
    /// Copies the input in runs that end just before a line-starting '.', doubling only those dots: one search and
    /// one copy per run, not per line (a 100 KiB body has some 1,300 lines and usually no such dot).
    /// </summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return;
        }
        _length += buffer.Length;
        _unflushed += buffer.Length;
        (_previous, _last) = buffer.Length >= 2 ? (buffer[^2], buffer[^1]) : (_last, buffer[0]);
        if (_lineStart && buffer[0] == (byte)'.')
        {
            WriteStuffedDot();
        }
        int lineFeedDot;
        while ((lineFeedDot = buffer.IndexOf("\n."u8)) >= 0)
        {
            writer.Write(buffer[..(lineFeedDot + 1)]);
            WriteStuffedDot();
            buffer = buffer[(lineFeedDot + 1)..]; // starts with that '.', which goes out with the next run
        }
        writer.Write(buffer);
        _lineStart = buffer[^1] == (byte)'\n';
    }

    private void WriteStuffedDot()
    {
        writer.Write("."u8);
        _unflushed++;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        if (_unflushed >= FlushThreshold)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        _unflushed = 0;
        await flushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sync flush is a no-op: the bytes are in the pipe and go out with the next async flush.</summary>
    public override void Flush()
    {
    }

    /// <summary>RFC 5321 §4.1.1.4: the data ends with CRLF "." CRLF; the last line of the body gets its CRLF if it lacks one.</summary>
    public void WriteTerminator()
    {
        if (_length > 0 && !(_previous == (byte)'\r' && _last == (byte)'\n'))
        {
            writer.Write("\r\n"u8);
        }
        writer.Write(".\r\n"u8);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
