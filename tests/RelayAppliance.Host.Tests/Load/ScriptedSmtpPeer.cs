using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>
/// A tiny SMTP server on 127.0.0.1:0 for load tests: advertises PIPELINING, answers line by line (so pipelined
/// commands work), counts connections and messages, and takes the reply to each final dot (by message number, from 1)
/// and to each RCPT from the test.
/// </summary>
internal sealed class ScriptedSmtpPeer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly List<Task> _sessions = [];
    private int _connections;
    private int _messages;
    private int _dataEnds;

    public ScriptedSmtpPeer(Func<int, string>? dataReply = null, Func<string, string>? rcptReply = null)
    {
        DataReply = dataReply ?? (_ => "250 2.0.0 ok");
        RcptReply = rcptReply ?? (_ => "250 2.1.5 ok");
        _listener.Start(512);
        _accept = AcceptAsync();
    }

    public Func<int, string> DataReply { get; }
    public Func<string, string> RcptReply { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Target => $"127.0.0.1:{Port}";
    public int Connections => Volatile.Read(ref _connections);
    /// <summary>Messages answered with 250 after the final dot.</summary>
    public int Messages => Volatile.Read(ref _messages);
    /// <summary>Final dots seen, whatever the reply.</summary>
    public int DataEnds => Volatile.Read(ref _dataEnds);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                lock (_sessions)
                {
                    _sessions.Add(Task.Run(() => SessionAsync(client)));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
    }

    private async Task SessionAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = false };
        try
        {
            await writer.WriteLineAsync("220 peer.test ESMTP");
            await writer.FlushAsync();
            var inData = false;
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                string? reply;
                if (inData)
                {
                    if (line != ".")
                    {
                        continue;
                    }
                    inData = false;
                    var n = Interlocked.Increment(ref _dataEnds);
                    reply = DataReply(n);
                    if (reply.StartsWith("250", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _messages);
                    }
                }
                else
                {
                    var verb = line.Length >= 4 ? line[..4].ToUpperInvariant() : line;
                    reply = verb switch
                    {
                        "EHLO" => "250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME",
                        "MAIL" or "RSET" => "250 2.0.0 ok",
                        "RCPT" => RcptReply(line),
                        "DATA" => "354 go ahead",
                        "QUIT" => "221 bye",
                        _ => "500 what",
                    };
                    inData = verb == "DATA";
                }
                await writer.WriteLineAsync(reply);
                await writer.FlushAsync();
                if (reply.StartsWith("221", StringComparison.Ordinal))
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
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
