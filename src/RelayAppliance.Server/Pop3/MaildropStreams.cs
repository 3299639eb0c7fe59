using System.IO.Pipelines;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// For stores whose natural way to read a message is a push copy (like <c>MessageSpool.CopyBodyToAsync(id, Stream, ct)</c>):
/// turns it into the read stream <see cref="IMaildrop.OpenMessageAsync"/> returns, through a bounded pipe, so the
/// copy runs only as fast as the session sends and never holds the whole message.
/// </summary>
public static class MaildropStreams
{
    // The copy pauses when this much is waiting for the session, and resumes below half of it.
    private const long PauseThreshold = 256 * 1024;

    /// <summary>
    /// Starts <paramref name="copyTo"/> into a pipe and returns the pipe's read side. An exception from the copy is
    /// thrown by the stream's next read; disposing the stream early (TOP, or a dropped client) cancels the copy's token
    /// and its writes fail, so the copy ends and releases whatever it holds.
    /// </summary>
    public static Stream FromCopy(Func<Stream, CancellationToken, ValueTask> copyTo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(copyTo);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: PauseThreshold / 2, useSynchronizationContext: false));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pump = PumpAsync(pipe.Writer, copyTo, stop.Token);
        return new ReadSide(pipe.Reader.AsStream(), stop, pump);
    }

    private static async Task PumpAsync(PipeWriter writer, Func<Stream, CancellationToken, ValueTask> copyTo, CancellationToken cancellationToken)
    {
        await Task.Yield(); // never run the copy on the caller's stack
        Exception? error = null;
        try
        {
            var destination = writer.AsStream(leaveOpen: true);
            await using (destination.ConfigureAwait(false))
            {
                await copyTo(destination, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    /// <summary>The pipe's read side; disposing it stops the copy and waits for it to let go.</summary>
    private sealed class ReadSide(Stream inner, CancellationTokenSource stop, Task pump) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override async ValueTask DisposeAsync()
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await inner.DisposeAsync().ConfigureAwait(false); // completes the reader: pending and later writes end
            await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            stop.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !stop.IsCancellationRequested)
            {
                stop.Cancel();
                inner.Dispose();
                pump.Wait(TimeSpan.FromSeconds(30));
                stop.Dispose();
            }
            base.Dispose(disposing);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
