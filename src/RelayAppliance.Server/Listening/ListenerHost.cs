using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Listening;

/// <summary>A connection's session as the listener host drives it.</summary>
internal interface IHostedSession
{
    Task RunAsync();
    /// <summary>Finish what is in progress (a transaction, a QUIT commit), then close.</summary>
    void RequestStop();
    /// <summary>Close now; the session unwinds as its reads fail.</summary>
    void Abort();
}

/// <summary>What a protocol server decides and reports; the host does the rest.</summary>
internal interface IListenerOwner<TSession> where TSession : class, IHostedSession
{
    /// <summary>
    /// A new connection from <paramref name="client"/>, counted in <paramref name="connections"/> (all open ones) and
    /// <paramref name="fromClient"/> (this address's). Returns its session, or null to refuse it (the owner logs why).
    /// </summary>
    TSession? Admit(Socket socket, IPAddress client, bool implicitTls, int connections, int fromClient);

    /// <summary>Sent before closing a refused plaintext connection.</summary>
    ReadOnlyMemory<byte> RefusalReply { get; }

    void Listening(EndPoint endPoint, bool implicitTls);
    void Stopping(int openSessions);
}

/// <summary>
/// Binds endpoints, accepts connections, counts them (in total and per client address) and runs one session per
/// connection until stopped. Shared by the SMTP and POP3 servers, which differ only in their sessions and limits.
/// </summary>
internal sealed class ListenerHost<TSession>(IListenerOwner<TSession> owner) : IDisposable
    where TSession : class, IHostedSession
{
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<TSession, byte> _sessions = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perClient = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _connections;

    public bool IsStopping => _stopping.IsCancellationRequested;
    public int SessionCount => _sessions.Count;

    /// <summary>The endpoints actually bound (port 0 resolved), in configuration order.</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _listeners.Select(l => (IPEndPoint)l.LocalEndPoint!).ToList();

    /// <summary>Binds every endpoint, then accepts on all; throws SocketException when one fails (nothing stays bound then).</summary>
    public void Start(IReadOnlyList<ListenEndpoint> endpoints)
    {
        try
        {
            foreach (var endpoint in endpoints)
            {
                _listeners.Add(ListeningSocket.Bind(endpoint.EndPoint, backlog: 512));
                owner.Listening(_listeners[^1].LocalEndPoint!, endpoint.ImplicitTls);
            }
        }
        catch
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }
            _listeners.Clear();
            throw;
        }
        for (var i = 0; i < _listeners.Count; i++)
        {
            bool implicitTls = endpoints[i].ImplicitTls;
            _acceptLoops.Add(ListeningSocket.AcceptLoopAsync(_listeners[i], _stopping.Token, client => _ = RunConnectionAsync(client, implicitTls)));
        }
    }

    private async Task RunConnectionAsync(Socket socket, bool implicitTls)
    {
        IPAddress address;
        try
        {
            address = ((IPEndPoint)socket.RemoteEndPoint!).Address;
        }
        catch (SocketException)
        {
            socket.Dispose(); // reset before we looked at it
            return;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        var total = Interlocked.Increment(ref _connections);
        var fromClient = _perClient.AddOrUpdate(address, 1, static (_, n) => n + 1);
        try
        {
            socket.NoDelay = true;
            var session = owner.Admit(socket, address, implicitTls, total, fromClient);
            if (session is null)
            {
                await RefuseAsync(socket, implicitTls).ConfigureAwait(false);
                return;
            }
            _sessions.TryAdd(session, 0);
            try
            {
                await session.RunAsync().ConfigureAwait(false);
            }
            finally
            {
                _sessions.TryRemove(session, out _);
            }
        }
        finally
        {
            socket.Dispose();
            Interlocked.Decrement(ref _connections);
            if (_perClient.AddOrUpdate(address, 0, static (_, n) => n - 1) <= 0)
            {
                _perClient.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
            }
        }
    }

    private async Task RefuseAsync(Socket socket, bool implicitTls)
    {
        if (implicitTls)
        {
            return; // no TLS handshake for a connection we refuse; just close
        }
        try
        {
            await socket.SendAsync(owner.RefusalReply, SocketFlags.None).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>Stops accepting, lets sessions finish what they are doing within <paramref name="grace"/>, then aborts the rest.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        owner.Stopping(_sessions.Count);
        foreach (var session in _sessions.Keys)
        {
            session.RequestStop();
        }
        // Wall-clock grace, not the servers' TimeProvider: a test's fake clock must not stall shutdown.
        var waited = Stopwatch.StartNew();
        while (!_sessions.IsEmpty && waited.Elapsed < grace)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }
        foreach (var session in _sessions.Keys)
        {
            session.Abort();
        }
        for (var i = 0; i < 500 && !_sessions.IsEmpty; i++)
        {
            await Task.Delay(10).ConfigureAwait(false); // aborted sessions unwind as their reads fail
        }
    }

    public void Dispose() => _stopping.Dispose();
}
