using System.Buffers;
using System.IO.Pipelines;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Delivery.Outbound;

/// <summary>
/// The write side of DATA (RFC 5321 §4.5.2): copies message bytes into the connection's pipe, doubling a '.' at the
/// start of every line (<see cref="DotStuffer"/>, which also says why a line starts after any LF), flushing every
/// <see cref="FlushThreshold"/> bytes (each flush is one §4.5.3.2.5 data block), and <see cref="WriteTerminator"/> ends
/// the data with CRLF "." CRLF, adding the CRLF the body may lack.
/// </summary>
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

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return;
        }
        _length += buffer.Length;
        _unflushed += buffer.Length + DotStuffer.Write(buffer, writer, _lineStart);
        (_previous, _last) = buffer.Length >= 2 ? (buffer[^2], buffer[^1]) : (_last, buffer[0]);
        _lineStart = buffer[^1] == (byte)'\n';
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
