using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Sink;

/// <summary>
/// One sink connection: the same zero-allocation loop as <see cref="SmtpSession"/> (commands parsed straight from the
/// pipe buffer, every pipelined command answered before one flush), but content is un-stuffed into a scratch buffer
/// and dropped (or written to a dump file), and the final reply comes from the reply mix.
/// </summary>
internal sealed class SinkSession
{
    private enum Next : byte { ReadMore, Data, Bdat, Quit, Close }

    private readonly SinkServer _server;
    private readonly SinkOptions _options;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private readonly byte[] _scratch = new byte[16 * 1024];

    private SmtpState _state = SmtpState.Connected;
    private bool _skippingLongLine;
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
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 8192, minimumReadSize: 2048, leaveOpen: true));
        _writer = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
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

    public async Task RunAsync()
    {
        try
        {
            _writer.Write(_server.Greeting);
            await _writer.FlushAsync().ConfigureAwait(false);
            await CommandLoopAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The client went away or the sink is stopping: nothing to report per connection.
        }
        finally
        {
            DiscardDump();
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _writer.CompleteAsync().ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task CommandLoopAsync()
    {
        while (true)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var next = ProcessCommands(ref reader);
            _reader.AdvanceTo(reader.Position, next == Next.ReadMore ? buffer.End : reader.Position);
            switch (next)
            {
                case Next.ReadMore when result.IsCompleted:
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
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
                    _writer.Write(SmtpReplies.ServiceClosing);
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
                case Next.Close:
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
            }
        }
    }

    /// <summary>Buffered input at once; flushes the replies so far only when it would have to wait (RFC 2920 §3.1).</summary>
    private async ValueTask<ReadResult> ReadAsync()
    {
        if (_reader.TryRead(out var buffered))
        {
            return buffered;
        }
        if (_writer.UnflushedBytes > 0)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }
        return await _reader.ReadAsync().ConfigureAwait(false);
    }

    private Next ProcessCommands(ref SequenceReader<byte> reader)
    {
        while (true)
        {
            if (_skippingLongLine)
            {
                if (!SmtpLineReader.TrySkipToLineEnd(ref reader))
                {
                    return Next.ReadMore;
                }
                _skippingLongLine = false;
            }
            var status = SmtpLineReader.TryReadLine(ref reader, _options.MaxCommandLine, out var lineSequence, out var lfFound);
            Next next;
            switch (status)
            {
                case LineStatus.Incomplete:
                    return Next.ReadMore;
                case LineStatus.TooLong:
                    _skippingLongLine = !lfFound;
                    next = Reply(SmtpReplies.LineTooLong);
                    break;
                case LineStatus.BareLineFeed:
                case LineStatus.BareCarriageReturn:
                    next = Reply(SmtpReplies.BareLineEndingInCommand);
                    break;
                default:
                    next = HandleCommand(SmtpLineReader.GetLineSpan(lineSequence, _scratch));
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
        _writer.Write(reply);
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
                _writer.Write(SmtpReplies.StartMailInput);
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
            _writer.Write(SmtpReplies.SyntaxErrorInArguments);
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
    private async Task<bool> ReceiveDataAsync()
    {
        // Bare CR/LF are passed through as sent (a sink measures; it does not judge), but still never end the data.
        var unstuffer = new DotUnstuffer(normalizeBareLineEndings: false, maxLineLength: int.MaxValue);
        OpenDump();
        long bytes = 0;
        while (true)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = Unstuff(ref unstuffer, buffer, ref bytes, out var consumed);
            _reader.AdvanceTo(consumed, status == DataStatus.EndOfData ? consumed : buffer.End);
            if (status == DataStatus.EndOfData)
            {
                break;
            }
            if (result.IsCompleted)
            {
                return false;
            }
        }
        await FinishMessageAsync(bytes).ConfigureAwait(false);
        return true;
    }

    private DataStatus Unstuff(ref DotUnstuffer unstuffer, in ReadOnlySequence<byte> buffer, ref long bytes, out SequencePosition consumed)
    {
        var position = buffer.Start;
        foreach (var segment in buffer)
        {
            var input = segment.Span;
            while (!input.IsEmpty)
            {
                var status = unstuffer.Process(input, _scratch, out var used, out var written);
                input = input[used..];
                position = buffer.GetPosition(used, position);
                bytes += written;
                _dump?.Write(_scratch, 0, written);
                if (status == DataStatus.EndOfData)
                {
                    consumed = position;
                    return status;
                }
            }
        }
        // A dot or CR held back at the end of the input stays inside the un-stuffer, so everything is consumed.
        consumed = position;
        return DataStatus.NeedMoreInput;
    }

    /// <summary>One BDAT chunk (RFC 3030 §2); false when the client went away first.</summary>
    private async Task<bool> ReceiveBdatAsync()
    {
        var keep = !_bdatOutOfSequence;
        if (keep && _state == SmtpState.RecipientGiven)
        {
            OpenDump();
            _bdatBytes = 0;
            _state = SmtpState.Chunking;
        }
        var remaining = _bdatSize;
        while (remaining > 0)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            var chunk = result.Buffer.Slice(0, Math.Min(remaining, result.Buffer.Length));
            if (keep && _dump is not null)
            {
                foreach (var segment in chunk)
                {
                    _dump.Write(segment.Span);
                }
            }
            remaining -= chunk.Length;
            _reader.AdvanceTo(chunk.End);
            if (remaining > 0 && result.IsCompleted)
            {
                return false;
            }
        }
        if (!keep)
        {
            _writer.Write(SmtpReplies.BadSequence);
            return true;
        }
        _bdatBytes += _bdatSize;
        if (!_bdatLast)
        {
            _writer.Write(SmtpReplies.ChunkReceived);
            return true;
        }
        await FinishMessageAsync(_bdatBytes).ConfigureAwait(false);
        return true;
    }

    /// <summary>Counts the message, then (after the configured delay) gives the reply the mix draws for it.</summary>
    private async Task FinishMessageAsync(long bytes)
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
            if (_writer.UnflushedBytes > 0)
            {
                await _writer.FlushAsync().ConfigureAwait(false);
            }
            await Task.Delay(_options.Delay, _options.Time).ConfigureAwait(false);
        }
        _server.Counters.Message(_recipients, bytes, pick);
        _writer.Write(mix.Reply(pick));
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
