using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Listening;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// One POP3 connection (RFC 1939): AUTHORIZATION → TRANSACTION → UPDATE. Commands are parsed straight from the pipe's
/// buffer; every complete line in a read is answered in order into the output pipe, which is flushed only when the
/// session needs more input (PIPELINING, RFC 2449 §6.6). Steps that need I/O (login, RETR/TOP, long listings, STLS,
/// QUIT's commit) end the batch and run before the next line is looked at.
/// </summary>
internal sealed partial class Pop3Session : IHostedSession
{
    private enum Next : byte { ReadMore, Login, StartTls, SendMessage, ListAll, UidlAll, Quit, Close }

    // Replies of a multi-line listing are flushed in blocks of about this size, so a 100 000-message LIST streams.
    private const int FlushThreshold = 64 * 1024;

    private readonly Pop3Server _server;
    private readonly Pop3ServerOptions _options;
    private readonly Socket _socket;
    private readonly IPAddress _clientAddress;
    private readonly string _client;
    private readonly bool _implicitTls;
    private readonly byte[] _lineScratch;
    private readonly CancellationTokenSource _idle;

    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private SslStream? _tls;
    private Pop3State _state = Pop3State.Authorization;
    private int _errors;
    private CommandLineFramer _lines; // a mutable struct: used in place, never copied
    private volatile bool _stopRequested;

    public Pop3Session(Pop3Server server, Socket socket, IPAddress clientAddress, bool implicitTls)
    {
        _server = server;
        _options = server.Options;
        _lines = new CommandLineFramer(_options.MaxCommandLine);
        _socket = socket;
        _clientAddress = clientAddress;
        _client = clientAddress.ToString();
        _implicitTls = implicitTls;
        _lineScratch = new byte[_options.MaxCommandLine];
        _password = new byte[_options.MaxCommandLine];
        _idle = new CancellationTokenSource(Timeout.InfiniteTimeSpan, server.Time);
        _stream = new NetworkStream(socket, ownsSocket: false);
        (_reader, _writer) = CreatePipes(_stream);
    }

    /// <summary>USER/PASS and AUTH PLAIN are usable now: under TLS, or plaintext allowed for this client (RFC 2595 §2.1).</summary>
    private bool AuthAllowed => _tls is not null || _options.AllowPlaintextAuth switch
    {
        PlaintextAuthPolicy.Always => true,
        PlaintextAuthPolicy.LoopbackOnly => IPAddress.IsLoopback(_clientAddress),
        _ => false,
    };

    private bool StlsOffered => _options.Certificate is not null && _tls is null && _state != Pop3State.Transaction;

    /// <summary>At shutdown: the session answers -ERR [SYS/TEMP] and closes once its current command is done (no UPDATE).</summary>
    public void RequestStop()
    {
        _stopRequested = true;
        _reader.CancelPendingRead();
    }

    /// <summary>After the grace period: cut the connection.</summary>
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
            if (_implicitTls && !await StartTlsAsync().ConfigureAwait(false))
            {
                return;
            }
            _writer.Write(Pop3Replies.Greeting);
            await FlushAsync().ConfigureAwait(false);
            await CommandLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_idle.IsCancellationRequested)
        {
            // RFC 1939 §3: on autologout the server closes the connection without a response and without UPDATE.
            Pop3Log.SessionEnded(_server.Logger, _client, "idle timeout");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or ConnectionClosedException)
        {
            Pop3Log.SessionEnded(_server.Logger, _client, e.Message);
        }
        catch (Exception e)
        {
            Pop3Log.SessionFailed(_server.Logger, _client, e);
        }
        finally
        {
            ClearPassword();
            await CloseMaildropAsync().ConfigureAwait(false); // a dropped connection commits nothing
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _writer.CompleteAsync().ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
            _idle.Dispose();
        }
    }

    private async Task CommandLoopAsync()
    {
        while (true)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            if (_stopRequested)
            {
                _reader.AdvanceTo(result.Buffer.Start);
                _writer.Write(Pop3Replies.ShuttingDown);
                await FlushAsync().ConfigureAwait(false);
                return;
            }
            if (result.IsCanceled)
            {
                _reader.AdvanceTo(result.Buffer.Start);
                continue;
            }
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var next = ProcessCommands(ref reader);
            var leftover = reader.Remaining;
            _reader.AdvanceTo(reader.Position, next == Next.ReadMore ? buffer.End : reader.Position);

            switch (next)
            {
                case Next.ReadMore:
                    if (result.IsCompleted)
                    {
                        // The client closed its side: answer what it sent (it may still read), but no UPDATE (RFC 1939 §6).
                        await FlushAsync().ConfigureAwait(false);
                        return;
                    }
                    break;
                case Next.Login:
                    next = await LoginAsync().ConfigureAwait(false);
                    break;
                case Next.StartTls:
                    if (leftover > 0)
                    {
                        // RFC 2595 §4 / CVE-2011-0411 class: what was pipelined after STLS came in the clear; drop it.
                        Pop3Log.StlsInjection(_server.Logger, _client, leftover);
                    }
                    await FlushAsync().ConfigureAwait(false);
                    if (!await StartTlsAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                    break;
                case Next.SendMessage:
                    next = await SendMessageAsync().ConfigureAwait(false);
                    break;
                case Next.ListAll:
                    await WriteListingAsync(uids: false).ConfigureAwait(false);
                    break;
                case Next.UidlAll:
                    await WriteListingAsync(uids: true).ConfigureAwait(false);
                    break;
                case Next.Quit:
                    await QuitAsync().ConfigureAwait(false);
                    return;
            }
            if (next == Next.Close)
            {
                await FlushAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>
    /// Returns buffered input at once; only when the session would block does it first flush the replies written so far,
    /// so a pipelined batch is answered in one write and nothing waits on an unsent reply.
    /// </summary>
    private async ValueTask<ReadResult> ReadAsync()
    {
        if (_reader.TryRead(out var buffered))
        {
            return buffered;
        }
        if (_writer.UnflushedBytes > 0)
        {
            await FlushAsync().ConfigureAwait(false);
        }
        _idle.CancelAfter(_options.IdleTimeout);
        return await _reader.ReadAsync(_idle.Token).ConfigureAwait(false);
    }

    /// <summary>Flushes under the idle timer too: a client that stops reading a long RETR is logged out like an idle one.</summary>
    private async ValueTask FlushAsync()
    {
        _idle.CancelAfter(_options.IdleTimeout);
        await _writer.FlushAsync(_idle.Token).ConfigureAwait(false);
    }

    /// <summary>Answers every complete line in the buffer; stops early when the next step needs I/O.</summary>
    private Next ProcessCommands(ref SequenceReader<byte> reader)
    {
        while (true)
        {
            // POP3 lines end in CRLF like SMTP's (RFC 1939 §3); the SMTP line framer is reused with POP3's cap.
            var status = _lines.TryReadLine(ref reader, _lineScratch, out var line);
            Next next;
            switch (status)
            {
                case LineStatus.Incomplete:
                    return Next.ReadMore;
                case LineStatus.TooLong:
                    _saslPending = false;
                    next = Error(Pop3Replies.LineTooLong);
                    break;
                case LineStatus.BareCarriageReturn:
                    _saslPending = false;
                    next = Error(Pop3Replies.BareCarriageReturn);
                    break;
                default:
                    // A bare LF ends a command line too: POP3 has no DATA to smuggle into, and telnet users send it.
                    next = _saslPending ? HandleSaslResponse(line) : HandleCommand(line);
                    break;
            }
            if (next != Next.ReadMore)
            {
                return next;
            }
        }
    }

    /// <summary>Counts a client error against the budget and replies; at the limit the session says so and closes.</summary>
    private Next Error(ReadOnlySpan<byte> reply)
    {
        if (++_errors >= _options.MaxBadCommands)
        {
            _writer.Write(Pop3Replies.TooManyErrors);
            return Next.Close;
        }
        _writer.Write(reply);
        return Next.ReadMore;
    }

    private Next Reply(ReadOnlySpan<byte> reply)
    {
        _writer.Write(reply);
        return Next.ReadMore;
    }

    private Next HandleCommand(ReadOnlySpan<byte> line)
    {
        var error = Pop3CommandParser.TryParse(line, out var command);
        if (_state == Pop3State.UserGiven && command.Verb is not (Pop3Verb.Pass or Pop3Verb.User))
        {
            _state = Pop3State.Authorization; // RFC 1939 §7: PASS must follow USER immediately
            _userName = null;
        }
        if (error == Pop3CommandError.UnknownCommand)
        {
            return Error(Pop3Replies.UnknownCommand);
        }
        if (!Pop3StateTable.IsAllowed(_state, command.Verb))
        {
            return Error(Pop3Replies.BadSequence);
        }
        if (error == Pop3CommandError.NoSuchMessage)
        {
            return Reply(Pop3Replies.NoSuchMessage); // a number, just not one of ours: not a protocol error
        }
        if (error != Pop3CommandError.None)
        {
            return Error(Pop3Replies.ForCommandError(error));
        }
        return command.Verb switch
        {
            Pop3Verb.Capa => Reply(_server.Capabilities.For(StlsOffered, AuthAllowed)),
            Pop3Verb.Quit => Next.Quit,
            Pop3Verb.User => HandleUser(line[command.Argument]),
            Pop3Verb.Pass => HandlePass(line[command.Argument]),
            Pop3Verb.Auth => HandleAuth(command, line[command.Argument]),
            Pop3Verb.Stls => HandleStls(),
            Pop3Verb.Stat => HandleStat(),
            Pop3Verb.List => HandleList(command.MessageNumber),
            Pop3Verb.Uidl => HandleUidl(command.MessageNumber),
            Pop3Verb.Retr => HandleRetr(command.MessageNumber, topLines: -1),
            Pop3Verb.Top => HandleRetr(command.MessageNumber, command.Lines),
            Pop3Verb.Dele => HandleDele(command.MessageNumber),
            Pop3Verb.Rset => HandleRset(),
            Pop3Verb.Noop => Reply(Pop3Replies.Ok),
            _ => Error(Pop3Replies.UnknownCommand),
        };
    }

    private Next HandleStls()
    {
        if (_options.Certificate is null)
        {
            return Reply(Pop3Replies.TlsNotAvailable);
        }
        if (_tls is not null)
        {
            return Error(Pop3Replies.AlreadyTls);
        }
        _writer.Write(Pop3Replies.BeginTls);
        return Next.StartTls;
    }

    private async Task<bool> StartTlsAsync()
    {
        // Drop the plaintext pipes (and anything buffered in them) before the handshake.
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        try
        {
            using var handshakeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), _server.Time);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _options.Certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, handshakeTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            Pop3Log.TlsFailed(_server.Logger, _client, e.Message);
            await tls.DisposeAsync().ConfigureAwait(false);
            _stream = Stream.Null;
            (_reader, _writer) = CreatePipes(Stream.Null);
            return false;
        }
        _tls = tls;
        _stream = tls;
        (_reader, _writer) = CreatePipes(tls);
        // RFC 2595 §4: discard what was learnt before TLS, such as the USER argument.
        _state = Pop3State.Authorization;
        _userName = null;
        _saslPending = false;
        return true;
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

    /// <summary>The client closed the connection in the middle of something.</summary>
    private sealed class ConnectionClosedException() : Exception("connection closed by client");

    private void ClearPassword()
    {
        CryptographicOperations.ZeroMemory(_password);
        _passwordLength = 0;
    }
}
