using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RelayAppliance.Server.Listening;

namespace RelayAppliance.Server.Sink;

/// <summary>
/// `relayd sink`: a measuring SMTP sink in the spirit of Postfix's smtp-sink. Accepts on one endpoint, runs a
/// <see cref="SinkSession"/> per connection, and counts into <see cref="Counters"/>. No spool, no policy.
/// </summary>
public sealed class SinkServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<SinkSession, byte> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private long _messageSequence = -1;
    private long _dumpSequence;

    public SinkServer(SinkOptions options)
    {
        Options = options;
        Counters = new SinkCounters(options.ReplyMix.Count);
        Greeting = Encoding.ASCII.GetBytes($"220 {options.Hostname} ESMTP RelayAppliance sink\r\n");
        Helo = Encoding.ASCII.GetBytes($"250 {options.Hostname}\r\n");
        Ehlo = Encoding.ASCII.GetBytes(
            $"250-{options.Hostname}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n");
    }

    public SinkOptions Options { get; }
    public SinkCounters Counters { get; }
    internal byte[] Greeting { get; }
    internal byte[] Helo { get; }
    internal byte[] Ehlo { get; }

    public IPEndPoint BoundEndPoint => (IPEndPoint)(_listener ?? throw new InvalidOperationException("not started")).LocalEndPoint!;

    /// <summary>Binds and starts accepting; throws SocketException when the endpoint cannot be bound.</summary>
    public void Start()
    {
        if (Options.DumpDirectory is { } dump)
        {
            Directory.CreateDirectory(dump);
        }
        var socket = ListeningSocket.Bind(Options.EndPoint, backlog: 1024);
        _listener = socket;
        _acceptLoop = ListeningSocket.AcceptLoopAsync(socket, _stopping.Token, client => _ = RunConnectionAsync(client));
    }

    /// <summary>The reply-mix draw for the next message: 0, 1, 2, … across all sessions.</summary>
    internal long NextMessageNumber() => Interlocked.Increment(ref _messageSequence);

    /// <summary>A unique dump file name, in arrival order: 00000001.eml, …</summary>
    internal string NextDumpPath() =>
        Path.Combine(Options.DumpDirectory!, Interlocked.Increment(ref _dumpSequence).ToString("D8", System.Globalization.CultureInfo.InvariantCulture) + ".eml");

    private async Task RunConnectionAsync(Socket socket)
    {
        Counters.Connection();
        socket.NoDelay = true;
        var session = new SinkSession(this, socket);
        _sessions.TryAdd(session, 0);
        try
        {
            await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _sessions.TryRemove(session, out _);
            socket.Dispose();
        }
    }

    /// <summary>Stops accepting and cuts open connections (a sink has nothing to finish).</summary>
    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        foreach (var session in _sessions.Keys)
        {
            session.Abort();
        }
        for (var i = 0; i < 200 && !_sessions.IsEmpty; i++)
        {
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
