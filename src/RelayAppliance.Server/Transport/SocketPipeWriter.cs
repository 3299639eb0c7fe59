using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace RelayAppliance.Server.Transport;

/// <summary>
/// A <see cref="PipeWriter"/> that collects replies in one rented buffer and sends them with one socket call per
/// flush. The sessions write a few hundred bytes between flushes, so one contiguous buffer is all it needs; it
/// grows if a caller asks for more.
/// </summary>
/// <remarks>
/// <see cref="CancelPendingFlush"/> makes the next flush return <c>IsCanceled</c> without sending; a send already
/// handed to the socket finishes (the sessions never cancel a flush; a client that stops reading is cut off by
/// <c>Abort</c>, which closes the socket).
/// </remarks>
internal sealed class SocketPipeWriter : PipeWriter
{
    private const int InitialSize = 1024;

    private readonly Socket _socket;
    private byte[] _buffer = [];
    private int _written;
    private bool _completed;
    private bool _sending; // a send that did not finish at once may still read the buffer
    private volatile bool _cancelRequested;

    public SocketPipeWriter(Socket socket) => _socket = socket;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureRoom(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureRoom(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, _buffer.Length - _written);
        _written += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_cancelRequested)
        {
            _cancelRequested = false;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        }
        if (_written == 0)
        {
            return default;
        }
        var send = _socket.SendAsync(_buffer.AsMemory(0, _written), SocketFlags.None, cancellationToken);
        int sent = 0;
        if (send.IsCompletedSuccessfully)
        {
            sent = send.Result; // consumes the send: it must not be awaited again
            if (sent == _written)
            {
                _written = 0;
                return default;
            }
            send = _socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancellationToken);
        }
        _sending = true;
        return FinishSendAsync(send, sent, cancellationToken);
    }

    public override void CancelPendingFlush() => _cancelRequested = true;

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }
        _completed = true;
        if (_buffer.Length > 0 && !_sending) // else the buffer is left to the GC, never returned while in use
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = [];
        _written = 0;
    }

    /// <summary>A send the socket could not finish at once (the client is slow to read), or a partial one.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FinishSendAsync(ValueTask<int> send, int sent, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                sent += await send.ConfigureAwait(false);
                if (sent >= _written)
                {
                    _written = 0;
                    return default;
                }
                send = _socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancellationToken);
            }
        }
        finally
        {
            _sending = false;
        }
    }

    private void EnsureRoom(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        int needed = _written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length)
        {
            return;
        }
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(InitialSize, 2 * _buffer.Length)));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = larger;
    }
}
