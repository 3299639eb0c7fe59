using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Delivery.Tests.Outbound;

/// <summary>
/// A scripted SMTP peer on 127.0.0.1:0 (or another loopback address and port) for edge cases. <see cref="Respond"/>
/// maps a command line to a reply (null: the default below); the reply "&lt;close&gt;" closes the connection and
/// "&lt;stall&gt;" never answers.
/// </summary>
internal sealed class FakeSmtpServer : IAsyncDisposable
{
    public const string Close = "<close>";
    public const string Stall = "<stall>";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accept;

    public FakeSmtpServer(params string[] extensions)
        : this(IPAddress.Loopback, 0, extensions)
    {
    }

    /// <summary>On 127.0.0.x and a given port: MX hosts share one port (the scheduler's MxPort).</summary>
    public FakeSmtpServer(IPAddress address, int port, params string[] extensions)
    {
        Extensions = extensions;
        _listener = new TcpListener(address, port);
        _listener.Start();
        _accept = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;
    /// <summary>Read at each connection: a test can bring a failing site back.</summary>
    public string Greeting { get; set; } = "220 fake.test ESMTP";
    public string[] Extensions { get; }
    public Func<string, string?> Respond { get; init; } = _ => null;
    /// <summary>Reply to the final dot; "&lt;close&gt;"/"&lt;stall&gt;" work here too.</summary>
    public string DataEndReply { get; init; } = "250 2.0.0 Ok";

    public ConcurrentQueue<string> Commands { get; } = new();
    public ConcurrentQueue<byte[]> Messages { get; } = new();
    public int Connections;
    /// <summary>Sessions open right now, and the most that were ever open at once.</summary>
    public int Active, MaxActive;
    /// <summary>Sessions wait for this before the greeting: a slow site that holds its connections.</summary>
    public Task HoldGreeting { get; set; } = Task.CompletedTask;
    /// <summary>Set when a command arrived before the reply to the previous one was sent (RFC 2920 pipelining).</summary>
    public volatile bool SawPipelinedCommands;

    public static readonly string[] Full = ["PIPELINING", "SIZE 100000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"];

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref Connections);
            lock (_sessions)
            {
                _sessions.Add(Task.Run(() => SessionAsync(socket)));
            }
        }
    }

    private async Task SessionAsync(Socket socket)
    {
        using var _ = socket;
        await using var stream = new NetworkStream(socket);
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        var active = Interlocked.Increment(ref Active);
        for (var max = Volatile.Read(ref MaxActive); active > max; max = Volatile.Read(ref MaxActive))
        {
            Interlocked.CompareExchange(ref MaxActive, active, max);
        }
        try
        {
            await HoldGreeting.WaitAsync(_stop.Token);
            if (!await ReplyAsync(stream, Greeting))
            {
                return;
            }
            var inData = false;
            while (true)
            {
                // Frame one line (or, in DATA, the whole body up to CRLF.CRLF).
                int end;
                while ((end = inData ? IndexOf(buffer, "\r\n.\r\n"u8, fromStart: true) : IndexOf(buffer, "\r\n"u8, fromStart: false)) < 0)
                {
                    var n = await stream.ReadAsync(chunk, _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }
                    buffer.AddRange(chunk.AsSpan(0, n));
                }

                string reply;
                if (inData)
                {
                    var length = end == 0 && buffer.Count >= 3 && buffer[0] == '.' ? 0 : end + 2;
                    Messages.Enqueue(buffer.GetRange(0, length).ToArray());
                    buffer.RemoveRange(0, length == 0 ? 3 : end + 5);
                    inData = false;
                    reply = DataEndReply;
                }
                else
                {
                    var line = Encoding.UTF8.GetString(buffer.GetRange(0, end).ToArray());
                    buffer.RemoveRange(0, end + 2);
                    Commands.Enqueue(line);
                    if (buffer.Count > 0)
                    {
                        SawPipelinedCommands = true;
                    }
                    reply = Respond(line) ?? Default(line);
                    inData = reply.StartsWith("354", StringComparison.Ordinal);
                }
                if (!await ReplyAsync(stream, reply) || reply.StartsWith("221", StringComparison.Ordinal))
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref Active);
        }
    }

    private string Default(string line)
    {
        var verb = line.Split(' ')[0].ToUpperInvariant();
        return verb switch
        {
            "EHLO" => string.Join("\r\n", new[] { "fake.test" }.Concat(Extensions).Select((l, i) => (i == Extensions.Length ? "250 " : "250-") + l)),
            "HELO" => "250 fake.test",
            "MAIL" => "250 2.1.0 Ok",
            "RCPT" => "250 2.1.5 Ok",
            "DATA" => "354 End data with <CR><LF>.<CR><LF>",
            "RSET" => "250 2.0.0 Ok",
            "QUIT" => "221 2.0.0 Bye",
            _ => "502 5.5.2 Command not recognized",
        };
    }

    private async Task<bool> ReplyAsync(NetworkStream stream, string reply)
    {
        if (reply == Close)
        {
            return false;
        }
        if (reply == Stall)
        {
            await Task.Delay(Timeout.Infinite, _stop.Token);
        }
        await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\r\n"), _stop.Token);
        return true;
    }

    // In DATA the body may be empty: then the terminator is ".\r\n" at the very start.
    private static int IndexOf(List<byte> buffer, ReadOnlySpan<byte> needle, bool fromStart)
    {
        var span = buffer.ToArray().AsSpan();
        if (fromStart && span.StartsWith(".\r\n"u8))
        {
            return 0;
        }
        return span.IndexOf(needle);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }
        await Task.WhenAll(sessions);
        _stop.Dispose();
    }
}
