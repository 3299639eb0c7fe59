using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Server.Tests;

/// <summary>A byte-exact SMTP client for malformed input, pipelining and smuggling tests.</summary>
internal sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly List<byte> _pending = [];

    private RawSmtpClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawSmtpClient> ConnectAsync(int port, bool readGreeting = true)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var client = new RawSmtpClient(tcp);
        if (readGreeting)
        {
            Assert.StartsWith("220 ", await client.ReadReplyAsync());
        }
        return client;
    }

    /// <summary>Connects and opens a transaction: EHLO, MAIL FROM:&lt;a@example.org&gt;, RCPT TO:&lt;b@localhost&gt;.</summary>
    public static async Task<RawSmtpClient> OpenTransactionAsync(int port)
    {
        var client = await ConnectAsync(port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.org>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@localhost>"));
        return client;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends one command and returns its (possibly multi-line) reply.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one reply: lines up to the first "ddd " line. Throws when the server closes first.</summary>
    public async Task<string> ReadReplyAsync(int timeoutSeconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var reply = new StringBuilder();
        while (true)
        {
            var line = await ReadLineAsync(timeout.Token) ?? throw new IOException($"connection closed; got so far: {reply}");
            reply.Append(line).Append('\n');
            if (line.Length < 4 || line[3] == ' ')
            {
                return reply.ToString().TrimEnd('\n');
            }
        }
    }

    /// <summary>True when the server has closed the connection (EOF) within the timeout.</summary>
    public async Task<bool> IsClosedAsync(int timeoutSeconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            while (true)
            {
                if (await ReadLineAsync(timeout.Token) is null)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async Task StartTlsAsync()
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(RelayFixture.Hostname);
        _stream = tls;
        _pending.Clear();
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Encoding.UTF8.GetString(_pending.GetRange(0, lf).ToArray()).TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                return line;
            }
            var read = await _stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return null;
            }
            _pending.AddRange(buffer.AsSpan(0, read).ToArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
