using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Logging;
using RelayAppliance.Server.Policy;
using RelayAppliance.Spool;

namespace RelayAppliance.Server.Smtp;

/// <summary>
/// Accepts SMTP connections on every configured endpoint, enforces the connection limits (total and per client)
/// and runs one <see cref="SmtpSession"/> per connection. Stop: close the listeners, let sessions finish their
/// transaction within the grace period, then cut what is left. What a reload may change (limits, policy, certificate)
/// is one immutable <see cref="SmtpServerSettings"/> swapped by <see cref="Reconfigure"/>; each session reads it once,
/// when it is accepted, and keeps it to the end (as Postfix's smtpd processes keep the configuration they started with).
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<SmtpSession, byte> _sessions = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perClient = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _connections;
    private volatile SmtpServerSettings _settings;

    public SmtpServer(SmtpServerOptions options, RelayPolicy policy, UserStore users, MessageSpool spool, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _settings = new SmtpServerSettings(options, policy, null);
        Users = users;
        Spool = spool;
        Time = time;
        Logger = loggerFactory.CreateLogger("RelayAppliance.Smtp");
    }

    /// <summary>The settings new sessions start with.</summary>
    internal SmtpServerSettings Settings => _settings;
    internal SmtpServerOptions Options => _settings.Options;
    internal RelayPolicy Policy => _settings.Policy;
    internal UserStore Users { get; }

    /// <summary>When set, local recipients must have a mailbox (550 5.1.1 at RCPT otherwise) within quota.</summary>
    public MailboxDirectory? Mailboxes
    {
        get => _settings.Mailboxes;
        init => _settings = new SmtpServerSettings(_settings.Options, _settings.Policy, value);
    }
    internal MessageSpool Spool { get; }
    internal TimeProvider Time { get; }
    internal ILogger Logger { get; }
    internal HostReplies Replies => _settings.Replies;

    /// <summary>
    /// Configuration reload: sessions accepted from now on use these options and this policy; open sessions keep theirs.
    /// The listeners stay as they are (their endpoints are taken from the running options).
    /// </summary>
    public void Reconfigure(SmtpServerOptions options, RelayPolicy policy)
    {
        var current = _settings;
        _settings = new SmtpServerSettings(options with { Endpoints = current.Options.Endpoints }, policy, current.Mailboxes);
    }
    internal bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>The endpoints actually bound (port 0 resolved), in configuration order.</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _listeners.Select(l => (IPEndPoint)l.LocalEndPoint!).ToList();

    /// <summary>Binds every endpoint; throws SocketException naming nothing bound when one fails.</summary>
    public void Start()
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
            Log.Listening(Logger, socket.LocalEndPoint!, endpoint.ImplicitTls);
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
        var settings = _settings;
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
            // Like Postfix (smtpd_client_event_limit_exceptions = $mynetworks), trusted networks have no per-client limit.
            var options = settings.Options;
            if (total > options.MaxConnections || fromClient > options.MaxConnectionsPerClient && !settings.Policy.IsTrusted(address))
            {
                Log.ConnectionRefused(Logger, address, total > options.MaxConnections ? "too many connections" : "too many connections from this client");
                await RefuseAsync(socket, implicitTls).ConfigureAwait(false);
                return;
            }
            var session = new SmtpSession(this, settings, socket, address, implicitTls);
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
            await socket.SendAsync(SmtpReplies.TooManyConnections.ToArray(), SocketFlags.None).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>Stops accepting, lets open transactions finish within the grace period, then aborts the rest.</summary>
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
        Log.Stopping(Logger, _sessions.Count);
        foreach (var session in _sessions.Keys)
        {
            session.RequestStop();
        }
        var deadline = Time.GetUtcNow() + Options.ShutdownGrace;
        while (!_sessions.IsEmpty && Time.GetUtcNow() < deadline)
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

/// <summary>What a session runs with, fixed when it is accepted; replaced as a whole on reload.</summary>
internal sealed class SmtpServerSettings(SmtpServerOptions options, RelayPolicy policy, MailboxDirectory? mailboxes)
{
    public SmtpServerOptions Options { get; } = options;
    public RelayPolicy Policy { get; } = policy;
    public MailboxDirectory? Mailboxes { get; } = mailboxes;
    /// <summary>Greeting and EHLO, encoded once per settings (they carry the limits and whether STARTTLS is offered).</summary>
    public HostReplies Replies { get; } = new(options);
}
