namespace RelayAppliance.Spool.Mailboxes;

/// <summary>A write-only stream over a <see cref="BodyWriter"/>, so a stored body can be copied into another spool.</summary>
internal sealed class BodyWriterStream(BodyWriter body) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => body.Length;
    public override long Position { get => body.Length; set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var span = body.GetSpan();
            var n = Math.Min(span.Length, buffer.Length);
            buffer.Span[..n].CopyTo(span);
            body.Advance(n);
            buffer = buffer[n..];
            if (body.IsFull)
                await body.FlushChunkAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Chunks are flushed asynchronously; a synchronous write would have to block on the log.
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Use WriteAsync.");
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
