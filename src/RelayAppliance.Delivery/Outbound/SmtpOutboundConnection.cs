using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RelayAppliance.Protocol.Smtp;

namespace RelayAppliance.Delivery.Outbound;

/// <summary>
/// One outbound SMTP connection on System.IO.Pipelines: greeting, EHLO (HELO fallback), STARTTLS per policy, AUTH
/// PLAIN/LOGIN when credentials are given, then any number of transactions (RSET only after one a refusal left open:
/// a completed transaction needs none, RFC 5321 §3.3), PIPELINING when offered.
/// Refuses (as a 5xx result, not corruption) to send 8-bit or SMTPUTF8 mail to a server that lacks the extension,
/// and messages over the server's SIZE.
/// </summary>
/// <remarks>
/// One transaction at a time (not thread-safe). A command reply 4xx/5xx is a result; a broken connection, a timeout,
/// a malformed or out-of-sequence reply, or a 421 is an <see cref="OutboundProtocolException"/> and leaves
/// <see cref="IsUsable"/> false. Cancelling through the caller's token also leaves the connection unusable.
/// </remarks>
public sealed partial class SmtpOutboundConnection : IAsyncDisposable
{
    private static readonly TimeSpan QuitTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly OutboundOptions _options;
    private readonly string _remoteHostName;
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private ServerCapabilities _capabilities = ServerCapabilities.None;
    private bool _tls;
    private bool _broken;
    private bool _disposed;
    private bool _needsReset;
    private int _transactions;
    // Bytes that followed the last complete reply in the same read (a server must not send ahead, RFC 3207 §4.2).
    private bool _bufferedAfterReply;

    private SmtpOutboundConnection(Socket socket, string remoteHostName, OutboundOptions options)
    {
        _socket = socket;
        _remoteHostName = remoteHostName;
        _options = options;
        _stream = new NetworkStream(socket, ownsSocket: false);
        (_reader, _writer) = CreatePipes(_stream);
    }

    public bool IsTls => _tls;
    /// <summary>False once the connection broke; the pool then discards it.</summary>
    public bool IsUsable => !_broken && !_disposed;
    public int TransactionsSent => _transactions;

    internal ServerCapabilities Capabilities => _capabilities;

    public static async Task<SmtpOutboundConnection> ConnectAsync(
        IPEndPoint endPoint, string remoteHostName, TlsPolicy tls, SmtpCredentials? credentials,
        OutboundOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(options);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new OutboundProtocolException($"Cannot connect to {endPoint}: {Describe(e)}", null, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new SmtpOutboundConnection(socket, remoteHostName, options);
        try
        {
            await connection.OpenSessionAsync(tls, credentials, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>QUIT politely (best effort) and close.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!_broken)
        {
            // RFC 5321 §4.1.1.10: QUIT, and wait (briefly) for the 221 so the server closes first.
            try
            {
                using var timeout = new CancellationTokenSource(QuitTimeout);
                _writer.Write("QUIT\r\n"u8);
                await _writer.FlushAsync(timeout.Token).ConfigureAwait(false);
                await ReadRawReplyAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or OutboundProtocolException or ObjectDisposedException)
            {
            }
        }
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _writer.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    // The writer's segments are what one send() carries when a flush writes them out: 64 KiB, as DotStuffingStream's
    // data blocks, so a 100 KiB body leaves in ~2 sends instead of ~25 (4 KiB segments). Segments are pooled and held
    // only while unflushed, so idle connections do not pay for the size.
    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true)));

    private void WriteCommand(string command)
    {
        // Commands are ASCII, or UTF-8 addresses under SMTPUTF8 (RFC 6531 §3.3).
        var span = _writer.GetSpan(Encoding.UTF8.GetMaxByteCount(command.Length) + 2);
        var written = Encoding.UTF8.GetBytes(command, span);
        span[written++] = (byte)'\r';
        span[written++] = (byte)'\n';
        _writer.Advance(written);
    }

    private async ValueTask FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            var result = await _writer.FlushAsync(cts.Token).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                Fail("The connection was closed while writing");
            }
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            Fail($"Write failed: {Describe(e)}", inner: e);
        }
        catch (OperationCanceledException)
        {
            _broken = true;
            throw;
        }
    }

    /// <summary>Reads one reply within the timeout; a 421 breaks the connection (RFC 5321 §3.8).</summary>
    private async ValueTask<SmtpReply> ReadReplyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (code, lines) = await ReadReplyLinesAsync(timeout, cancellationToken).ConfigureAwait(false);
        return ToReply(code, lines);
    }

    private async ValueTask<(int Code, string[] Lines)> ReadReplyLinesAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        (int Code, string[] Lines) reply = default;
        try
        {
            reply = await ReadReplyLinesAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsTransportFailure(e, cancellationToken))
        {
            Fail(e is OperationCanceledException ? $"No reply within {timeout}" : $"Read failed: {Describe(e)}", inner: e);
        }
        catch (Exception)
        {
            _broken = true;
            throw;
        }
        if (reply.Code == 421)
        {
            Fail("The server is closing the connection", ToReply(reply.Code, reply.Lines));
        }
        return reply;
    }

    private async ValueTask<SmtpReply> ReadRawReplyAsync(CancellationToken cancellationToken)
    {
        var (code, lines) = await ReadReplyLinesAsync(cancellationToken).ConfigureAwait(false);
        return ToReply(code, lines);
    }

    private static SmtpReply ToReply(int code, string[] lines) => new(code, lines.Length == 1 ? lines[0] : string.Join("\r\n", lines));

    private async ValueTask<(int Code, string[] Lines)> ReadReplyLinesAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = Parse(buffer, out var consumed, out var code, out var lines, out var remaining);
            if (status == ReplyStatus.Complete)
            {
                _reader.AdvanceTo(consumed);
                _bufferedAfterReply = remaining;
                return (code, lines);
            }
            if (status == ReplyStatus.Malformed)
            {
                _reader.AdvanceTo(buffer.Start, buffer.End);
                Fail("Malformed reply from the server");
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                Fail("The server closed the connection");
            }
        }

        static ReplyStatus Parse(ReadOnlySequence<byte> buffer, out SequencePosition consumed, out int code, out string[] lines, out bool remaining)
        {
            var reader = new SequenceReader<byte>(buffer);
            var status = SmtpReplyParser.TryParseReply(ref reader, out code, out lines);
            consumed = reader.Position;
            remaining = !reader.End;
            return status;
        }
    }

    /// <summary>I/O errors and our own timeouts; the caller's cancellation is not a transport failure.</summary>
    private static bool IsTransportFailure(Exception e, CancellationToken cancellationToken) =>
        e is IOException or SocketException or ObjectDisposedException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static string Describe(Exception e) => e is OperationCanceledException ? "timed out" : e.Message;

    [DoesNotReturn]
    private void Fail(string message, SmtpReply? reply = null, Exception? inner = null)
    {
        _broken = true;
        var text = reply is { } r ? $"{message} ({_remoteHostName}): {r.Code} {r.Text}" : $"{message} ({_remoteHostName})";
        throw new OutboundProtocolException(text, reply, inner);
    }

    /// <summary>A reply that ends the session attempt, though the connection is still in step (QUIT still works).</summary>
    [DoesNotReturn]
    private static void Refuse(string message, SmtpReply? reply = null) =>
        throw new OutboundProtocolException(reply is { } r ? $"{message}: {r.Code} {r.Text}" : message, reply);
}
