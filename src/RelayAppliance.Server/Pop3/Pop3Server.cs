using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// Accepts POP3 connections on every configured endpoint (plain with STLS, and implicit TLS), enforces the connection
/// limits (total and per client) and runs one <see cref="Pop3Session"/> per connection. Stop: close the listeners, let
/// sessions finish what they are doing (a QUIT commit in particular) within the grace period, then cut what is left.
/// </summary>
public sealed class Pop3Server : IAsyncDisposable
{
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<Pop3Session, byte> _sessions = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perClient = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _connections;
    private volatile Pop3ServerOptions _options;

    public Pop3Server(Pop3ServerOptions options, UserStore users, IMailboxStore mailboxes, ILoggerFactory loggerFactory, TimeProvider time)
    {
        options.Validate();
        _options = options;
        Users = users;
        Mailboxes = mailboxes;
        Time = time;
        Logger = loggerFactory.CreateLogger("RelayAppliance.Pop3");
        Capabilities = new Pop3Capabilities();
        LoginThrottle = new LoginThrottle(options.MaxFailedLoginsPerClient, options.FailedLoginWindow, time);
    }

    /// <summary>The options new sessions start with; a session keeps the ones it was accepted with.</summary>
    internal Pop3ServerOptions Options => _options;
    internal UserStore Users { get; }
    internal IMailboxStore Mailboxes { get; }
    internal TimeProvider Time { get; }
    internal ILogger Logger { get; }
    internal Pop3Capabilities Capabilities { get; }
    internal LoginThrottle LoginThrottle { get; }

    /// <summary>The endpoints actually bound (port 0 resolved), in configuration order.</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _listeners.Select(l => (IPEndPoint)l.LocalEndPoint!).ToList();

    /// <summary>
    /// Configuration reload: sessions accepted from now on use these options (limits, timeouts, plaintext-auth policy,
    /// certificate); open sessions keep theirs and the listeners stay on their endpoints.
    /// </summary>
    public void Reconfigure(Pop3ServerOptions options)
    {
        options = options with { Endpoints = _options.Endpoints };
        options.Validate();
        _options = options;
    }

    /// <summary>Sessions open now.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Binds every endpoint; throws SocketException when one fails (nothing stays bound then).</summary>
    public void Start()
    {
        try
        {
            foreach (var endpoint in Options.Endpoints)
            {
                var socket = new Socket(endpoint.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    socket.Bind(endpoint.EndPoint);
                    socket.Listen(512);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                _listeners.Add(socket);
                Pop3Log.Listening(Logger, socket.LocalEndPoint!, endpoint.ImplicitTls);
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
            _acceptLoops.Add(AcceptLoopAsync(_listeners[i], Options.Endpoints[i].ImplicitTls));
        }
    }

    private async Task AcceptLoopAsync(Socket listener, bool implicitTls)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before accept completed
            }
            _ = RunConnectionAsync(client, implicitTls);
        }
    }

    private async Task RunConnectionAsync(Socket socket, bool implicitTls)
    {
        var options = _options;
        IPAddress address;
        try
        {
            address = ((IPEndPoint)socket.RemoteEndPoint!).Address;
        }
        catch (SocketException)
        {
            socket.Dispose();
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
            if (total > options.MaxConnections || fromClient > options.MaxConnectionsPerClient)
            {
                Pop3Log.ConnectionRefused(Logger, address, total > options.MaxConnections ? "too many connections" : "too many connections from this client");
                await RefuseAsync(socket, implicitTls).ConfigureAwait(false);
                return;
            }
            var session = new Pop3Session(this, socket, address, implicitTls);
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

    private static async Task RefuseAsync(Socket socket, bool implicitTls)
    {
        if (implicitTls)
        {
            return; // no TLS handshake for a connection we refuse; just close
        }
        try
        {
            await socket.SendAsync(Pop3Replies.TooManyConnections.ToArray(), SocketFlags.None).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>Stops accepting, lets sessions finish their current command within the grace period, then aborts the rest.</summary>
    public async Task StopAsync()
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
        Pop3Log.Stopping(Logger, _sessions.Count);
        foreach (var session in _sessions.Keys)
        {
            session.RequestStop();
        }
        // Wall-clock grace (not Time): a test's fake clock must not stall shutdown.
        var grace = System.Diagnostics.Stopwatch.StartNew();
        while (!_sessions.IsEmpty && grace.Elapsed < Options.ShutdownGrace)
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

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
