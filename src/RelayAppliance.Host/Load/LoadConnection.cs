using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace RelayAppliance.Host.Load;

/// <summary>A connection-level failure: the session is gone (refused, reset, timeout, 421, malformed reply).</summary>
internal sealed class LoadConnectionException(string errorClass, Exception? inner = null) : Exception(errorClass, inner)
{
    /// <summary>The key under which the error is counted, e.g. "refused", "reset", "timeout", "421".</summary>
    public string ErrorClass { get; } = errorClass;
}

/// <summary>
/// A lean SMTP client for load: raw <see cref="Socket"/> writes of pre-built buffers, replies framed from a
/// <see cref="PipeReader"/> by code only (no strings). One transaction at a time. A 4xx/5xx command reply is a result
/// (the session goes on after RSET); anything that breaks the session throws <see cref="LoadConnectionException"/>.
/// </summary>
internal sealed class LoadConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly LoadMessage _message;
    // Replaced once by STARTTLS: reads then come through the TLS stream.
    private PipeReader _reader;
    // Null on the plaintext fast path (raw socket writes); with --starttls every write goes through it.
    private SslStream? _tls;
    private bool _pipelining;

    private LoadConnection(Socket socket, LoadMessage message)
    {
        _socket = socket;
        _message = message;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = CreateReader(_stream);
    }

    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true));

    public bool ServerPipelining => _pipelining;

    /// <summary>
    /// Connects, reads the greeting and says EHLO; then STARTTLS and AUTH when asked. Records connect, greeting and
    /// tls latency. A refused STARTTLS or AUTH is a connection failure counted by its code (535 for a bad password).
    /// </summary>
    public static async Task<LoadConnection> OpenAsync(LoadOptions options, LoadMessage message, LoadStatistics stats, CancellationToken cancellationToken)
    {
        var endPoint = options.EndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var start = Stopwatch.GetTimestamp();
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new LoadConnectionException(e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "refused",
                SocketError.TimedOut => "timeout",
                _ => "connect-" + e.SocketErrorCode.ToString().ToLowerInvariant(),
            }, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connected = Stopwatch.GetTimestamp();
        stats.Connect.Record(start, connected);
        var connection = new LoadConnection(socket, message);
        try
        {
            var greeting = await connection.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            stats.Greeting.Record(connected, Stopwatch.GetTimestamp());
            if (greeting != 220)
            {
                throw new LoadConnectionException(greeting.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            await connection.SendAsync(message.Ehlo, cancellationToken).ConfigureAwait(false);
            var ehlo = await connection.ReadReplyAsync(cancellationToken, detectPipelining: true).ConfigureAwait(false);
            if (ehlo != 250)
            {
                throw new LoadConnectionException(ehlo.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            if (options.StartTls)
            {
                await connection.StartTlsAsync(options, stats, cancellationToken).ConfigureAwait(false);
            }
            if (message.AuthPlain is { } auth)
            {
                await connection.SendAsync(auth, cancellationToken).ConfigureAwait(false);
                var authReply = await connection.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                if (authReply != 235)
                {
                    throw new LoadConnectionException(authReply.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // RFC 3207: STARTTLS, 220, the handshake, then EHLO again (the server forgot everything, PIPELINING included).
    private async ValueTask StartTlsAsync(LoadOptions options, LoadStatistics stats, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await SendAsync(LoadMessage.StartTls, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (reply != 220)
        {
            throw new LoadConnectionException(reply.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        await _reader.CompleteAsync().ConfigureAwait(false);
        _tls = new SslStream(_stream, leaveInnerStreamOpen: true);
        try
        {
            await _tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = options.TargetHost,
                // A load tool usually targets a test server with a self-signed certificate; --tls-verify opts in.
                RemoteCertificateValidationCallback = options.TlsVerify ? null : static (_, _, _, _) => true,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationException e)
        {
            throw new LoadConnectionException("tls-handshake", e);
        }
        catch (IOException e)
        {
            throw new LoadConnectionException("reset", e);
        }
        _reader = CreateReader(_tls);
        stats.Tls.Record(start, Stopwatch.GetTimestamp());
        _pipelining = false;
        await SendAsync(_message.Ehlo, cancellationToken).ConfigureAwait(false);
        var ehlo = await ReadReplyAsync(cancellationToken, detectPipelining: true).ConfigureAwait(false);
        if (ehlo != 250)
        {
            throw new LoadConnectionException(ehlo.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// One transaction. Returns 250 when the message was accepted, otherwise the first refusal code (the refusal of
    /// MAIL, of every RCPT, of DATA, or the reply to the final dot). Refused RCPTs are reported through
    /// <paramref name="stats"/>; a partly refused message still counts as accepted when the final reply is 250.
    /// </summary>
    public async ValueTask<int> SendMessageAsync(bool pipelining, LoadStatistics stats, CancellationToken cancellationToken)
    {
        int mail, data;
        var accepted = 0;
        var firstRefusal = 0;
        if (pipelining && _pipelining)
        {
            await SendAsync(_message.Envelope, cancellationToken).ConfigureAwait(false);
            mail = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < _message.RecipientCount; i++)
            {
                var rcpt = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                Tally(rcpt, ref accepted, ref firstRefusal, stats);
            }
            data = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (mail != 250)
            {
                firstRefusal = mail;
            }
        }
        else
        {
            await SendAsync(_message.MailFrom, cancellationToken).ConfigureAwait(false);
            mail = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (mail != 250)
            {
                await ResetAsync(cancellationToken).ConfigureAwait(false);
                return mail;
            }
            for (var i = 0; i < _message.RecipientCount; i++)
            {
                await SendAsync(_message.Rcpt(i), cancellationToken).ConfigureAwait(false);
                var rcpt = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                Tally(rcpt, ref accepted, ref firstRefusal, stats);
            }
            if (accepted == 0)
            {
                await ResetAsync(cancellationToken).ConfigureAwait(false);
                return firstRefusal;
            }
            await SendAsync(LoadMessage.Data, cancellationToken).ConfigureAwait(false);
            data = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        }
        if (data != 354)
        {
            await ResetAsync(cancellationToken).ConfigureAwait(false);
            return firstRefusal != 0 && accepted == 0 ? firstRefusal : data;
        }
        await SendAsync(_message.NextBody(), cancellationToken).ConfigureAwait(false);
        var dotSent = Stopwatch.GetTimestamp();
        var final = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        stats.TimeTo250.Record(dotSent, Stopwatch.GetTimestamp());
        return final;
    }

    private static void Tally(int rcpt, ref int accepted, ref int firstRefusal, LoadStatistics stats)
    {
        if (rcpt is 250 or 251)
        {
            accepted++;
            return;
        }
        stats.CountRecipientRefusal(rcpt);
        if (firstRefusal == 0)
        {
            firstRefusal = rcpt;
        }
    }

    private async ValueTask ResetAsync(CancellationToken cancellationToken)
    {
        await SendAsync(LoadMessage.Rset, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (reply != 250)
        {
            throw new LoadConnectionException(reply.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    public async ValueTask QuitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(LoadMessage.Quit, cancellationToken).ConfigureAwait(false);
            await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (LoadConnectionException)
        {
            // The server hung up first; nothing to count, the messages are done.
        }
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (_tls is not null)
        {
            await SendTlsAsync(bytes, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            // On a stream socket SendAsync completes once every byte is queued to the kernel.
            await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new LoadConnectionException(e.SocketErrorCode == SocketError.ConnectionReset ? "reset" : "send-" + e.SocketErrorCode.ToString().ToLowerInvariant(), e);
        }
        catch (ObjectDisposedException e)
        {
            throw new LoadConnectionException("reset", e);
        }
    }

    private async ValueTask SendTlsAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            await _tls!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new LoadConnectionException("reset", e);
        }
    }

    private async ValueTask<int> ReadReplyAsync(CancellationToken cancellationToken, bool detectPipelining = false)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new LoadConnectionException("reset", e);
            }
            var buffer = result.Buffer;
            var status = TryParseReply(ref buffer, out var code, detectPipelining ? this : null);
            if (status == Parsed.Complete)
            {
                _reader.AdvanceTo(buffer.Start);
                if (code == 421)
                {
                    throw new LoadConnectionException("421");
                }
                return code;
            }
            if (status == Parsed.Malformed)
            {
                throw new LoadConnectionException("malformed-reply");
            }
            if (result.IsCompleted)
            {
                throw new LoadConnectionException("reset");
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private enum Parsed { Incomplete, Complete, Malformed }

    // RFC 5321 §4.2: *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF. Consumes nothing unless
    // the whole reply is buffered. Only the code is read; with a connection given, EHLO lines are checked for PIPELINING.
    private static Parsed TryParseReply(ref ReadOnlySequence<byte> buffer, out int code, LoadConnection? ehlo)
    {
        code = 0;
        var reader = new SequenceReader<byte>(buffer);
        Span<byte> head = stackalloc byte[16];
        while (reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
        {
            if (line.Length < 3 || line.Length > 4096)
            {
                return Parsed.Malformed;
            }
            var length = (int)Math.Min(line.Length, head.Length);
            line.Slice(0, length).CopyTo(head);
            if (!char.IsAsciiDigit((char)head[0]) || !char.IsAsciiDigit((char)head[1]) || !char.IsAsciiDigit((char)head[2]))
            {
                return Parsed.Malformed;
            }
            var lineCode = ((head[0] - '0') * 100) + ((head[1] - '0') * 10) + (head[2] - '0');
            if (code != 0 && lineCode != code)
            {
                return Parsed.Malformed;
            }
            code = lineCode;
            if (ehlo is not null && length >= 14 && System.Text.Ascii.EqualsIgnoreCase(head[4..14], "PIPELINING"u8))
            {
                ehlo._pipelining = true;
            }
            if (length == 3 || head[3] != (byte)'-')
            {
                buffer = buffer.Slice(reader.Position);
                return Parsed.Complete;
            }
        }
        return reader.Remaining > 4096 ? Parsed.Malformed : Parsed.Incomplete;
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }
}
