using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Sink;

/// <summary>
/// One sink connection: the same zero-allocation loop as <see cref="SmtpSession"/> (commands parsed straight from the
/// input buffer, every pipelined command answered before one flush), but content is un-stuffed into a scratch buffer
/// and dropped (or written to a dump file), and the final reply comes from the reply mix.
/// </summary>
/// <remarks>
/// Unlike <see cref="SmtpSession"/> (no TLS here, so no stream to layer on), the sink talks to the socket directly
/// through three buffers rented for the connection's lifetime: input, replies and the un-stuffing scratch. At one
/// message per connection that saves, per connection, a NetworkStream, a StreamPipeReader and a StreamPipeWriter with
/// their segments and async machinery, and a fresh 16 KiB scratch array (perf/RESULTS.md, sink section). The inner
/// async methods use pooled ValueTask builders: each suspends once per round trip, which would otherwise allocate a
/// state-machine box every time.
/// </remarks>
internal sealed class SinkSession
{
    private enum Next : byte { ReadMore, Data, Bdat, Quit, Close }

    // Input: at least two maximal command lines, so a complete line always fits after compaction.
    private const int MinInputBuffer = 8 * 1024;
    private const int ScratchSize = 16 * 1024;
    private const int OutputBuffer = 1024;

    private readonly SinkServer _server;
    private readonly SinkOptions _options;
    private readonly Socket _socket;
    private byte[] _input = [];
    private int _inputStart;
    private int _inputEnd;
    private byte[] _output = [];
    private int _outputLength;
    private byte[] _scratch = [];

    private SmtpState _state = SmtpState.Connected;
    private CommandLineFramer _lines; // a mutable struct: used in place, never copied
    private bool _smtpUtf8;
    private int _recipients;
    private long _bdatSize;
    private bool _bdatLast;
    private bool _bdatOutOfSequence;
    private long _bdatBytes;
    private FileStream? _dump;
    private string? _dumpPath;

    public SinkSession(SinkServer server, Socket socket)
    {
        _server = server;
        _options = server.Options;
        _lines = new CommandLineFramer(_options.MaxCommandLine);
        _socket = socket;
    }

    public void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket.Close();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask RunAsync()
    {
        _input = ArrayPool<byte>.Shared.Rent(Math.Max(MinInputBuffer, 2 * _options.MaxCommandLine));
        _output = ArrayPool<byte>.Shared.Rent(OutputBuffer);
        _scratch = ArrayPool<byte>.Shared.Rent(ScratchSize);
        try
        {
            Write(_server.Greeting);
            await FlushAsync().ConfigureAwait(false);
            await CommandLoopAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The client went away or the sink is stopping: nothing to report per connection.
        }
        finally
        {
            DiscardDump();
            // Nothing is in flight any more: every receive and send above was awaited.
            ArrayPool<byte>.Shared.Return(_input);
            ArrayPool<byte>.Shared.Return(_output);
            ArrayPool<byte>.Shared.Return(_scratch);
            _input = _output = _scratch = [];
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask CommandLoopAsync()
    {
        var needMore = false; // everything buffered has been examined
        while (true)
        {
            if (needMore && !await ReceiveAsync().ConfigureAwait(false))
            {
                await FlushAsync().ConfigureAwait(false);
                return; // the client went away
            }
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_input, _inputStart, _inputEnd - _inputStart));
            var next = ProcessCommands(ref reader);
            _inputStart += (int)reader.Consumed;
            needMore = next == Next.ReadMore;
            switch (next)
            {
                case Next.Data:
                    if (!await ReceiveDataAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                    break;
                case Next.Bdat:
                    if (!await ReceiveBdatAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                    break;
                case Next.Quit:
                    Write(SmtpReplies.ServiceClosing);
                    await FlushAsync().ConfigureAwait(false);
                    return;
                case Next.Close:
                    await FlushAsync().ConfigureAwait(false);
                    return;
            }
        }
    }

    /// <summary>
    /// Called only when everything buffered has been examined: flushes the replies so far (they are all that can be
    /// answered before more input, RFC 2920 §3.1), then receives more after what is left. False at end of input.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReceiveAsync()
    {
        await FlushAsync().ConfigureAwait(false);
        if (_inputStart > 0)
        {
            _input.AsSpan(_inputStart, _inputEnd - _inputStart).CopyTo(_input);
            _inputEnd -= _inputStart;
            _inputStart = 0;
        }
        // Cannot be full: a command line longer than the limit is answered and skipped, DATA and BDAT consume all.
        var received = await _socket.ReceiveAsync(_input.AsMemory(_inputEnd), SocketFlags.None).ConfigureAwait(false);
        _inputEnd += received;
        return received > 0;
    }

    private void Write(ReadOnlySpan<byte> reply)
    {
        if (_output.Length - _outputLength < reply.Length)
        {
            // Many pipelined commands in one read: grow (bounded by what one input buffer can hold).
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_output.Length * 2, _outputLength + reply.Length));
            _output.AsSpan(0, _outputLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_output);
            _output = larger;
        }
        reply.CopyTo(_output.AsSpan(_outputLength));
        _outputLength += reply.Length;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushAsync()
    {
        if (_outputLength == 0)
        {
            return;
        }
        var length = _outputLength;
        _outputLength = 0;
        // A stream socket's send completes when all of it is sent.
        await _socket.SendAsync(_output.AsMemory(0, length), SocketFlags.None).ConfigureAwait(false);
    }

    private Next ProcessCommands(ref SequenceReader<byte> reader)
    {
        while (true)
        {
            var status = _lines.TryReadLine(ref reader, _scratch, out var line);
            Next next;
            switch (status)
            {
                case LineStatus.Incomplete:
                    return Next.ReadMore;
                case LineStatus.TooLong:
                    next = Reply(SmtpReplies.LineTooLong);
                    break;
                case LineStatus.BareLineFeed:
                case LineStatus.BareCarriageReturn:
                    next = Reply(SmtpReplies.BareLineEndingInCommand);
                    break;
                default:
                    next = HandleCommand(line);
                    break;
            }
            if (next != Next.ReadMore)
            {
                return next;
            }
        }
    }

    private Next Reply(ReadOnlySpan<byte> reply)
    {
        Write(reply);
        return Next.ReadMore;
    }

    private Next HandleCommand(ReadOnlySpan<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var arguments);
        switch (verb)
        {
            case SmtpVerb.Unknown or SmtpVerb.Auth:
                return Reply(SmtpReplies.CommandUnrecognized);
            case SmtpVerb.StartTls:
                return Reply(SmtpReplies.TlsNotAvailable);
            case SmtpVerb.Bdat:
                return HandleBdat(arguments); // the chunk must be read even when out of sequence
        }
        if (!SmtpStateTable.IsAllowed(_state, verb))
        {
            return Reply(verb == SmtpVerb.Mail && _state == SmtpState.Connected ? SmtpReplies.HeloFirst
                : verb == SmtpVerb.Data && _state == SmtpState.MailGiven ? SmtpReplies.NoValidRecipients
                : SmtpReplies.BadSequence);
        }
        switch (verb)
        {
            case SmtpVerb.Ehlo or SmtpVerb.Helo:
                ResetTransaction();
                _state = SmtpState.Identified;
                return Reply(verb == SmtpVerb.Ehlo ? _server.Ehlo : _server.Helo);
            case SmtpVerb.Mail:
                return HandleMail(arguments);
            case SmtpVerb.Rcpt:
                return HandleRcpt(arguments);
            case SmtpVerb.Data:
                if (!arguments.IsEmpty)
                {
                    return Reply(SmtpReplies.SyntaxErrorInArguments);
                }
                Write(SmtpReplies.StartMailInput);
                return Next.Data;
            case SmtpVerb.Rset:
                ResetTransaction();
                return Reply(SmtpReplies.Ok);
            case SmtpVerb.Noop:
                return Reply(SmtpReplies.Ok);
            case SmtpVerb.Quit:
                return Next.Quit;
            case SmtpVerb.Vrfy:
                return Reply(SmtpReplies.CannotVerify);
            case SmtpVerb.Expn:
                return Reply(SmtpReplies.ExpnNotImplemented);
            default:
                return Reply(SmtpReplies.Help);
        }
    }

    private Next HandleMail(ReadOnlySpan<byte> arguments)
    {
        var error = SmtpCommandParser.TryParseMailFrom(arguments, out var mail);
        if (error != SmtpArgumentError.None)
        {
            return Reply(SmtpReplies.ForArgumentError(error));
        }
        _smtpUtf8 = mail.SmtpUtf8;
        _recipients = 0;
        _state = SmtpState.MailGiven;
        return Reply(SmtpReplies.SenderOk);
    }

    private Next HandleRcpt(ReadOnlySpan<byte> arguments)
    {
        var error = SmtpCommandParser.TryParseRcptTo(arguments, _smtpUtf8, out _);
        if (error != SmtpArgumentError.None)
        {
            return Reply(SmtpReplies.ForArgumentError(error));
        }
        _recipients++;
        _state = SmtpState.RecipientGiven;
        return Reply(SmtpReplies.RecipientOk);
    }

    private Next HandleBdat(ReadOnlySpan<byte> arguments)
    {
        if (SmtpCommandParser.TryParseBdat(arguments, out _bdatSize, out _bdatLast) != SmtpArgumentError.None)
        {
            // Without a chunk size the next command cannot be found: the stream is lost (RFC 3030 §2).
            Write(SmtpReplies.SyntaxErrorInArguments);
            return Next.Close;
        }
        _bdatOutOfSequence = !SmtpStateTable.IsAllowed(_state, SmtpVerb.Bdat);
        return Next.Bdat;
    }

    private void ResetTransaction()
    {
        DiscardDump();
        _recipients = 0;
        _smtpUtf8 = false;
        _bdatBytes = 0;
        if (_state > SmtpState.Identified)
        {
            _state = SmtpState.Identified;
        }
    }

    /// <summary>DATA content up to &lt;CRLF&gt;.&lt;CRLF&gt;; false when the client went away first.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReceiveDataAsync()
    {
        // Bare CR/LF are passed through as sent (a sink measures; it does not judge), but still never end the data.
        var unstuffer = new DotUnstuffer(normalizeBareLineEndings: false, maxLineLength: int.MaxValue);
        OpenDump();
        long bytes = 0;
        while (true)
        {
            var status = Unstuff(ref unstuffer, ref bytes);
            if (status == DataStatus.EndOfData)
            {
                break;
            }
            if (!await ReceiveAsync().ConfigureAwait(false))
            {
                return false;
            }
        }
        await FinishMessageAsync(bytes).ConfigureAwait(false);
        return true;
    }

    /// <summary>Un-stuffs the buffered input; consumes up to the end of data, or all of it.</summary>
    private DataStatus Unstuff(ref DotUnstuffer unstuffer, ref long bytes)
    {
        while (_inputStart < _inputEnd)
        {
            var status = unstuffer.Process(_input.AsSpan(_inputStart, _inputEnd - _inputStart), _scratch, out var used, out var written);
            _inputStart += used;
            bytes += written;
            _dump?.Write(_scratch, 0, written);
            if (status == DataStatus.EndOfData)
            {
                return status;
            }
        }
        // A dot or CR held back at the end of the input stays inside the un-stuffer, so everything is consumed.
        return DataStatus.NeedMoreInput;
    }

    /// <summary>One BDAT chunk (RFC 3030 §2); false when the client went away first.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReceiveBdatAsync()
    {
        var keep = !_bdatOutOfSequence;
        if (keep && _state == SmtpState.RecipientGiven)
        {
            OpenDump();
            _bdatBytes = 0;
            _state = SmtpState.Chunking;
        }
        var remaining = _bdatSize;
        while (true)
        {
            var length = (int)Math.Min(remaining, _inputEnd - _inputStart);
            if (keep && _dump is not null)
            {
                _dump.Write(_input, _inputStart, length);
            }
            _inputStart += length;
            remaining -= length;
            if (remaining == 0)
            {
                break;
            }
            if (!await ReceiveAsync().ConfigureAwait(false))
            {
                return false;
            }
        }
        if (!keep)
        {
            Write(SmtpReplies.BadSequence);
            return true;
        }
        _bdatBytes += _bdatSize;
        if (!_bdatLast)
        {
            Write(SmtpReplies.ChunkReceived);
            return true;
        }
        await FinishMessageAsync(_bdatBytes).ConfigureAwait(false);
        return true;
    }

    /// <summary>Counts the message, then (after the configured delay) gives the reply the mix draws for it.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FinishMessageAsync(long bytes)
    {
        if (_dump is { } dump)
        {
            _dump = null;
            _dumpPath = null;
            await dump.DisposeAsync().ConfigureAwait(false);
        }
        var mix = _options.ReplyMix;
        var pick = mix.Pick(_server.NextMessageNumber());
        if (_options.Delay > TimeSpan.Zero)
        {
            await FlushAsync().ConfigureAwait(false);
            await Task.Delay(_options.Delay, _options.Time).ConfigureAwait(false);
        }
        _server.Counters.Message(_recipients, bytes, pick);
        Write(mix.Reply(pick));
        _recipients = 0;
        _bdatBytes = 0;
        _state = SmtpState.Identified;
    }

    private void OpenDump()
    {
        if (_options.DumpDirectory is null)
        {
            return;
        }
        DiscardDump();
        _dumpPath = _server.NextDumpPath();
        _dump = new FileStream(_dumpPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 16 * 1024);
    }

    /// <summary>A transaction that did not finish leaves no file behind.</summary>
    private void DiscardDump()
    {
        if (_dump is null)
        {
            return;
        }
        _dump.Dispose();
        _dump = null;
        try
        {
            File.Delete(_dumpPath!);
        }
        catch (IOException)
        {
        }
        _dumpPath = null;
    }
}
