using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Text;
using System.Text.Unicode;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Listening;
using RelayAppliance.Server.Logging;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Transport;
using RelayAppliance.Spool;

namespace RelayAppliance.Server.Smtp;

/// <summary>
/// One SMTP connection. Commands are parsed straight from the pipe's buffer; every complete line in a read is
/// answered in order into the output pipe, which is flushed only when the session needs more input (PIPELINING,
/// RFC 2920). DATA and BDAT stream into the spool's body writer chunk by chunk, so memory per session is bounded.
/// </summary>
internal sealed partial class SmtpSession : IHostedSession
{
    private enum Next : byte { ReadMore, Data, Bdat, StartTls, VerifyAuth, Quit, Close }
    private enum AuthStep : byte { None, PlainResponse, LoginUser, LoginPassword }

    private const int ReceiveBufferSize = 16 * 1024;

    private readonly SmtpServer _server;
    private readonly SmtpServerSettings _settings; // as when accepted: a reload does not change an open session
    private readonly SmtpServerOptions _options;
    private readonly Socket? _socket; // null for a session over an in-memory transport (benchmarks)
    private readonly IPAddress _clientAddress;
    private readonly string _client;
    private readonly bool _implicitTls;
    private readonly bool _trustedClient;
    private readonly EnvelopeBuilder _envelope = new();
    private readonly BodyWriter _body;
    private readonly byte[] _lineScratch; // rented for the session's lifetime: a line spanning two buffer segments
    private readonly CancellationTokenSource _idle;

    private Stream? _stream; // the TLS stream once STARTTLS (or implicit TLS) has run; plaintext talks to the socket
    private PipeReader _reader;
    private PipeWriter _writer;
    private SmtpState _state = SmtpState.Connected;
    private bool _esmtp;
    private string _helo = "";
    private SslStream? _tls;
    private string? _authUser;
    private int _errors;
    private CommandLineFramer _lines; // a mutable struct: used in place, never copied
    private bool _stopRequested;

    // The current transaction.
    private bool _smtpUtf8;
    private bool _eightBit;
    private bool _transactionFailed; // a BDAT chunk failed: the rest is read and discarded until LAST
    private long _bdatSize;
    private long _declaredSize;
    private bool _bdatLast;

    // AUTH exchange in progress.
    private AuthStep _authStep;
    private string _authCandidate = "";
    private byte[]? _authPassword; // allocated by the first AUTH: most sessions never authenticate
    private int _authPasswordLength;

    public SmtpSession(SmtpServer server, Socket socket, IPAddress clientAddress, bool implicitTls)
        : this(server, server.Settings, socket, clientAddress, implicitTls)
    {
    }

    public SmtpSession(SmtpServer server, SmtpServerSettings settings, Socket socket, IPAddress clientAddress, bool implicitTls)
        : this(server, settings, socket, transport: null, clientAddress, implicitTls)
    {
    }

    /// <summary>A session over an in-memory transport (no socket, no STARTTLS): the benchmarks' embedded session.</summary>
    internal SmtpSession(SmtpServer server, IDuplexPipe transport, IPAddress clientAddress)
        : this(server, server.Settings, socket: null, transport, clientAddress, implicitTls: false)
    {
    }

    private SmtpSession(SmtpServer server, SmtpServerSettings settings, Socket? socket, IDuplexPipe? transport, IPAddress clientAddress, bool implicitTls)
    {
        _server = server;
        _settings = settings;
        _options = settings.Options;
        _lines = new CommandLineFramer(_options.MaxCommandLine);
        _socket = socket;
        _clientAddress = clientAddress;
        _client = clientAddress.ToString();
        _implicitTls = implicitTls;
        _trustedClient = settings.Policy.IsTrusted(clientAddress);
        _body = server.Spool.CreateBodyWriter();
        _lineScratch = ArrayPool<byte>.Shared.Rent(Math.Max(_options.MaxCommandLine, 1024));
        _idle = new CancellationTokenSource(Timeout.InfiniteTimeSpan, server.Time);
        (_reader, _writer) = transport is null ? CreateSocketPipes(socket!) : (transport.Input, transport.Output);
    }

    private bool MayRelay => _trustedClient || _authUser is not null;
    private bool AuthOffered => _tls is not null || _options.AllowPlaintextAuth;

    /// <summary>At shutdown: a session between transactions says 421 and closes; one inside DATA finishes it first.</summary>
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
            _socket?.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket?.Close();
    }

    public async Task RunAsync()
    {
        try
        {
            if (_implicitTls && !await StartTlsAsync().ConfigureAwait(false))
            {
                return;
            }
            _envelope.SetSession(_client, _helo, _authUser, _tls is not null);
            _writer.Write(_settings.Replies.Greeting);
            await _writer.FlushAsync().ConfigureAwait(false);
            await CommandLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_idle.IsCancellationRequested)
        {
            await TryWriteFinalAsync(SmtpReplies.IdleTimeout.ToArray()).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or ConnectionClosedException)
        {
            Log.SessionEnded(_server.Logger, _client, e.Message);
        }
        catch (Exception e)
        {
            Log.SessionFailed(_server.Logger, _client, e);
        }
        finally
        {
            _body.Reset(); // a connection lost mid-DATA leaves nothing queued
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _writer.CompleteAsync().ConfigureAwait(false);
            if (_stream is not null)
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
            _idle.Dispose();
            _envelope.Release();
            ArrayPool<byte>.Shared.Return(_lineScratch);
        }
    }

    private async Task CommandLoopAsync()
    {
        while (true)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || _stopRequested && _state < SmtpState.MailGiven)
            {
                _reader.AdvanceTo(result.Buffer.Start); // keep any input for the transaction still in progress
                if (_stopRequested && _state < SmtpState.MailGiven)
                {
                    _writer.Write(SmtpReplies.ShuttingDown);
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
                }
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
                        await _writer.FlushAsync().ConfigureAwait(false);
                        return; // client went away
                    }
                    break;
                case Next.Data:
                    await ReceiveDataAsync().ConfigureAwait(false);
                    break;
                case Next.Bdat:
                    await ReceiveBdatAsync().ConfigureAwait(false);
                    break;
                case Next.StartTls:
                    if (leftover > 0)
                    {
                        // CVE-2011-0411 class: anything pipelined after STARTTLS was sent in the clear and must not run.
                        Log.StartTlsInjection(_server.Logger, _client, leftover);
                    }
                    await _writer.FlushAsync().ConfigureAwait(false);
                    if (!await StartTlsAsync().ConfigureAwait(false))
                    {
                        return;
                    }
                    break;
                case Next.VerifyAuth:
                    await VerifyAuthAsync().ConfigureAwait(false);
                    break;
                case Next.Quit:
                    _writer.Write(SmtpReplies.ServiceClosing);
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
                case Next.Close:
                    await _writer.FlushAsync().ConfigureAwait(false);
                    return;
            }
            if (_stopRequested && _state < SmtpState.MailGiven)
            {
                _writer.Write(SmtpReplies.ShuttingDown);
                await _writer.FlushAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>
    /// Returns buffered input at once; only when the session would block does it first flush the replies written
    /// so far, so a pipelined burst is answered in one write (RFC 2920 §3.1) and nothing waits on an unsent reply.
    /// </summary>
    /// <remarks>
    /// Not an async method: the caller's own state machine does the waiting. An async method here needed a state
    /// machine box each time it waited (up to four times per message), and with tens of sessions waiting at once the
    /// pooling builder's few cached boxes did not cover them: ~1 % of all CPU went to allocating them (perf/RESULTS.md
    /// item 18). The flush of a reply to loopback or a healthy client completes at once.
    /// </remarks>
    private ValueTask<ReadResult> ReadAsync()
    {
        if (_reader.TryRead(out var buffered))
        {
            return new ValueTask<ReadResult>(buffered);
        }
        if (_writer.UnflushedBytes > 0)
        {
            var flush = _writer.FlushAsync();
            if (!flush.IsCompletedSuccessfully)
            {
                return FlushThenReadAsync(flush);
            }
            _ = flush.Result; // consumes the flush's (possibly pooled) source
        }
        return WaitForInput();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> FlushThenReadAsync(ValueTask<FlushResult> flush)
    {
        await flush.ConfigureAwait(false);
        return await WaitForInput().ConfigureAwait(false);
    }

    private ValueTask<ReadResult> WaitForInput()
    {
        _idle.CancelAfter(_options.IdleTimeout);
        return _reader.ReadAsync(_idle.Token);
    }

    /// <summary>Answers every complete line in the buffer; stops early when the next step needs I/O.</summary>
    private Next ProcessCommands(ref SequenceReader<byte> reader)
    {
        while (true)
        {
            var status = _lines.TryReadLine(ref reader, _lineScratch, out var line);
            Next next;
            switch (status)
            {
                case LineStatus.Incomplete:
                    return Next.ReadMore;
                case LineStatus.TooLong:
                    next = Error(SmtpReplies.LineTooLong);
                    break;
                case LineStatus.BareLineFeed:
                case LineStatus.BareCarriageReturn:
                    next = Error(SmtpReplies.BareLineEndingInCommand);
                    break;
                default:
                    next = _authStep == AuthStep.None ? HandleCommand(line) : HandleAuthResponse(line);
                    break;
            }
            if (next != Next.ReadMore)
            {
                return next;
            }
        }
    }

    /// <summary>Counts a client error against the budget (Postfix smtpd_hard_error_limit) and replies.</summary>
    private Next Error(ReadOnlySpan<byte> reply)
    {
        if (++_errors >= _options.MaxBadCommands)
        {
            _writer.Write(SmtpReplies.TooManyErrors);
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
        var verb = SmtpCommandParser.ParseVerb(line, out var arguments);
        if (verb == SmtpVerb.Unknown)
        {
            return Error(SmtpReplies.CommandUnrecognized);
        }
        if (verb == SmtpVerb.Bdat)
        {
            return HandleBdat(arguments); // must read the chunk even when the command is out of sequence
        }
        if (!SmtpStateTable.IsAllowed(_state, verb))
        {
            return Error(OutOfSequenceReply(verb));
        }
        return verb switch
        {
            SmtpVerb.Ehlo => HandleHelo(arguments, esmtp: true),
            SmtpVerb.Helo => HandleHelo(arguments, esmtp: false),
            SmtpVerb.Mail => HandleMail(arguments),
            SmtpVerb.Rcpt => HandleRcpt(arguments),
            SmtpVerb.Data => arguments.IsEmpty ? HandleData() : Error(SmtpReplies.SyntaxErrorInArguments),
            SmtpVerb.Rset => HandleRset(),
            SmtpVerb.Noop => Reply(SmtpReplies.Ok),
            SmtpVerb.Quit => Next.Quit,
            SmtpVerb.Vrfy => Reply(SmtpReplies.CannotVerify),
            SmtpVerb.Expn => Reply(SmtpReplies.ExpnNotImplemented),
            SmtpVerb.Help => Reply(SmtpReplies.Help),
            SmtpVerb.StartTls => HandleStartTls(arguments),
            SmtpVerb.Auth => HandleAuth(arguments),
            _ => Error(SmtpReplies.CommandUnrecognized),
        };
    }

    private ReadOnlySpan<byte> OutOfSequenceReply(SmtpVerb verb) => verb switch
    {
        SmtpVerb.Mail when _state == SmtpState.Connected => SmtpReplies.HeloFirst,
        SmtpVerb.Mail => SmtpReplies.NestedMail,
        SmtpVerb.Data when _state == SmtpState.MailGiven => SmtpReplies.NoValidRecipients,
        _ => SmtpReplies.BadSequence,
    };

    private Next HandleHelo(ReadOnlySpan<byte> arguments, bool esmtp)
    {
        if (SmtpCommandParser.TryParseHelo(arguments, out var domainRange) != SmtpArgumentError.None)
        {
            return Error(SmtpReplies.SyntaxErrorInArguments);
        }
        var domain = arguments[domainRange];
        if (!Ascii.Equals(domain, _helo))
        {
            _helo = Encoding.ASCII.GetString(domain); // once per session in practice
            _envelope.SetSession(_client, _helo, _authUser, _tls is not null);
        }
        _esmtp = esmtp;
        ResetTransaction();
        _state = SmtpState.Identified;
        if (!esmtp)
        {
            return Reply(_settings.Replies.Helo);
        }
        return Reply(_tls is null ? _settings.Replies.EhloPlain : _settings.Replies.EhloTls);
    }

    private Next HandleMail(ReadOnlySpan<byte> arguments)
    {
        var error = SmtpCommandParser.TryParseMailFrom(arguments, out var mail);
        if (error != SmtpArgumentError.None)
        {
            return Error(SmtpReplies.ForArgumentError(error));
        }
        if (mail.DeclaredSize > _options.MaxMessageSize)
        {
            return Reply(SmtpReplies.MessageTooBig);
        }
        switch (_server.Spool.Health)
        {
            case SpoolHealth.LowDiskSpace:
                return Reply(SmtpReplies.InsufficientStorage);
            case SpoolHealth.Failed:
                return Reply(SmtpReplies.LocalError);
        }
        _smtpUtf8 = mail.SmtpUtf8;
        _eightBit = mail.Body == BodyType.EightBitMime;
        _declaredSize = mail.DeclaredSize;
        _envelope.Reset();
        _envelope.SetSender(mail.IsNullPath ? default : arguments[mail.Address], _smtpUtf8, _eightBit);
        _state = SmtpState.MailGiven;
        return Reply(SmtpReplies.SenderOk);
    }

    private Next HandleRcpt(ReadOnlySpan<byte> arguments)
    {
        var error = SmtpCommandParser.TryParseRcptTo(arguments, _smtpUtf8, out var rcpt);
        if (error != SmtpArgumentError.None)
        {
            return Error(SmtpReplies.ForArgumentError(error));
        }
        if (_envelope.RecipientCount >= _options.MaxRecipients)
        {
            return Reply(SmtpReplies.TooManyRecipients);
        }
        var domain = arguments[rcpt.Domain];
        RecipientDecision decision;
        if (domain.IsEmpty)
        {
            decision = RecipientDecision.Local; // <Postmaster> (RFC 5321 §4.5.1) is always accepted
        }
        else
        {
            decision = _settings.Policy.Decide(arguments[rcpt.LocalPart], domain, MayRelay);
        }
        if (decision == RecipientDecision.Denied)
        {
            Log.RelayDenied(_server.Logger, _client);
            return Error(SmtpReplies.RelayAccessDenied);
        }
        if (decision == RecipientDecision.Local && _settings.Mailboxes is { } mailboxes)
        {
            // Only local recipients pay for the string: the relay path stays allocation-free.
            switch (mailboxes.Check(Encoding.UTF8.GetString(arguments[rcpt.Address]), _declaredSize))
            {
                case LocalRecipientVerdict.Unknown:
                    return Error(SmtpReplies.NoSuchUser);
                case LocalRecipientVerdict.MailboxFull:
                    return Reply(SmtpReplies.MailboxFull);
                case LocalRecipientVerdict.TooLarge:
                    return Reply(SmtpReplies.ExceedsMailboxQuota);
            }
        }
        _envelope.AddRecipient(arguments[rcpt.Address], decision == RecipientDecision.Local ? RecipientRoute.Local : RecipientRoute.Remote);
        _state = SmtpState.RecipientGiven;
        return Reply(SmtpReplies.RecipientOk);
    }

    private Next HandleRset()
    {
        ResetTransaction();
        if (_state != SmtpState.Connected)
        {
            _state = SmtpState.Identified;
        }
        return Reply(SmtpReplies.Ok);
    }

    private void ResetTransaction()
    {
        _envelope.Reset();
        _body.Reset();
        _smtpUtf8 = false;
        _eightBit = false;
        _transactionFailed = false;
        if (_state > SmtpState.Identified)
        {
            _state = SmtpState.Identified;
        }
    }

    private Next HandleData()
    {
        _writer.Write(SmtpReplies.StartMailInput);
        return Next.Data;
    }

    private Next HandleBdat(ReadOnlySpan<byte> arguments)
    {
        if (SmtpCommandParser.TryParseBdat(arguments, out _bdatSize, out _bdatLast) != SmtpArgumentError.None)
        {
            // Without a chunk size we cannot tell where the next command starts: the stream is lost.
            _writer.Write(SmtpReplies.SyntaxErrorInArguments);
            return Next.Close;
        }
        if (!SmtpStateTable.IsAllowed(_state, SmtpVerb.Bdat))
        {
            _transactionFailed = true;
            _errors++;
        }
        return Next.Bdat;
    }

    private Next HandleStartTls(ReadOnlySpan<byte> arguments)
    {
        if (!arguments.IsEmpty)
        {
            return Error(SmtpReplies.SyntaxErrorInArguments);
        }
        if (_options.Certificate is null || _socket is null) // no socket: the benchmarks' in-memory session
        {
            return Reply(SmtpReplies.TlsNotAvailable);
        }
        if (_tls is not null)
        {
            return Error(SmtpReplies.BadSequence);
        }
        _writer.Write(SmtpReplies.ReadyToStartTls);
        return Next.StartTls;
    }

    private async Task<bool> StartTlsAsync()
    {
        // Drop the plaintext pipes (and anything buffered in them) before the handshake.
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(new NetworkStream(_socket!, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            using var handshakeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), _server.Time);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                // The newest certificate (a reload may have renewed it); the session's own if the reload removed TLS.
                ServerCertificate = _server.Settings.Options.Certificate ?? _options.Certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, handshakeTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            Log.TlsFailed(_server.Logger, _client, e.Message);
            await tls.DisposeAsync().ConfigureAwait(false);
            (_reader, _writer) = CreatePipes(Stream.Null);
            return false;
        }
        _tls = tls;
        _stream = tls;
        (_reader, _writer) = CreatePipes(tls);
        // RFC 3207 §4.2: forget everything learnt before the handshake.
        _state = SmtpState.Connected;
        _helo = "";
        _esmtp = false;
        _authUser = null;
        ResetTransaction();
        _envelope.SetSession(_client, _helo, _authUser, tls: true);
        return true;
    }

    // 16 KiB reads: a 100 KiB DATA takes ~7 receive calls instead of ~25 (each costs most in the kernel, and more on a
    // VM). A plaintext session holds one such buffer from its first read to its end (t-memory: 1000 idle sessions
    // under 150 MB).
    private static (PipeReader, PipeWriter) CreateSocketPipes(Socket socket) =>
        (new SocketPipeReader(socket, ReceiveBufferSize), new SocketPipeWriter(socket));

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReceiveBufferSize, minimumReadSize: 1024, leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

    private async ValueTask TryWriteFinalAsync(byte[] reply)
    {
        try
        {
            _writer.Write(reply);
            await _writer.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>The client closed the connection in the middle of something.</summary>
    private sealed class ConnectionClosedException() : Exception("connection closed by client");
}
