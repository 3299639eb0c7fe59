using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;

namespace RelayAppliance.Server.Transport;

/// <summary>
/// A <see cref="PipeReader"/> that receives straight from a connected socket into one buffer, rented for the
/// connection's lifetime. The buffer is always a single segment: unconsumed input is moved to its front before the
/// next receive, and it grows only when a consumer keeps more than it leaves room for.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>PipeReader.Create(new NetworkStream(socket))</c>: at one message per connection, that layering cost
/// every connection a NetworkStream, a StreamPipeReader with its options and segments, and state-machine boxes for
/// reads that had to wait; 11 % of the bytes allocated per message (perf/RESULTS.md item 20). Here a read that waits
/// completes this object itself (<see cref="IValueTaskSource{TResult}"/>): a pending read allocates nothing.
/// </para>
/// <para>
/// One read at a time, as for every PipeReader. <see cref="CancelPendingRead"/> may come from another thread; it
/// cancels the pending receive through a token source of the reader's own, which the caller's token also cancels.
/// Cancelling a socket receive takes no input away: a receive that had already started completes normally. One
/// small lock keeps the cancel request and that source consistent: setting the request and cancelling the source
/// happen together, and so do clearing it and replacing a cancelled source, so a request is reported exactly once.
/// </para>
/// </remarks>
internal sealed class SocketPipeReader : PipeReader, IValueTaskSource<ReadResult>
{
    private const int MinimumReceive = 1024;

    private readonly Socket _socket;
    private readonly int _bufferSize;
    private readonly Action _onReceived;
    private byte[]? _buffer; // rented by the first receive: a session that starts TLS at once never needs it
    private int _start; // first unconsumed byte
    private int _end; // end of the received input
    private int _examined; // the consumer has seen everything before this; a read waits for more than that
    private bool _peerDone; // the receive returned 0: the client closed its side
    private bool _completed; // set under _cancelGate, so that a cancel from another thread sees it
    private bool _receiving;
    private readonly Lock _cancelGate = new(); // guards the two fields below, and _completed's change
    private bool _cancelRequested;
    private CancellationTokenSource _receiveCancel = new();
    private CancellationToken _callerToken;
    private CancellationTokenRegistration _callerRegistration;
    private ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter _receive;
    private ManualResetValueTaskSourceCore<ReadResult> _pendingRead; // continuations run inline, on the socket's thread

    public SocketPipeReader(Socket socket, int bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 2 * MinimumReceive);
        _socket = socket;
        _bufferSize = bufferSize;
        _onReceived = OnReceived;
    }

    /// <summary>Buffered input, without waiting.</summary>
    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (TakeCancelRequest())
        {
            result = new ReadResult(Unconsumed(), isCanceled: true, _peerDone);
            return true;
        }
        if (_end > _examined || _peerDone)
        {
            result = new ReadResult(Unconsumed(), isCanceled: false, _peerDone);
            return true;
        }
        result = default;
        return false;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (TryRead(out var buffered))
        {
            return new ValueTask<ReadResult>(buffered);
        }
        cancellationToken.ThrowIfCancellationRequested();
        MakeRoom();
        _callerToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _callerRegistration = cancellationToken.UnsafeRegister(static state => ((SocketPipeReader)state!).CancelReceive(), this);
        }
        _receiving = true;
        try
        {
            _receive = _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ReceiveToken()).ConfigureAwait(false).GetAwaiter();
        }
        catch
        {
            // The socket refused at once (disposed by Abort): nothing is in flight.
            _receiving = false;
            _callerRegistration.Dispose();
            _callerRegistration = default;
            _callerToken = default;
            throw;
        }
        if (_receive.IsCompleted)
        {
            return new ValueTask<ReadResult>(FinishReceive());
        }
        _pendingRead.Reset();
        _receive.UnsafeOnCompleted(_onReceived);
        return new ValueTask<ReadResult>(this, _pendingRead.Version);
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        int consumedAt = IndexOf(consumed);
        int examinedAt = IndexOf(examined);
        if (consumedAt < _start || examinedAt < consumedAt || examinedAt > _end)
        {
            throw new ArgumentOutOfRangeException(nameof(consumed), "The positions are not in the last read's buffer, in order.");
        }
        _start = consumedAt;
        _examined = Math.Max(_examined, examinedAt);
        if (_start == _end)
        {
            _start = _end = _examined = 0; // everything consumed: the next receive starts at the front
        }
    }

    public override void CancelPendingRead()
    {
        lock (_cancelGate)
        {
            if (_completed)
            {
                return;
            }
            _cancelRequested = true;
            _receiveCancel.Cancel(); // a pending socket receive completes on another thread, never inside this call
        }
    }

    public override void Complete(Exception? exception = null)
    {
        lock (_cancelGate)
        {
            if (_completed)
            {
                return;
            }
            _completed = true;
            _receiveCancel.Dispose();
        }
        _callerRegistration.Dispose();
        // A receive still in flight may yet write into the buffer: then it is left to the GC, never returned.
        if (_buffer is not null && !_receiving)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = null;
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _pendingRead.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _pendingRead.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _pendingRead.OnCompleted(continuation, state, token, flags);

    private ReadOnlySequence<byte> Unconsumed() =>
        _buffer is null ? default : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    private int IndexOf(SequencePosition position)
    {
        // An empty result before the first receive has no buffer behind it; its positions are 0.
        if (position.GetObject() is { } owner && !ReferenceEquals(owner, _buffer))
        {
            throw new InvalidOperationException("The position is not from this reader's current buffer.");
        }
        return position.GetInteger() & int.MaxValue; // the index; older runtimes flagged an array's end in the top bit
    }

    /// <summary>Moves the unconsumed input to the front and makes sure a receive has room.</summary>
    private void MakeRoom()
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _examined -= _start;
            _start = 0;
        }
        if (_buffer.Length - _end < MinimumReceive)
        {
            var larger = ArrayPool<byte>.Shared.Rent(2 * _buffer.Length);
            Buffer.BlockCopy(_buffer, 0, larger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
    }

    /// <summary>The caller's token fired during a receive.</summary>
    private void CancelReceive()
    {
        lock (_cancelGate)
        {
            if (!_completed)
            {
                _receiveCancel.Cancel();
            }
        }
    }

    /// <summary>True once per <see cref="CancelPendingRead"/>; the source it cancelled is replaced at the same time.</summary>
    private bool TakeCancelRequest()
    {
        lock (_cancelGate)
        {
            if (!_cancelRequested)
            {
                return false;
            }
            _cancelRequested = false;
            ReplaceCancelledSource();
            return true;
        }
    }

    /// <summary>
    /// The token for the next receive. A source left cancelled by the caller's token (which fired as a receive
    /// completed anyway) is replaced first; one cancelled by a request not yet taken stays, so that the receive
    /// ends at once and reports it.
    /// </summary>
    private CancellationToken ReceiveToken()
    {
        lock (_cancelGate)
        {
            if (!_cancelRequested)
            {
                ReplaceCancelledSource();
            }
            return _receiveCancel.Token;
        }
    }

    private void ReplaceCancelledSource()
    {
        if (_receiveCancel.IsCancellationRequested)
        {
            _receiveCancel.Dispose();
            _receiveCancel = new CancellationTokenSource();
        }
    }

    private void OnReceived()
    {
        ReadResult result;
        try
        {
            result = FinishReceive();
        }
        catch (Exception e)
        {
            _pendingRead.SetException(e);
            return;
        }
        _pendingRead.SetResult(result);
    }

    private ReadResult FinishReceive()
    {
        _callerRegistration.Dispose(); // waits for a cancellation callback already running
        _callerRegistration = default;
        var callerToken = _callerToken;
        _callerToken = default;
        int received = 0;
        bool canceled = false;
        Exception? error = null;
        try
        {
            received = _receive.GetResult();
        }
        catch (OperationCanceledException)
        {
            canceled = true;
        }
        catch (Exception e)
        {
            error = e;
        }
        _receiving = false;
        if (_completed)
        {
            return default; // completed while the receive was in flight: nobody reads this any more
        }
        if (canceled)
        {
            // No input was taken. The caller's token wins: the session's idle timeout ends the session. Otherwise
            // it was CancelPendingRead, reported here once.
            if (callerToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(callerToken);
            }
            TakeCancelRequest();
            return new ReadResult(Unconsumed(), isCanceled: true, isCompleted: false);
        }
        if (error is not null)
        {
            ExceptionDispatchInfo.Throw(error);
        }
        if (received == 0)
        {
            _peerDone = true;
        }
        _end += received;
        return new ReadResult(Unconsumed(), isCanceled: false, _peerDone);
    }
}
