using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>A byte-exact POP3 client for malformed input, pipelining and exact response bodies.</summary>
internal sealed class RawPop3Client : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawPop3Client(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
    }

    public static async Task<RawPop3Client> ConnectAsync(int port, bool implicitTls = false, bool readGreeting = true)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        Stream stream = tcp.GetStream();
        if (implicitTls)
        {
            var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
            await tls.AuthenticateAsClientAsync(RelayFixture.Hostname);
            stream = tls;
        }
        var client = new RawPop3Client(tcp, stream);
        if (readGreeting)
        {
            Assert.StartsWith("+OK", await client.ReadLineAsync());
        }
        return client;
    }

    /// <summary>Connects and logs in with USER/PASS.</summary>
    public static async Task<RawPop3Client> LoginAsync(int port, string user = Pop3Fixture.Alice, string password = Pop3Fixture.AlicePassword)
    {
        var client = await ConnectAsync(port);
        Assert.StartsWith("+OK", await client.CommandAsync("USER " + user));
        Assert.StartsWith("+OK", await client.CommandAsync("PASS " + password));
        return client;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends one line and returns the first line of the answer.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadLineAsync();
    }

    /// <summary>Sends one line and returns the status line and the multi-line body, raw (still dot-stuffed, with the terminator).</summary>
    public async Task<(string Status, byte[] Body)> MultilineCommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        var status = await ReadLineAsync();
        return (status, status.StartsWith("+OK", StringComparison.Ordinal) ? await ReadMultilineAsync() : []);
    }

    /// <summary>Reads one line without its CRLF (Latin-1, so 8-bit octets survive as chars). Throws when the server closes first.</summary>
    public async Task<string> ReadLineAsync(int timeoutSeconds = 10)
    {
        var bytes = await ReadRawLineAsync(timeoutSeconds) ?? throw new IOException("connection closed");
        return Encoding.Latin1.GetString(bytes).TrimEnd('\n').TrimEnd('\r');
    }

    /// <summary>Reads lines up to and including "." CRLF; returns them byte for byte (stuffing and terminator kept).</summary>
    public async Task<byte[]> ReadMultilineAsync(int timeoutSeconds = 30)
    {
        var body = new MemoryStream();
        while (true)
        {
            var line = await ReadRawLineAsync(timeoutSeconds) ?? throw new IOException("connection closed inside a multi-line response");
            body.Write(line);
            if (line.AsSpan().SequenceEqual(".\r\n"u8))
            {
                return body.ToArray();
            }
        }
    }

    /// <summary>True when the server has closed the connection (EOF or reset) within the timeout; data before that is skipped.</summary>
    public async Task<bool> IsClosedAsync(int timeoutSeconds = 10)
    {
        try
        {
            while (await ReadRawLineAsync(timeoutSeconds) is not null)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Reads raw bytes until at least <paramref name="count"/> arrived or EOF; returns how many.</summary>
    public async Task<long> DrainAsync(long count, Stream? copyTo = null)
    {
        long total = 0;
        while (total < count)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await _stream.ReadAsync(_buffer);
                if (_end == 0) break;
            }
            var take = (int)Math.Min(count - total, _end - _start);
            copyTo?.Write(_buffer, _start, take);
            _start += take;
            total += take;
        }
        return total;
    }

    /// <summary>Half-closes: no more input for the server, the client still reads.</summary>
    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    public async Task StartTlsAsync()
    {
        Assert.Equal(_start, _end); // nothing of the plaintext phase may be left unread
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(RelayFixture.Hostname);
        _stream = tls;
    }

    private async Task<byte[]?> ReadRawLineAsync(int timeoutSeconds)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var line = new MemoryStream();
        while (true)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await _stream.ReadAsync(_buffer, timeout.Token);
                if (_end == 0)
                {
                    return line.Length == 0 ? null : throw new IOException("connection closed mid-line");
                }
            }
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            var stop = lf < 0 ? _end : lf + 1;
            line.Write(_buffer, _start, stop - _start);
            _start = stop;
            if (lf >= 0)
            {
                return line.ToArray();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
