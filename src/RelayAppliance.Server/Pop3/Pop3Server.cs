using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Listening;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// Accepts POP3 connections on every configured endpoint (plain with STLS, and implicit TLS), enforces the connection
/// limits (total and per client) and runs one <see cref="Pop3Session"/> per connection. Stop: close the listeners, let
/// sessions finish what they are doing (a QUIT commit in particular) within the grace period, then cut what is left.
/// </summary>
public sealed class Pop3Server : IAsyncDisposable, IListenerOwner<Pop3Session>
{
    private static readonly byte[] TooManyConnections = Pop3Replies.TooManyConnections.ToArray();
    private readonly ListenerHost<Pop3Session> _host;
    private volatile Pop3ServerOptions _options;

    public Pop3Server(Pop3ServerOptions options, UserStore users, IMailboxStore mailboxes, ILoggerFactory loggerFactory, TimeProvider time)
    {
        options.Validate();
        _options = options;
        _host = new ListenerHost<Pop3Session>(this);
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
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _host.BoundEndPoints;

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
    public int SessionCount => _host.SessionCount;

    /// <summary>Binds every endpoint; throws SocketException when one fails (nothing stays bound then).</summary>
    public void Start() => _host.Start(Options.Endpoints);

    Pop3Session? IListenerOwner<Pop3Session>.Admit(Socket socket, IPAddress client, bool implicitTls, int connections, int fromClient)
    {
        var options = _options;
        if (connections > options.MaxConnections || fromClient > options.MaxConnectionsPerClient)
        {
            Pop3Log.ConnectionRefused(Logger, client, connections > options.MaxConnections ? "too many connections" : "too many connections from this client");
            return null;
        }
        return new Pop3Session(this, socket, client, implicitTls);
    }

    ReadOnlyMemory<byte> IListenerOwner<Pop3Session>.RefusalReply => TooManyConnections;
    void IListenerOwner<Pop3Session>.Listening(EndPoint endPoint, bool implicitTls) => Pop3Log.Listening(Logger, endPoint, implicitTls);
    void IListenerOwner<Pop3Session>.Stopping(int openSessions) => Pop3Log.Stopping(Logger, openSessions);

    /// <summary>Stops accepting, lets sessions finish their current command (a QUIT commit) within the grace period, then aborts the rest.</summary>
    public Task StopAsync() => _host.StopAsync(Options.ShutdownGrace);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _host.Dispose();
    }
}
