using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Listening;
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
public sealed class SmtpServer : IAsyncDisposable, IListenerOwner<SmtpSession>
{
    private readonly ListenerHost<SmtpSession> _host;
    private volatile SmtpServerSettings _settings;

    public SmtpServer(SmtpServerOptions options, RelayPolicy policy, UserStore users, MessageSpool spool, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _settings = new SmtpServerSettings(options, policy, null);
        _host = new ListenerHost<SmtpSession>(this);
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
    internal bool IsStopping => _host.IsStopping;

    /// <summary>The endpoints actually bound (port 0 resolved), in configuration order.</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints => _host.BoundEndPoints;

    /// <summary>Binds every endpoint; throws SocketException when one fails (nothing stays bound then).</summary>
    public void Start() => _host.Start(Options.Endpoints);

    SmtpSession? IListenerOwner<SmtpSession>.Admit(Socket socket, IPAddress client, bool implicitTls, int connections, int fromClient)
    {
        var settings = _settings;
        var options = settings.Options;
        // Like Postfix (smtpd_client_event_limit_exceptions = $mynetworks), trusted networks have no per-client limit.
        if (connections > options.MaxConnections || fromClient > options.MaxConnectionsPerClient && !settings.Policy.IsTrusted(client))
        {
            Log.ConnectionRefused(Logger, client, connections > options.MaxConnections ? "too many connections" : "too many connections from this client");
            return null;
        }
        return new SmtpSession(this, settings, socket, client, implicitTls);
    }

    ReadOnlyMemory<byte> IListenerOwner<SmtpSession>.RefusalReply => TooManyConnections;
    private static readonly byte[] TooManyConnections = SmtpReplies.TooManyConnections.ToArray();
    void IListenerOwner<SmtpSession>.Listening(EndPoint endPoint, bool implicitTls) => Log.Listening(Logger, endPoint, implicitTls);
    void IListenerOwner<SmtpSession>.Stopping(int openSessions) => Log.Stopping(Logger, openSessions);

    /// <summary>Stops accepting, lets open transactions finish within the grace period, then aborts the rest.</summary>
    public Task StopAsync() => _host.StopAsync(Options.ShutdownGrace);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _host.Dispose();
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
